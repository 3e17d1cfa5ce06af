"""The settings forms: the Profile section's forms (names, details, avatar).

The profile fields and their rules come from `mentorly/profile.py`, which the onboarding wizard
and `update_user_profile` use too; this module only composes them into the section's forms.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms.validators import StopValidation

from ..avatars import AVATAR_MAX_BYTES, AvatarBusy, PreparedAvatar, prepare_avatar
from ..profile import BIO, LOCATION, TIMEZONE, WEBSITE, app_owned_values
from ..profile_forms import ClerkNamesForm


# --- Avatars (the images themselves: mentorly/avatars.py) ------------------------------------


def avatar_rules(form: "AvatarForm", field: Any) -> None:
    upload = field.data
    data = upload.stream.read(AVATAR_MAX_BYTES + 1)
    try:
        form.prepared = prepare_avatar(data)
    except ValueError as exc:
        raise StopValidation(str(exc)) from None
    except AvatarBusy as exc:
        form.busy = True
        raise StopValidation(str(exc)) from None


# --- The forms ----------------------------------------------------------------------------------


class ProfileNamesForm(ClerkNamesForm):
    """First and last name and username: Clerk owns them, so a save goes to Clerk first."""


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
    busy = False  # refused unread: other avatars were being processed (try again shortly)


class RemoveAvatarForm(FlaskForm):
    """Only the CSRF token: removing the avatar needs no input."""
