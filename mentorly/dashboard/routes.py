"""The signed-in home page: a greeting, the profile at a glance, and the way to settings."""

from __future__ import annotations

from flask import g, render_template, session

from ..auth.session import onboarded_required
from ..onboarding.forms import GOALS, interest_labels
from ..onboarding.wizard import WELCOME_KEY
from ..settings.sections import SECTIONS
from . import bp


@bp.get("/dashboard")
@onboarded_required
def index():
    return render_template(
        "dashboard/index.html",
        user=g.user,
        welcome=session.pop(WELCOME_KEY, False),
        goal_label=GOALS.get(g.user.goal or ""),
        interest_labels=interest_labels(g.user.interests),
        sections=SECTIONS,
    )
