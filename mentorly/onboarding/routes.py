"""The wizard's URLs: `/onboarding` resumes, `/onboarding/<step>` shows and saves one step.

Each step is a whole page on an ordinary request and only the wizard's panel on an htmx one.
A saved step answers an htmx request with the next step's panel (and pushes its URL), and any
other request with a redirect to it, so the wizard works the same without JavaScript.
"""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any, Callable

from flask import abort, g, redirect, request, session, url_for

from ..auth.session import login_required
from ..clerk.client import ClerkAPIError, ClerkUnavailable
from ..htmx import is_htmx, render_page_or_fragment
from ..models import GOALS
from ..timezones import listed_zones_of_aliases
from .forms import AboutForm, FinishForm, GoalsForm, ProfileStepForm, interest_labels
from .wizard import (
    STEPS,
    Step,
    WELCOME_KEY,
    UserGone,
    can_open,
    completed_steps,
    finish,
    first_unfinished,
    next_step,
    previous_step,
    save_about,
    save_goals,
    save_profile,
    step_named,
)
from . import bp

log = logging.getLogger(__name__)

FORMS = {"about": AboutForm, "profile": ProfileStepForm, "goals": GoalsForm, "review": FinishForm}
SAVERS = {
    "about": save_about,
    "profile": save_profile,
    "goals": save_goals,
    "review": lambda user, form: finish(user),
}


def _go(url: str):
    """Send the browser elsewhere: a full navigation for htmx, a redirect otherwise."""
    if is_htmx():
        return "", 200, {"HX-Redirect": url}
    return redirect(url, code=303 if request.method == "POST" else 302)


def not_onboarded(view: Callable) -> Callable:
    """Signed in and still onboarding; a user who has finished goes to the dashboard."""

    @login_required
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if g.user.is_onboarded:
            return _go(url_for("dashboard.index"))
        return view(*args, **kwargs)

    return wrapped


def _step_url(step: Step) -> str:
    return url_for("onboarding.step", slug=step.slug)


def _build_form(step: Step, *, from_request: bool):
    form_class = FORMS[step.slug]
    kwargs: dict[str, Any] = {} if from_request else {"formdata": None}
    if step.slug == "about":
        kwargs["user"] = g.user
    if step.slug != "review":
        # Prefilled from the row: what Clerk knows (names, username) and what was saved before.
        kwargs["obj"] = g.user
    return form_class(**kwargs)


def _render(step: Step, form, *, status: int = 200, problems: list[str] | None = None, headers=None):
    user = g.user
    submitted = form.is_submitted() and step.slug == request.view_args.get("slug")
    body = render_page_or_fragment(
        step.template,
        "wizard",
        step=step,
        steps=STEPS,
        completed=completed_steps(user),
        previous=previous_step(step),
        form=form,
        user=user,
        problems=problems or [],
        # The browser may suggest its time zone only until the person has saved one.
        suggest_browser_timezone=step.slug == "profile" and completed_steps(user) < 2 and not submitted,
        timezone_aliases=listed_zones_of_aliases(),
        goal_label=GOALS.get(user.goal or ""),
        interest_labels=interest_labels(user.interests),
    )
    return body, status, {"Cache-Control": "no-store", **(headers or {})}


def _apply_clerk_errors(form, exc: ClerkAPIError) -> list[str]:
    """Clerk's messages at the field they name; the rest above the form."""
    problems = list(exc.messages)
    placed = False
    for param, messages in exc.field_errors.items():
        if param in form and param != "csrf_token":
            form[param].errors = list(form[param].errors) + messages
            placed = True
        else:
            problems.extend(messages)
    if not problems and not placed:
        problems.append("Clerk could not save these details. Please check them and try again.")
    return problems


@bp.get("")
@not_onboarded
def start():
    """Resume: the first step that is not yet done."""
    return _go(_step_url(first_unfinished(g.user)))


@bp.route("/<slug>", methods=["GET", "POST"])
@not_onboarded
def step(slug: str):
    current = step_named(slug)
    if current is None:
        abort(404)
    if not can_open(g.user, current):
        # Typing a later step's URL does not skip the ones before it.
        return _go(_step_url(first_unfinished(g.user)))
    if request.method == "GET":
        return _render(current, _build_form(current, from_request=False))

    form = _build_form(current, from_request=True)
    if not form.validate():
        return _render(current, form, status=422)
    try:
        SAVERS[current.slug](g.user, form)
    except ClerkAPIError as exc:
        log.info("Clerk refused the %s step for %s: %s", current.slug, g.user.clerk_id, exc.codes)
        return _render(current, form, status=422, problems=_apply_clerk_errors(form, exc))
    except ClerkUnavailable as exc:
        log.warning("Clerk unavailable during the %s step: %s", current.slug, exc)
        return _render(current, form, status=503, problems=[str(exc)], headers={"Retry-After": "5"})
    except (UserGone, LookupError):
        # Deleted (at Clerk, then here by its webhook) while onboarding: nothing left to save.
        abort(410)

    following = next_step(current)
    if following is None:
        session[WELCOME_KEY] = True
        return _go(url_for("dashboard.index"))
    if is_htmx():
        # The next step's panel, fresh from the saved row, and its URL in the address bar.
        fresh = _build_form(following, from_request=False)
        return _render(following, fresh, headers={"HX-Push-Url": _step_url(following)})
    return redirect(_step_url(following), code=303)
