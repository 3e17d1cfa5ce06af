"""The form both blueprints use for what Clerk owns of a profile: first and last name and username.

Settings → Profile and the wizard's first step ask the same question; this is it, once. The
username field follows the Clerk instance's setting (required, optional or gone), and a username
another live user holds is refused at the field before Clerk is asked.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from .clerk.instance import username_mode
from .models import User
from .profile import FIRST_NAME, LAST_NAME, USERNAME, USERNAME_TAKEN, clerk_changes, fit_username_to_instance
from .users import is_username_taken


class ClerkNamesForm(FlaskForm):
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
