"""Avatar images: checked by their content, decoded within a memory budget, re-encoded small.

`prepare_avatar(data)` takes the bytes of an upload and returns a `PreparedAvatar` (PNG, JPEG, GIF
or WebP as uploaded, at most 1024 px a side, upright, metadata gone) or raises ValueError with a
message for people.

A small file can describe a huge canvas: a 190 KB PNG of 7000x7000 pixels decodes to 196 MB, and
a 2 KB WebP of the same size to four times that. So memory is bounded by what decoding costs,
not by the file's size:

- Before any pixel is decoded, the image's header is priced (`decode_cost`): the most memory its
  decoding and downscaling can hold at once, by format and by what the header says. Above
  AVATAR_DECODE_BUDGET the upload is refused at the field, with the size that would fit. JPEG,
  what phone cameras write, is decoded at a reduced scale (libjpeg's DCT scaling, `draft`), so a
  48-megapixel photo costs about what a 12-megapixel one does; PNG, GIF and WebP are decoded
  whole, so they can have fewer pixels (16.8 megapixels for a PNG with transparency, 4096x4096).
  AVATAR_MAX_PIXELS bounds the time any image takes, whatever its cost in memory.
- A process decodes one avatar at a time (`_decoding`): gunicorn's threads would otherwise each
  hold a decoded image at once. Waiting for the lock is bounded; past it the upload is refused
  as busy (AvatarBusy), to try again shortly.
- After each decode the freed memory goes back to the system (`_give_memory_back`).
"""

from __future__ import annotations

import ctypes
import io
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from PIL import ExifTags, Image, UnidentifiedImageError

AVATAR_MAX_BYTES = 10 * 1024 * 1024
AVATAR_MAX_SIDE = 1024
# What one decode may hold at its peak. A gunicorn worker idles at about 110 MB; this leaves
# room under 400 MB for the worker's other threads while an avatar is decoded.
AVATAR_DECODE_BUDGET = 128 * 1024 * 1024
# Whatever it costs in memory, an image with more pixels than this is refused: a 50-megapixel
# phone photo passes (8160x6120), and the time a decode takes stays bounded.
AVATAR_MAX_PIXELS = 50_000_000
# How long an upload waits while another is being decoded in the same process.
AVATAR_WAIT_SECONDS = 20.0

AVATAR_FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}

# Resizing averages whole blocks first (`reduce`), down to this many times the target, and
# lets Lanczos do the rest: as good as Lanczos alone, much faster from a large image.
REDUCING_GAP = 2.0
# Pillow keeps a pixel in at most 4 bytes (RGB as RGBX).
PIXEL_BYTES = 4
# Bytes per pixel at the peak of decoding and shrinking a whole image, by its mode: the image,
# plus a premultiplied copy where there is transparency (a palette may have a transparent entry:
# it becomes RGBA, then RGBa), or the first, smaller, reduction (a quarter at most).
FULL_DECODE_BYTES = {"1": 2, "L": 2, "I;16": 3, "I;16B": 3, "P": 8, "PA": 8, "LA": 8, "RGBA": 8}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


DAMAGED = "The image could not be read; it may be damaged."


class AvatarBusy(Exception):
    """Other avatars are being processed; the upload was not looked at. Try again shortly."""


@dataclass(frozen=True)
class PreparedAvatar:
    data: bytes
    filename: str
    content_type: str
    width: int
    height: int


def too_many_pixels(width: int, height: int, max_pixels: int) -> str:
    side = math.isqrt(max_pixels)
    return (
        f"The image has too many pixels ({width}×{height}). An image like this one can have at most "
        f"{max_pixels / 1e6:.1f} megapixels, such as {side}×{side}."
    )


def prepare_avatar(data: bytes) -> PreparedAvatar:
    """Check an upload by its content and re-encode it: metadata gone, at most 1024 px a side.

    Raises ValueError with a message for people, or AvatarBusy. Animated GIF and WebP keep
    their first frame.
    """
    _check_file(data)
    with _decoding():
        image = None
        with _open(data) as original:
            try:
                image = _decode_small(original)
            except (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError):
                pass  # raised below, once the failed decode's images are freed (before the trim)
        if image is None:
            raise ValueError(DAMAGED)
        try:
            return _encode(image)
        finally:
            image.close()


def check_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an upload that `prepare_avatar` would decode; only its header
    is read. Raises ValueError, with the same messages, for one it would refuse unread."""
    _check_file(data)
    with _open(data) as image:
        return image.format, image.width, image.height


def _check_file(data: bytes) -> None:
    if len(data) > AVATAR_MAX_BYTES:
        raise ValueError("The image must be 10 MB or smaller.")
    if not data:
        raise ValueError("The file is empty.")
    # Opening a WebP allocates its whole canvas, so its size is read from the header first.
    webp_size = _webp_size(data)
    if webp_size is not None:
        _check_cost(*webp_size, decode_cost_webp(*webp_size))


def _open(data: bytes) -> Image.Image:
    """The image opened (its header read, nothing decoded) once its decoding is known to fit."""
    try:
        image = Image.open(io.BytesIO(data), formats=list(AVATAR_FORMATS))
    except UnidentifiedImageError:
        raise ValueError("Upload a PNG, JPEG, GIF or WebP image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("The image has too many pixels.") from None
    except (OSError, SyntaxError, EOFError, ValueError):
        raise ValueError(DAMAGED) from None
    try:
        _check_cost(*image.size, decode_cost(image, data))
    except ValueError:
        image.close()
        raise
    return image


# --- What a decode costs ---------------------------------------------------------------------------


def decode_cost(image: Image.Image, data: bytes) -> int:
    """The most bytes decoding and shrinking `image` (opened, not loaded) holds at once."""
    width, height = image.size
    if image.format == "WEBP":
        return decode_cost_webp(width, height)
    if image.format in ("JPEG", "MPO"):  # MPO: a JPEG with more pictures after the first
        return decode_cost_jpeg(image, data)
    # PNG and GIF are decoded whole.
    return width * height * FULL_DECODE_BYTES.get(image.mode, 5)


def decode_cost_webp(width: int, height: int) -> int:
    # Pillow decodes WebP through libwebp's animation decoder, which keeps two canvases, and
    # hands the frame over as bytes before it becomes an image: four copies at the peak.
    return width * height * PIXEL_BYTES * 4


def decode_cost_jpeg(image: Image.Image, data: bytes) -> int:
    width, height = image.size
    scale = _jpeg_scale(width, height)
    decoded = math.ceil(width / scale) * math.ceil(height / scale) * PIXEL_BYTES
    # A progressive JPEG (or one whose components come in separate scans) is decoded from a
    # buffer of all its DCT coefficients at full size: 128 bytes per 8x8 block per component.
    coefficients = 0
    layers = getattr(image, "layer", None) or []
    if layers and (image.info.get("progressive") or _jpeg_first_scan_components(data) != len(layers)):
        h_max = max(layer[1] for layer in layers) or 1
        v_max = max(layer[2] for layer in layers) or 1
        for _, h, v, _ in layers:
            blocks_wide = math.ceil(math.ceil(width * h / h_max) / 8)
            blocks_high = math.ceil(math.ceil(height * v / v_max) / 8)
            coefficients += blocks_wide * blocks_high * 128
    return decoded + coefficients


def _check_cost(width: int, height: int, cost: int) -> None:
    pixels = width * height
    if cost <= AVATAR_DECODE_BUDGET and pixels <= AVATAR_MAX_PIXELS:
        return
    # The largest image of the same kind (format, mode, sampling) that would be accepted.
    per_pixel = cost / pixels if pixels else 1
    allowed = min(AVATAR_MAX_PIXELS, int(AVATAR_DECODE_BUDGET / per_pixel))
    raise ValueError(too_many_pixels(width, height, allowed))


def _jpeg_scale(width: int, height: int) -> int:
    """1, 2, 4 or 8: how much smaller libjpeg decodes, still leaving Lanczos its margin."""
    wanted = int(AVATAR_MAX_SIDE * REDUCING_GAP)
    fits = min(width // wanted, height // wanted)
    return next((scale for scale in (8, 4, 2) if fits >= scale), 1)


def _jpeg_first_scan_components(data: bytes) -> int | None:
    """How many components the first scan (SOS) of a JPEG carries; None if it is not found."""
    index = 2
    while index + 4 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            index += 2
            continue
        if marker == 0xDA:
            return data[index + 4]
        index += 2 + int.from_bytes(data[index + 2 : index + 4], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas of a WebP file from its first chunk (VP8X, VP8 or VP8L); None if not WebP."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    if len(data) < 30:
        raise ValueError(DAMAGED)
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    raise ValueError(DAMAGED)  # Pillow would not know its size before allocating it either


# --- One decode at a time --------------------------------------------------------------------------

_decode_lock = threading.Lock()


@contextmanager
def _decoding() -> Iterator[None]:
    if not _decode_lock.acquire(timeout=AVATAR_WAIT_SECONDS):
        raise AvatarBusy("Many images are being processed right now. Please try again in a moment.")
    try:
        yield
    finally:
        _give_memory_back()
        _decode_lock.release()


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_malloc_trim = _load_malloc_trim()


def _give_memory_back() -> None:
    """Return the memory a decode freed to the system (glibc).

    glibc keeps freed memory in the arena of the thread that freed it, for that thread to reuse;
    a large image decoded once on each of a worker's threads would leave the worker holding
    several images' worth for good. `malloc_trim(0)` releases the free pages of every arena.
    It costs a few milliseconds, once per avatar.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


# --- Decoding and re-encoding ------------------------------------------------------------------


def _decode_small(original: Image.Image) -> Image.Image:
    """`original` (opened, not loaded) decoded, at most AVATAR_MAX_SIDE a side and upright.

    Each full-size image made on the way is closed as soon as the next one exists, so the peak
    is what `decode_cost` priced; `original` is closed too. The result keeps, in `info`, only
    what draws the picture (transparency, ICC profile), and its format as `format`.
    """
    # A multi-picture JPEG (MPO, from some cameras) is a JPEG whose first picture is the photo.
    image_format = "JPEG" if original.format == "MPO" else original.format
    target = _fit(original.size)
    if image_format == "JPEG":
        original.draft(None, (int(AVATAR_MAX_SIDE * REDUCING_GAP),) * 2)
    original.seek(0)
    original.load()
    orientation = original.getexif().get(ExifTags.Base.Orientation, 1)
    info = {key: original.info[key] for key in ("transparency", "icc_profile") if key in original.info}
    image = original

    def replace(new: Image.Image) -> None:
        nonlocal image
        image.close()
        image = new

    if image.size != target:
        if image.mode == "P":  # a palette image resizes poorly
            replace(image.convert("RGBA" if "transparency" in info else "RGB"))
            info.pop("transparency", None)
        elif image.mode in ("1", "PA"):
            replace(image.convert("L" if image.mode == "1" else "RGBA"))
        alpha_mode = image.mode
        premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(alpha_mode)
        if premultiplied:  # so that transparent pixels do not bleed their colour into the average
            replace(image.convert(premultiplied))
        factor = min(image.width // int(target[0] * REDUCING_GAP), image.height // int(target[1] * REDUCING_GAP))
        if factor > 1 and not image.mode.startswith("I;16"):  # `reduce` has no 16-bit modes
            replace(image.reduce(factor))
        replace(image.resize(target, Image.Resampling.LANCZOS))
        if premultiplied:
            replace(image.convert(alpha_mode))
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is not None:
        replace(image.transpose(method))
    if image is original:
        replace(original.copy())
    image.info = info
    image.format = image_format
    return image


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    """`size` scaled to fit AVATAR_MAX_SIDE on both sides, aspect kept (as `thumbnail` does)."""
    width, height = size
    if width <= AVATAR_MAX_SIDE and height <= AVATAR_MAX_SIDE:
        return size
    if width >= height:
        return AVATAR_MAX_SIDE, max(1, round(height * AVATAR_MAX_SIDE / width))
    return max(1, round(width * AVATAR_MAX_SIDE / height)), AVATAR_MAX_SIDE


def _encode(image: Image.Image) -> PreparedAvatar:
    # Only what draws the picture is left in `info`: EXIF (GPS, camera), XMP and text are gone.
    image_format = image.format
    options: dict[str, Any] = {}
    if "icc_profile" in image.info:
        options["icc_profile"] = image.info["icc_profile"]
    if "transparency" in image.info and image.mode in ("P", "L", "RGB"):
        options["transparency"] = image.info["transparency"]
    image.info = {}
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        options.update(quality=90, optimize=True)
    elif image_format == "WEBP":
        options.update(quality=90)
    output = io.BytesIO()
    image.save(output, image_format, **options)
    content_type, extension = AVATAR_FORMATS[image_format]
    return PreparedAvatar(output.getvalue(), f"avatar.{extension}", content_type, image.width, image.height)
