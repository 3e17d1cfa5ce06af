"""Avatar uploads at the limits of what the app decodes, through the Profile form, on PostgreSQL,
with the Clerk emulator standing in for Clerk.

Over the pixel budget: refused at the Avatar field (422), never decoded, never sent to Clerk. The
largest accepted: decoded and scaled down to 1024 px a side before Clerk sees it. Busy: 503 with
Retry-After and the message at the field.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image, ImageDraw
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from mentorly import avatars

from .settings_support import HTMX, PROFILE, csrf_token, load_user, sign_in_clerk_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def clerk_app(make_app, emulator):
    return make_app(**emulator.app_config())


@pytest.fixture
def client(clerk_app):
    return clerk_app.test_client()


def upload(client, token: str, data: bytes, filename: str):
    boundary, body = encode_multipart({
        "csrf_token": token,
        "intent": "avatar",
        "avatar": FileStorage(io.BytesIO(data), filename, content_type="application/octet-stream"),
    })
    return client.post(PROFILE, data=body, content_type=f"multipart/form-data; boundary={boundary}", headers=HTMX)


def field_error(page: str) -> str | None:
    match = re.search(r'<small class="field-error" id="avatar-error">(.*?)</small>', page, re.S)
    return match.group(1) if match else None


def at_clerk(emulator, user_id: str) -> dict:
    response = emulator.api("GET", f"/users/{user_id}")
    assert response.status_code == 200
    return response.json()


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    output = io.BytesIO()
    image.save(output, image_format, **options)
    return output.getvalue()


@pytest.mark.parametrize("size", [(4097, 4096), (7000, 7000)], ids=["one-column-over", "7000x7000"])
def test_an_image_over_the_pixel_budget_is_refused_at_the_field(clerk_app, client, emulator, monkeypatch, size):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="huge_canvas")
    token = csrf_token(client)
    data = encoded(Image.new("RGBA", size, (0, 0, 0, 0)), "PNG")  # a small file, a huge canvas
    assert len(data) < 250_000

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(avatars, "_decode_small", no_decoding)
    response = upload(client, token, data, "huge.png")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True)) == (
        f"The image has too many pixels ({size[0]}×{size[1]}). An image like this one can have at most "
        "16.8 megapixels, such as 4096×4096."
    )
    assert at_clerk(emulator, user.clerk_id)["has_image"] is False
    assert load_user(clerk_app, user.clerk_id).image_url == user.image_url


def test_the_largest_accepted_png_reaches_clerk_scaled_down(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="largest_png")
    image = Image.new("RGBA", (4096, 4096), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((1024, 1024, 3071, 3071), fill=(30, 160, 90, 255))
    token = csrf_token(client)
    response = upload(client, token, encoded(image, "PNG"), "logo.png")
    assert response.status_code == 200, field_error(response.get_data(as_text=True))
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Avatar updated."
    clerk_user = at_clerk(emulator, user.clerk_id)
    assert load_user(clerk_app, user.clerk_id).image_url == clerk_user["image_url"]
    stored = emulator.http.get(clerk_user["image_url"], timeout=10)
    with Image.open(io.BytesIO(stored.content)) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (1024, 1024))
        assert result.getpixel((0, 0))[3] == 0
        assert result.getpixel((512, 512)) == (30, 160, 90, 255)


def test_a_50_megapixel_phone_photo_reaches_clerk_upright_and_scaled_down(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="phone_photo")
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held upright: the stored picture is on its side
    exif[0x010F] = "PhoneCam"
    photo = Image.new("RGB", (8160, 6120), (40, 120, 200))
    token = csrf_token(client)
    response = upload(client, token, encoded(photo, "JPEG", exif=exif.tobytes(), quality=85), "IMG_0001.jpg")
    assert response.status_code == 200, field_error(response.get_data(as_text=True))
    stored = emulator.http.get(at_clerk(emulator, user.clerk_id)["image_url"], timeout=10).content
    assert b"PhoneCam" not in stored
    with Image.open(io.BytesIO(stored)) as result:
        assert (result.format, result.size) == ("JPEG", (768, 1024))


def test_an_upload_while_the_worker_is_busy_decoding_is_refused_with_retry_after(clerk_app, client, emulator,
                                                                                  monkeypatch):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="patient_uploader")
    token = csrf_token(client)
    monkeypatch.setattr(avatars, "AVATAR_WAIT_SECONDS", 0.05)
    with avatars._decode_lock:  # another upload is being decoded, for longer than we wait
        response = upload(client, token, encoded(Image.new("RGB", (64, 64)), "PNG"), "me.png")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert field_error(response.get_data(as_text=True)) == (
        "Many images are being processed right now. Please try again in a moment.")
    assert at_clerk(emulator, user.clerk_id)["has_image"] is False
    assert upload(client, token, encoded(Image.new("RGB", (64, 64)), "PNG"), "me.png").status_code == 200
