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
- Large blocks go back to the system as soon as they are freed
  (`_return_large_blocks_to_the_system`), not kept by the thread that used them.
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
# Transparent modes are averaged premultiplied (so that transparent pixels do not bleed their
# colour into the edges): a second copy of the image, in this mode.
PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}

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
        _check_cost(*webp_size, decode_cost_webp(webp_size))


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
    size = image.size
    if image.format == "WEBP":
        return decode_cost_webp(size)
    if image.format in ("JPEG", "MPO"):  # MPO: a JPEG with more pictures after the first
        return decode_cost_jpeg(image, data)
    return _shrink_cost(image.mode, size, _fit(size), "transparency" in image.info)


def decode_cost_webp(size: tuple[int, int]) -> int:
    """Pillow decodes WebP through libwebp's animation decoder, which keeps two canvases while
    the image lives, and hands the frame over as bytes before it becomes an image."""
    pixels = size[0] * size[1]
    return _shrink_cost("RGBA", size, _fit(size), True, held=pixels * 4) + pixels * 2 * 4


def decode_cost_jpeg(image: Image.Image, data: bytes) -> int:
    width, height = image.size
    scale = _jpeg_scale(width, height)
    decoded = (math.ceil(width / scale), math.ceil(height / scale))
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
    return _shrink_cost(image.mode, decoded, _fit(image.size), False, held=coefficients)


def _shrink_cost(mode: str, size: tuple[int, int], target: tuple[int, int], transparent: bool, held: int = 0) -> int:
    """The peak of `_decode_small` for an image decoded as `mode` at `size`, step by step: each
    step holds the image it reads and the one it makes. `held`: what the decoder holds besides."""
    pixels = size[0] * size[1]
    decoded = pixels * _mode_bytes(mode)
    if size == target:
        return decoded + held
    working_mode = _working_mode(mode, transparent)
    working = pixels * _mode_bytes(working_mode)
    peaks = [decoded + held]
    if working_mode != mode:  # a palette image becomes RGB(A)
        peaks.append(decoded + working)
    if working_mode in PREMULTIPLIED:  # and a copy with its colours premultiplied by alpha
        peaks.append(working * 2)
    factor = _reduce_factor(size, target, working_mode)
    source = (math.ceil(size[0] / factor), math.ceil(size[1] / factor))
    reduced = source[0] * source[1] * _mode_bytes(working_mode)
    if factor > 1:
        peaks.append(working + reduced)
    # Lanczos resizes across, then down: the intermediate is as wide as the target.
    peaks.append(reduced + target[0] * source[1] * _mode_bytes(working_mode))
    return max(peaks)


def _mode_bytes(mode: str) -> int:
    """Bytes Pillow keeps a pixel of `mode` in (RGB in four, as RGBX)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _working_mode(mode: str, transparent: bool) -> str:
    """The mode an image is resized in (a palette does not average; bilevel neither)."""
    if mode == "P":
        return "RGBA" if transparent else "RGB"
    return {"1": "L", "PA": "RGBA"}.get(mode, mode)


def _reduce_factor(size: tuple[int, int], target: tuple[int, int], mode: str) -> int:
    """How many times smaller `reduce` makes an image first (block averages, cheap), leaving
    Lanczos at least REDUCING_GAP times the target to work from."""
    if mode.startswith("I;16"):  # `reduce` has no 16-bit modes
        return 1
    return max(1, min(size[0] // int(target[0] * REDUCING_GAP), size[1] // int(target[1] * REDUCING_GAP)))


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


# --- One decode at a time, and the memory given back ---------------------------------------------

_decode_lock = threading.Lock()


@contextmanager
def _decoding() -> Iterator[None]:
    if not _decode_lock.acquire(timeout=AVATAR_WAIT_SECONDS):
        raise AvatarBusy("Many images are being processed right now. Please try again in a moment.")
    try:
        yield
    finally:
        _decode_lock.release()


def _return_large_blocks_to_the_system() -> None:
    """Have glibc map every allocation of 4 MB or more on its own, and unmap it when freed.

    By default glibc raises that threshold as large blocks are freed (up to 32 MB), and serves
    Pillow's image blocks (16 MB each) from the arena of the thread that asked; what is freed at
    the top of a thread's arena stays with the process. Measured under gunicorn: each worker kept
    30-40 MB after the avatars it decoded, and more while another thread decoded. `malloc_trim`
    after each decode does not help (it leaves the tops of threads' arenas alone). A fixed
    threshold does: the worker is back within a megabyte of where it started, and its peak is
    what `decode_cost` priced. Setting it also stops the dynamic adjustment, which is the point;
    what it costs is a system call per large allocation, negligible beside filling 4 MB. This
    applies to the whole process (mallopt has no other scope); other platforms need nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    M_MMAP_THRESHOLD = -3
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024)


_return_large_blocks_to_the_system()


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
        working_mode = _working_mode(image.mode, "transparency" in info)
        if working_mode != image.mode:
            replace(image.convert(working_mode))
            if working_mode == "RGBA":
                info.pop("transparency", None)  # now in the alpha channel
        premultiplied = PREMULTIPLIED.get(working_mode)
        if premultiplied:
            replace(image.convert(premultiplied))
        factor = _reduce_factor(image.size, target, working_mode)
        if factor > 1:
            replace(image.reduce(factor))
        replace(image.resize(target, Image.Resampling.LANCZOS))
        if premultiplied:
            replace(image.convert(working_mode))
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
