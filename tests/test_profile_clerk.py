"""Profile saves that go to Clerk, over HTTP to the Clerk emulator, on PostgreSQL.

Clerk-owned fields (names, username, avatar) are written to Clerk first and stored from Clerk's
answer; Clerk's refusals reach the field; Clerk being down changes nothing here.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from mentorly.settings.forms import AVATAR_MAX_BYTES

from .settings_support import HTMX, PROFILE, csrf_token, image_bytes, load_user, profile_data, sign_in_clerk_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def clerk_app(make_app, emulator):
    return make_app(**emulator.app_config())


@pytest.fixture
def client(clerk_app):
    return clerk_app.test_client()


def clerk_user(emulator, user_id):
    response = emulator.api("GET", f"/users/{user_id}")
    assert response.status_code == 200
    return response.json()


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<small class="field-error" id="{field}-error">(.*?)</small>', page, re.S)
    return match.group(1) if match else None


def test_names_and_username_go_to_clerk_first_and_are_stored_from_its_answer(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="grace_h", first_name="Grace", last_name="H")
    token = csrf_token(client)
    response = client.post(
        PROFILE,
        data=profile_data(user, token, first_name="Grace", last_name="Hopper", username="Admiral_Grace", bio="COBOL"),
        headers=HTMX,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Profile saved."

    at_clerk = clerk_user(emulator, user.clerk_id)
    assert (at_clerk["first_name"], at_clerk["last_name"], at_clerk["username"]) == ("Grace", "Hopper", "admiral_grace")
    saved = load_user(clerk_app, user.clerk_id)
    assert (saved.last_name, saved.username, saved.bio) == ("Hopper", "admiral_grace", "COBOL")
    assert saved.clerk_updated_at == at_clerk["updated_at"] > user.clerk_updated_at


def test_clearing_a_name_clears_it_at_clerk(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="no_last", first_name="Only", last_name="Once")
    token = csrf_token(client)
    assert client.post(PROFILE, data=profile_data(user, token, last_name="")).status_code == 303
    assert clerk_user(emulator, user.clerk_id)["last_name"] is None
    assert load_user(clerk_app, user.clerk_id).last_name is None


@pytest.mark.parametrize("wanted", ["taken_at_clerk", "TAKEN_AT_CLERK", "Taken_At_Clerk"])
def test_a_username_taken_in_clerk_is_shown_at_the_field(clerk_app, client, emulator, wanted):
    emulator.create_user(username="taken_at_clerk")  # exists in Clerk, not (yet) here
    user = sign_in_clerk_user(clerk_app, client, emulator, username="hopeful")
    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, username=wanted, bio="not saved"), headers=HTMX)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "username") == "That username is taken. Please try another."
    assert f'value="{wanted.lower()}"' in page  # the input is kept (as it will be saved: lowercase)
    assert clerk_user(emulator, user.clerk_id)["username"] == "hopeful"
    saved = load_user(clerk_app, user.clerk_id)
    assert (saved.username, saved.bio) == ("hopeful", None)  # nothing changed here either


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "error", "status": 500},
        {"mode": "error", "status": 503},
        {"mode": "rate_limit", "retry_after": 60},
        {"mode": "timeout", "delay": 0.2},
    ],
    ids=["500", "503", "rate-limited", "gateway-timeout"],
)
def test_clerk_down_is_a_message_in_the_form_and_nothing_changes(clerk_app, client, emulator, fault):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="steady_user", first_name="Steady")
    token = csrf_token(client)
    emulator.fault(count=5, path="/v1/users", **fault)
    response = client.post(
        PROFILE, data=profile_data(user, token, first_name="Changed", bio="also new"), headers=HTMX
    )
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    alert = re.search(r'<div class="form-alert" role="alert">(.*?)</div>', page, re.S)
    assert alert and "Your profile was not saved." in alert.group(1)
    assert 'value="Changed"' in page
    emulator.clear_faults()
    assert clerk_user(emulator, user.clerk_id)["first_name"] == "Steady"
    saved = load_user(clerk_app, user.clerk_id)
    assert (saved.first_name, saved.bio) == ("Steady", None)


def test_app_owned_changes_alone_never_call_clerk(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="local_only")
    token = csrf_token(client)
    emulator.fault("error", count=5, status=500, path="/v1/users")
    response = client.post(PROFILE, data=profile_data(user, token, bio="only mine", timezone="Asia/Tokyo"))
    assert response.status_code == 303
    assert load_user(clerk_app, user.clerk_id).timezone == "Asia/Tokyo"


# --- Avatar ---------------------------------------------------------------------------------------


def upload(client, token, data: bytes, filename: str, content_type: str, headers=HTMX):
    # Encoded in memory: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(
        {"csrf_token": token, "intent": "avatar", "avatar": FileStorage(io.BytesIO(data), filename, content_type=content_type)}
    )
    return client.post(
        PROFILE, data=body, content_type=f"multipart/form-data; boundary={boundary}", headers=headers
    )


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_real_images_are_uploaded_to_clerk(clerk_app, client, emulator, image_format):
    user = sign_in_clerk_user(clerk_app, client, emulator, username=f"pic_{image_format.lower()}")
    assert clerk_user(emulator, user.clerk_id)["has_image"] is False
    token = csrf_token(client)
    response = upload(client, token, image_bytes(image_format), f"me.{image_format.lower()}", "application/octet-stream")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Avatar updated."
    at_clerk = clerk_user(emulator, user.clerk_id)
    assert at_clerk["has_image"] is True
    saved = load_user(clerk_app, user.clerk_id)
    assert saved.image_url == at_clerk["image_url"] != user.image_url
    assert saved.has_image is True and user.has_image is False
    assert f'src="{saved.image_url}"' in response.get_data(as_text=True)
    assert "Remove avatar" in response.get_data(as_text=True)

    # What Clerk received is the cleaned image, in the same format.
    stored = emulator.http.get(at_clerk["image_url"], timeout=10)
    assert stored.status_code == 200
    with Image.open(io.BytesIO(stored.content)) as image:
        assert image.format == image_format


def test_a_large_photo_reaches_clerk_scaled_down_and_without_exif(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="big_photo")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    photo = io.BytesIO()
    Image.new("RGB", (2400, 1800), (30, 90, 160)).save(photo, "JPEG", exif=exif.tobytes())
    token = csrf_token(client)
    assert upload(client, token, photo.getvalue(), "holiday.jpg", "image/jpeg", headers={}).status_code == 303
    stored = emulator.http.get(clerk_user(emulator, user.clerk_id)["image_url"], timeout=10).content
    assert b"SpyCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (1024, 768)


@pytest.mark.parametrize(
    "data, filename, message",
    [
        (b"definitely not a picture\n" * 40, "fake.png", "Upload a PNG, JPEG, GIF or WebP image."),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (AVATAR_MAX_BYTES + 1 - 8), "huge.png", "The image must be 10 MB or smaller."),
    ],
    ids=["text-named-png", "10MB-plus-one-byte"],
)
def test_bad_uploads_are_refused_at_the_field_and_never_reach_clerk(clerk_app, client, emulator, data, filename,
                                                                     message):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="careful_uploader")
    token = csrf_token(client)
    response = upload(client, token, data, filename, "image/png")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "avatar") == message
    assert clerk_user(emulator, user.clerk_id)["has_image"] is False


def test_removing_the_avatar(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="camera_shy")
    token = csrf_token(client)
    assert upload(client, token, image_bytes("PNG"), "me.png", "image/png").status_code == 200
    response = client.post(PROFILE, data={"csrf_token": token, "intent": "remove_avatar"}, headers=HTMX)
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Avatar removed."
    at_clerk = clerk_user(emulator, user.clerk_id)
    assert at_clerk["has_image"] is False
    saved = load_user(clerk_app, user.clerk_id)
    assert saved.image_url == at_clerk["image_url"] and saved.has_image is False
    # Clerk's generated picture is still an image_url, but there is nothing left to remove.
    assert "Remove avatar" not in response.get_data(as_text=True)


def test_avatar_upload_while_clerk_is_down(clerk_app, client, emulator):
    user = sign_in_clerk_user(clerk_app, client, emulator, username="patient_one")
    token = csrf_token(client)
    emulator.fault("error", count=5, status=502, path="/v1/users")
    response = upload(client, token, image_bytes("PNG"), "me.png", "image/png")
    assert response.status_code == 503
    assert "Your avatar was not changed." in response.get_data(as_text=True)
    emulator.clear_faults()
    assert clerk_user(emulator, user.clerk_id)["has_image"] is False
    assert load_user(clerk_app, user.clerk_id).image_url == user.image_url
