"""The wizard's forms. The about and profile steps are made of the profile's own fields
(`mentorly/profile.py`), so names, username, bio, website, location and time zone follow the
same rules here as in the settings.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..models import GOALS, INTERESTS, MAX_INTERESTS
from ..profile import BIO, LOCATION, TIMEZONE, WEBSITE, app_owned_values
from ..profile_forms import ClerkNamesForm


class AboutForm(ClerkNamesForm):
    """Step 1: first and last name and username (Clerk owns them)."""


class ProfileStepForm(FlaskForm):
    """Step 2: bio, location, time zone and website (Mentorly owns them), in the page's order."""

    bio = BIO.field()
    location = LOCATION.field()
    timezone = TIMEZONE.field()
    website = WEBSITE.field()

    def app_owned_values(self) -> dict[str, Any]:
        return app_owned_values(self.data)


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


MIN_INTERESTS = 1


def interest_count(form: Any, field: Any) -> None:
    if len(field.data or ()) < MIN_INTERESTS:
        raise ValidationError("Pick at least one interest.")
    if len(field.data) > MAX_INTERESTS:
        raise ValidationError(f"Pick at most {MAX_INTERESTS} interests.")


class GoalsForm(FlaskForm):
    """Step 3: what the person is here for, and what about."""

    goal = RadioField(
        "What brings you to Mentorly?",
        [InputRequired("Choose whether you want to learn, mentor or both.")],
        choices=[SelectChoice(value, label) for value, label in GOALS.items()],
    )
    interests = CheckboxListField(
        "Interests",
        [interest_count],
        choices=[SelectChoice(value, label) for value, label in INTERESTS.items()],
        description=f"Pick {MIN_INTERESTS} to {MAX_INTERESTS}: they shape the mentors and communities we suggest.",
    )

    def values(self) -> dict[str, Any]:
        """The answers for `save_onboarding_step` (which stores interests in the list's order)."""
        return {"goal": self.goal.data, "interests": list(self.interests.data or ())}


class FinishForm(FlaskForm):
    """Step 4: the review has nothing to enter; the form carries the CSRF token."""


def interest_labels(keys: list[str] | None) -> list[str]:
    """Labels in the list's order; a key no longer offered is left out."""
    chosen = set(keys or ())
    return [label for key, label in INTERESTS.items() if key in chosen]
