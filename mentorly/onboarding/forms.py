"""The wizard's forms. The about and profile steps reuse the profile's form classes, so the
rules for names, username, bio, website, location and time zone live only in `settings.forms`.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..settings.forms import ProfileDetailsForm, ProfileNamesForm

GOALS = {
    "learn": "Learn from a mentor",
    "mentor": "Mentor others",
    "both": "Both: learn and mentor",
}

# A fixed list: interests match people to mentors and communities, so free text would not match.
INTERESTS = {
    "software-engineering": "Software engineering",
    "data-science": "Data science & AI",
    "product-management": "Product management",
    "design": "Design & UX",
    "leadership": "Leadership & management",
    "entrepreneurship": "Entrepreneurship",
    "career-change": "Changing careers",
    "interviewing": "Interviews & job search",
    "marketing": "Marketing & growth",
    "public-speaking": "Public speaking",
}
MAX_INTERESTS = 5


class AboutForm(ProfileNamesForm):
    """Step 1: first and last name and username (Clerk owns them)."""


class ProfileStepForm(ProfileDetailsForm):
    """Step 2: bio, location, time zone and website (Mentorly owns them)."""


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def interest_count(form: Any, field: Any) -> None:
    if not field.data:
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
        description=f"Pick up to {MAX_INTERESTS}: they shape the mentors and communities we suggest.",
    )

    def values(self) -> dict[str, Any]:
        # Stored in the list's order, whatever order the browser sent them in.
        chosen = set(self.interests.data or ())
        return {"goal": self.goal.data, "interests": [key for key in INTERESTS if key in chosen]}


class FinishForm(FlaskForm):
    """Step 4: the review has nothing to enter; the form carries the CSRF token."""


def interest_labels(keys: list[str] | None) -> list[str]:
    """Labels in the list's order; a key no longer offered is left out."""
    chosen = set(keys or ())
    return [label for key, label in INTERESTS.items() if key in chosen]
