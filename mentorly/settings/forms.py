"""The settings forms: the Profile section's forms (names, details, avatar).

The profile fields and their rules come from `mentorly/profile.py`, which the onboarding wizard
and `update_user_profile` use too; this module only composes them into the section's forms.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from PIL import Image, ImageOps, UnidentifiedImageError
from wtforms.validators import StopValidation, ValidationError

from ..clerk.instance import username_mode
from ..models import User
from ..profile import (
    BIO,
    FIRST_NAME,
    LAST_NAME,
    LOCATION,
    TIMEZONE,
    USERNAME,
    USERNAME_TAKEN,
    WEBSITE,
    app_owned_values,
    clerk_changes,
    fit_username_to_instance,
)
from ..users import is_username_taken

AVATAR_MAX_BYTES = 10 * 1024 * 1024
AVATAR_MAX_SIDE = 1024
# Decoding is refused above this many pixels (a small file can claim a huge canvas).
AVATAR_MAX_PIXELS = 50_000_000
TOO_MANY_PIXELS = "The image has too many pixels; use one under 50 megapixels."


# --- Avatars ------------------------------------------------------------------------------------

AVATAR_FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}


@dataclass(frozen=True)
class PreparedAvatar:
    data: bytes
    filename: str
    content_type: str
    width: int
    height: int


def prepare_avatar(data: bytes) -> PreparedAvatar:
    """Check an upload by its content and re-encode it: metadata gone, at most 1024 px a side.

    Raises ValueError with a message for people. Animated GIF and WebP keep their first frame.
    """
    if len(data) > AVATAR_MAX_BYTES:
        raise ValueError("The image must be 10 MB or smaller.")
    if not data:
        raise ValueError("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(AVATAR_FORMATS)) as original:
                image_format = original.format
                if original.width * original.height > AVATAR_MAX_PIXELS:
                    raise ValueError(TOO_MANY_PIXELS)
                original.seek(0)
                original.load()
                image = ImageOps.exif_transpose(original)
    except UnidentifiedImageError:
        raise ValueError("Upload a PNG, JPEG, GIF or WebP image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(TOO_MANY_PIXELS) from None
    except (OSError, SyntaxError, EOFError):
        raise ValueError("The image could not be read; it may be damaged.") from None

    content_type, extension = AVATAR_FORMATS[image_format]
    if image.mode == "P" and max(image.size) > AVATAR_MAX_SIDE:
        image = image.convert("RGBA")  # palette images resize poorly
    image.thumbnail((AVATAR_MAX_SIDE, AVATAR_MAX_SIDE), Image.Resampling.LANCZOS)

    # Keep only what draws the picture: EXIF (GPS, camera), XMP and text chunks are dropped.
    kept = {key: image.info[key] for key in ("transparency", "icc_profile") if key in image.info}
    image.info = {}
    options: dict[str, Any] = {}
    if "icc_profile" in kept:
        options["icc_profile"] = kept["icc_profile"]
    if "transparency" in kept and image.mode in ("P", "L", "RGB"):
        options["transparency"] = kept["transparency"]
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        options.update(quality=90, optimize=True)
    elif image_format == "WEBP":
        options.update(quality=90)
    output = io.BytesIO()
    image.save(output, image_format, **options)
    return PreparedAvatar(output.getvalue(), f"avatar.{extension}", content_type, image.width, image.height)


def avatar_rules(form: "AvatarForm", field: Any) -> None:
    upload = field.data
    data = upload.stream.read(AVATAR_MAX_BYTES + 1)
    try:
        form.prepared = prepare_avatar(data)
    except ValueError as exc:
        raise StopValidation(str(exc)) from None


# --- The forms ----------------------------------------------------------------------------------


class ProfileNamesForm(FlaskForm):
    """First and last name and username: Clerk owns them, so a save goes to Clerk first."""

    first_name = FIRST_NAME.field()
    last_name = LAST_NAME.field()
    username = USERNAME.field()

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        """`user` is the person editing: their own username does not count as taken."""
        self.user = user
        super().__init__(*args, **kwargs)
        fit_username_to_instance(self, username_mode())

    def validate_username(self, field: Any) -> None:
        if is_username_taken(field.data, other_than=self.user):
            raise ValidationError(USERNAME_TAKEN)

    def clerk_changes(self, user: User) -> dict[str, str | None]:
        """The Clerk-owned values that differ from the row (None clears a name)."""
        return clerk_changes(self.data, user)


class ProfileDetailsForm(FlaskForm):
    """Bio, website, location and time zone: Mentorly owns them."""

    bio = BIO.field()
    website = WEBSITE.field()
    location = LOCATION.field()
    timezone = TIMEZONE.field()

    def app_owned_values(self) -> dict[str, Any]:
        """The cleaned values as stored (an empty text field is stored as NULL)."""
        return app_owned_values(self.data)


class ProfileForm(ProfileNamesForm, ProfileDetailsForm):
    """The whole Profile section."""


class AvatarForm(FlaskForm):
    avatar = FileField(
        "Avatar",
        [FileRequired("Choose an image to upload."), avatar_rules],
        description="PNG, JPEG, GIF or WebP, up to 10 MB. Large images are scaled down.",
        render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"},
    )
    prepared: PreparedAvatar | None = None


class RemoveAvatarForm(FlaskForm):
    """Only the CSRF token: removing the avatar needs no input."""
