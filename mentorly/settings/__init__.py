"""The settings area: six sections, each a page and an htmx fragment."""

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/dashboard/settings")

from . import routes  # noqa: E402,F401
