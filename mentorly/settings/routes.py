"""The settings area's entry point; each section's routes live in its own module."""

from __future__ import annotations

from flask import redirect, url_for

from ..auth.session import onboarded_required
from . import bp

# One module per section; importing them registers their routes on `bp`.
from . import appearance, billing, integrations, notifications, profile, security  # noqa: E402,F401


@bp.get("")
@bp.get("/")
@onboarded_required
def index():
    return redirect(url_for("settings.profile"))
