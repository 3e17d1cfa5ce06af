"""The settings area: six sections, each a page and an htmx fragment."""

from flask import Blueprint

from .. import htmx

bp = Blueprint("settings", __name__, url_prefix="/dashboard/settings")
# `Vary: HX-Request` on every response of the app (pages elsewhere answer htmx too).
bp.record_once(lambda state: htmx.init_app(state.app))

from . import routes  # noqa: E402,F401
