"""The wizard's steps and what completing each one stores.

`User.onboarding_step` counts the completed steps, so the first unfinished step is always
`STEPS[onboarding_step]`: a reload, a new sign-in or another device resumes there, and a step
can be opened only once every step before it is done.

Clerk owns names and username: they are sent to Clerk first, and the row is then written from
Clerk's answer through `sync_user_to_db`, the one path from a Clerk user to a row. Nothing is
stored locally when Clerk refuses or cannot be reached. Everything else a step stores goes
through `save_onboarding_step` (mentorly/users.py): this module never writes the row itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clerk.client import clerk_client
from ..models import User
from ..users import mark_user_as_onboarded, save_onboarding_step, sync_user_to_db
from .forms import AboutForm, GoalsForm, ProfileStepForm


@dataclass(frozen=True)
class Step:
    slug: str
    number: int  # 1-based: completing it sets onboarding_step to at least this
    title: str
    template: str


STEPS = (
    Step("about", 1, "About you", "onboarding/about.html"),
    Step("profile", 2, "Your profile", "onboarding/profile.html"),
    Step("goals", 3, "Your goals", "onboarding/goals.html"),
    Step("review", 4, "Review and finish", "onboarding/review.html"),
)
BY_SLUG = {step.slug: step for step in STEPS}

# Set in the session by the last step; the dashboard shows its welcome once and clears it.
WELCOME_KEY = "onboarding_welcome"


class UserGone(Exception):
    """Clerk answered for a user that has since been deleted here (a tombstone never returns)."""


def step_named(slug: str) -> Step | None:
    return BY_SLUG.get(slug)


def completed_steps(user: User) -> int:
    return max(0, min(user.onboarding_step or 0, len(STEPS)))


def first_unfinished(user: User) -> Step:
    return STEPS[min(completed_steps(user), len(STEPS) - 1)]


def can_open(user: User, step: Step) -> bool:
    """A step is open once every step before it is completed (earlier ones stay open for back)."""
    return step.number - 1 <= completed_steps(user)


def previous_step(step: Step) -> Step | None:
    return STEPS[step.number - 2] if step.number > 1 else None


def next_step(step: Step) -> Step | None:
    return STEPS[step.number] if step.number < len(STEPS) else None


def save_about(user: User, form: AboutForm) -> User:
    """Names and username to Clerk (only what changed), then the row from Clerk's answer.

    Raises ClerkAPIError (Clerk's verdict, by field) or ClerkUnavailable; either way nothing
    local has changed.
    """
    changes = form.clerk_changes(user)
    if changes:
        stored = sync_user_to_db(clerk_client().update_user(user.clerk_id, **changes))
        if stored is None:
            raise UserGone(user.clerk_id)
    return save_onboarding_step(user.clerk_id, BY_SLUG["about"].number)


def save_profile(user: User, form: ProfileStepForm) -> User:
    """Bio, location, time zone and website, and the step, in one commit."""
    return save_onboarding_step(user.clerk_id, BY_SLUG["profile"].number, **form.app_owned_values())


def save_goals(user: User, form: GoalsForm) -> User:
    return save_onboarding_step(user.clerk_id, BY_SLUG["goals"].number, **form.values())


def finish(user: User) -> User:
    """Tell Clerk first (`public_metadata.onboardingComplete`), then mark the row onboarded.

    Clerk's metadata is what other Clerk-aware apps (and Clerk's own session claims, if
    configured) read; if Clerk cannot be told, the user stays on the review step to retry.
    """
    answer = clerk_client().update_metadata(user.clerk_id, public_metadata={"onboardingComplete": True})
    stored = sync_user_to_db(answer)
    if stored is None:
        raise UserGone(user.clerk_id)
    save_onboarding_step(stored.clerk_id, BY_SLUG["review"].number)
    return mark_user_as_onboarded(stored.clerk_id)
