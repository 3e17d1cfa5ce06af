"""Avatar images (mentorly/avatars.py): what is refused unread, what is decoded and how, and the
memory that takes: each decode within the budget its header was priced at, one at a time, and
given back afterwards.

The memory tests run in a fresh interpreter and read the process's own peak from /proc (Linux).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFile

from mentorly import avatars
from mentorly.avatars import (
    AVATAR_DECODE_BUDGET,
    AvatarBusy,
    check_header,
    prepare_avatar,
)

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    output = io.BytesIO()
    image.save(output, image_format, **options)
    return output.getvalue()


def transparent_png(width: int, height: int) -> bytes:
    """The worst case for its size: a small file, a whole canvas of RGBA to decode."""
    return encoded(Image.new("RGBA", (width, height), (0, 0, 0, 0)), "PNG")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any pixel data is decoded."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- What is refused, unread ----------------------------------------------------------------------


def test_the_largest_transparent_png_passes_and_one_pixel_more_is_refused_unread(no_decoding):
    assert check_header(transparent_png(4096, 4096)) == ("PNG", 4096, 4096)
    with pytest.raises(ValueError) as refused:
        prepare_avatar(transparent_png(4097, 4096))
    assert str(refused.value) == (
        "The image has too many pixels (4097×4096). An image like this one can have at most "
        "16.8 megapixels, such as 4096×4096."
    )


def test_the_issues_file_is_refused_unread(no_decoding):
    data = transparent_png(7000, 7000)  # 190 KB; decoded, 196 MB, and three copies before
    assert len(data) < 250_000
    with pytest.raises(ValueError, match=r"too many pixels \(7000×7000\).*16\.8 megapixels"):
        prepare_avatar(data)


def test_images_without_transparency_may_have_more_pixels(no_decoding):
    opaque = encoded(Image.new("RGB", (5000, 5000)), "PNG")  # 25 MP: 4 bytes a pixel, not 8
    assert check_header(opaque) == ("PNG", 5000, 5000)
    gray = encoded(Image.new("L", (7000, 7000)), "PNG")  # 49 MP, one byte a pixel
    assert check_header(gray) == ("PNG", 7000, 7000)
    palette = Image.new("P", (4097, 4096))  # becomes RGB to be resized, RGBA if it has transparency
    assert check_header(encoded(palette, "GIF")) == ("GIF", 4097, 4096)
    with pytest.raises(ValueError, match="16.8 megapixels"):
        check_header(encoded(palette, "GIF", transparency=0))


def test_a_webp_is_priced_from_its_header_before_pillow_allocates_its_canvas(monkeypatch):
    data = encoded(Image.new("RGBA", (2897, 2897)), "WEBP", lossless=True)
    assert len(data) < 10_000

    def never(*args, **kwargs):
        raise AssertionError("opened")

    monkeypatch.setattr(Image, "open", never)
    with pytest.raises(ValueError, match=r"\(2897×2897\).*8\.4 megapixels, such as 2896×2896"):
        prepare_avatar(data)
    monkeypatch.undo()
    for options in ({"lossless": True}, {"quality": 80}):  # VP8L and VP8 headers
        assert check_header(encoded(Image.new("RGB", (2896, 2896)), "WEBP", **options)) == ("WEBP", 2896, 2896)
    animated = encoded(Image.new("RGBA", (2896, 2000)), "WEBP", save_all=True,  # a VP8X header
                       append_images=[Image.new("RGBA", (2896, 2000), (255, 0, 0, 255))])
    assert check_header(animated) == ("WEBP", 2896, 2000)


def test_a_50_megapixel_phone_photo_passes_and_more_is_refused(no_decoding):
    photo = Image.new("RGB", (8160, 6120), (40, 120, 200))
    assert check_header(encoded(photo, "JPEG")) == ("JPEG", 8160, 6120)  # decoded at a quarter
    with pytest.raises(ValueError, match=r"\(8200×6120\).*at most 50\.0 megapixels"):
        check_header(encoded(Image.new("RGB", (8200, 6120)), "JPEG"))


def test_a_progressive_jpeg_is_priced_with_its_coefficients(no_decoding):
    photo = Image.new("RGB", (8160, 6120), (40, 120, 200))
    with pytest.raises(ValueError, match=r"too many pixels \(8160×6120\)"):
        check_header(encoded(photo, "JPEG", progressive=True, subsampling=0))
    smaller = Image.new("RGB", (4000, 3000))
    assert check_header(encoded(smaller, "JPEG", progressive=True)) == ("JPEG", 4000, 3000)


def test_a_webp_that_lies_about_its_header_is_damaged():
    data = bytearray(encoded(Image.new("RGB", (64, 64)), "WEBP", lossless=True))
    data[12:16] = b"VP8Z"
    with pytest.raises(ValueError, match="damaged"):
        prepare_avatar(bytes(data))


def test_a_truncated_image_is_damaged_and_does_not_keep_the_lock():
    data = encoded(Image.new("RGB", (2000, 2000), (1, 2, 3)), "PNG", compress_level=0)
    with pytest.raises(ValueError, match="damaged"):
        prepare_avatar(data[: len(data) // 2])
    assert not avatars._decode_lock.locked()


# --- What is decoded, and how ----------------------------------------------------------------------


def test_the_largest_transparent_png_is_scaled_down_without_dark_edges():
    image = Image.new("RGBA", (4096, 4096), (0, 0, 0, 0))  # transparent black around
    ImageDraw.Draw(image).ellipse((512, 512, 3583, 3583), fill=(255, 0, 0, 255))
    prepared = prepare_avatar(encoded(image, "PNG"))
    assert (prepared.width, prepared.height, prepared.content_type) == (1024, 1024, "image/png")
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.mode == "RGBA"
        assert result.getpixel((0, 0))[3] == 0 and result.getpixel((512, 512)) == (255, 0, 0, 255)
        # Averaged premultiplied, an edge pixel is red at partial opacity, never darkened red.
        raw = result.tobytes()
        edge = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4) if 0 < raw[i + 3] < 255]
        assert edge and all(r >= 250 and g <= 5 and b <= 5 for r, g, b, _ in edge)


def test_a_48_megapixel_photo_is_decoded_small_and_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    photo = Image.new("RGB", (8000, 6000), (40, 120, 200))
    ImageDraw.Draw(photo).rectangle((0, 0, 999, 5999), fill=(250, 250, 0))  # a yellow band on the left
    prepared = prepare_avatar(encoded(photo, "JPEG", exif=exif.tobytes(), quality=85))
    assert (prepared.width, prepared.height) == (768, 1024)
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.format == "JPEG" and not result.getexif()
        red, green, blue = result.getpixel((384, 40))  # the left band is now at the top
        assert red > 200 and green > 200 and blue < 60


def test_a_multi_picture_jpeg_is_a_jpeg():
    first = Image.new("RGB", (2000, 1500), (200, 30, 30))
    data = encoded(first, "MPO", save_all=True, append_images=[Image.new("RGB", (2000, 1500))])
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "MPO"
    prepared = prepare_avatar(data)
    assert (prepared.content_type, prepared.filename, prepared.width, prepared.height) == (
        "image/jpeg", "avatar.jpg", 1024, 768)
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.format == "JPEG" and result.getpixel((500, 400))[0] > 180


@pytest.mark.parametrize(
    "mode, image_format",
    [("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("I;16", "PNG"), ("P", "GIF"), ("CMYK", "JPEG"), ("L", "JPEG")],
)
def test_other_modes_are_scaled_down_in_their_format(mode, image_format):
    prepared = prepare_avatar(encoded(Image.new(mode, (3000, 2100)), image_format))
    assert (prepared.width, prepared.height) == (1024, 717)
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.format == image_format


# --- One at a time -------------------------------------------------------------------------------------


def test_a_process_decodes_one_avatar_at_a_time(monkeypatch):
    decode = avatars._decode_small
    inside = []
    most = []

    def counting(original):
        inside.append(1)
        most.append(len(inside))
        time.sleep(0.05)
        try:
            return decode(original)
        finally:
            inside.pop()

    monkeypatch.setattr(avatars, "_decode_small", counting)
    data = encoded(Image.new("RGB", (1500, 1500)), "PNG")
    results = []
    threads = [threading.Thread(target=lambda: results.append(prepare_avatar(data))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4 and max(most) == 1


def test_an_upload_waits_a_bounded_time_then_is_refused_as_busy(monkeypatch):
    monkeypatch.setattr(avatars, "AVATAR_WAIT_SECONDS", 0.1)
    data = encoded(Image.new("RGB", (64, 64)), "PNG")
    with avatars._decode_lock:
        started = time.monotonic()
        with pytest.raises(AvatarBusy, match="try again"):
            prepare_avatar(data)
        assert time.monotonic() - started < 2
    assert prepare_avatar(data).width == 64


# --- Memory: what the header priced bounds what decoding holds, and it is given back ----------------

MEMORY_PROBE = textwrap.dedent(
    """
    import io, json, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from PIL import Image
    from mentorly import avatars

    def status(name):
        for line in open("/proc/self/status"):
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024

    def encoded(image, image_format, **options):
        output = io.BytesIO()
        image.save(output, image_format, **options)
        return output.getvalue()

    cases = {
        "png-rgba": encoded(Image.new("RGBA", (4096, 4096)), "PNG"),
        "png-rgb": encoded(Image.new("RGB", (5180, 5180)), "PNG"),
        "gif": encoded(Image.new("P", (4096, 4096)), "GIF", transparency=0),
        "webp": encoded(Image.new("RGBA", (2896, 2896)), "WEBP", lossless=True),
        "jpeg-phone": encoded(Image.new("RGB", (8160, 6120), (9, 99, 199)), "JPEG"),
        "jpeg-progressive": encoded(Image.new("RGB", (6600, 4950), (9, 99, 199)), "JPEG", progressive=True),
    }
    small = encoded(Image.new("RGB", (64, 64)), "PNG")
    pool = ThreadPoolExecutor(4)  # as a gunicorn worker's threads
    list(pool.map(avatars.prepare_avatar, [small] * 8))
    result = {"start": status("VmRSS"), "cases": {}}
    for name, data in cases.items():
        with avatars._open(data) as image:
            cost = avatars.decode_cost(image, data)
        open("/proc/self/clear_refs", "w").write("5")  # the peak, from here
        before = status("VmRSS")
        prepared = avatars.prepare_avatar(data)
        held = status("VmHWM") - before
        result["cases"][name] = {"cost": cost, "held": held, "size": [prepared.width, prepared.height]}
    list(pool.map(avatars.prepare_avatar, [cases["png-rgba"]] * 8))
    result["after"] = status("VmRSS")
    print(json.dumps(result))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to read peak memory")
def test_decoding_holds_no_more_than_its_price_and_gives_it_back():
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    for name, case in result["cases"].items():
        assert case["cost"] <= AVATAR_DECODE_BUDGET, name
        # The price is an upper bound, give or take what a resize adds (a few MB).
        assert case["held"] <= case["cost"] + 8 * MB, (name, case["held"] / MB, case["cost"] / MB)
        assert max(case["size"]) == 1024, name
    # Eight more of the largest PNG, on four threads: the worker ends where it started.
    assert result["after"] - result["start"] <= 16 * MB, (result["start"] / MB, result["after"] / MB)
