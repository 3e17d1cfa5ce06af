"""The Appearance section: theme (system, light, dark) and reduced motion.

Both live on the user's row; the base layout renders them into `<html>` on every page
(`data-theme`, `data-reduced-motion`), so the first paint is already right. After an htmx save
the response raises `appearance-changed` (HX-Trigger) with the new values, and
static/js/settings-appearance.js applies them to `<html>` at once. A page without that script
(it says so by not sending `X-Appearance-Live`) is reloaded instead (HX-Refresh).
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, request
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField
from wtforms.validators import StopValidation

from ..auth.session import onboarded_required
from ..htmx import is_fragment_request, trigger_client_event
from ..models import THEMES
from ..users import update_appearance
from . import bp
from .sections import render_section, section_saved

SLUG = "appearance"
APPEARANCE_EVENT = "appearance-changed"
# Sent by static/js/settings-appearance.js with every htmx request: this page applies the event.
LIVE_HEADER = "X-Appearance-Live"


def known_theme(form: FlaskForm, field: Any) -> None:
    # Names the value and the choices, where WTForms would say only "Not a valid choice".
    if field.data not in THEMES:
        raise StopValidation(f"Unknown theme {field.data or ''!r}; choose one of: {', '.join(THEMES)}.")


class AppearanceForm(FlaskForm):
    theme = RadioField("Theme", [known_theme], choices=THEMES, validate_choice=False)
    reduced_motion = BooleanField(
        "Reduce motion",
        description="Turns off animations and transitions here, whatever this device's setting.",
    )


def saved_message(theme: str, reduced_motion: bool) -> str:
    return f"Appearance saved: {theme} theme, reduced motion {'on' if reduced_motion else 'off'}."


@bp.route("/appearance", methods=["GET", "POST"])
@onboarded_required
def appearance() -> Response:
    user = g.user
    if request.method == "GET":
        return render_section(SLUG, form=AppearanceForm(formdata=None, obj=user))
    form = AppearanceForm()
    if not form.validate():
        return render_section(SLUG, status=422, form=form)
    user = update_appearance(user.clerk_id, theme=form.theme.data, reduced_motion=form.reduced_motion.data)
    response = section_saved(
        SLUG, saved_message(user.theme, user.reduced_motion), form=AppearanceForm(formdata=None, obj=user)
    )
    if is_fragment_request():
        if request.headers.get(LIVE_HEADER) == "1":
            detail = {"theme": user.theme, "reducedMotion": user.reduced_motion}
            trigger_client_event(response, APPEARANCE_EVENT, detail)
        else:
            # The page cannot apply it in place (its layout did not load the script): reload it,
            # and the server renders the new theme; the message survives the reload as a flash.
            flash(saved_message(user.theme, user.reduced_motion), "success")
            response.headers["HX-Refresh"] = "true"
    return response
