"""The settings forms: the Profile section's forms (names, details, avatar).

The profile fields and their rules come from `mentorly/profile.py`, which the onboarding wizard
and `update_user_profile` use too; this module only composes them into the section's forms.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms.validators import StopValidation, ValidationError

from ..avatars import AVATAR_MAX_BYTES, AvatarBusy, PreparedAvatar, prepare_avatar
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
    busy = False  # refused unread: other avatars were being processed (try again shortly)


class RemoveAvatarForm(FlaskForm):
    """Only the CSRF token: removing the avatar needs no input."""
