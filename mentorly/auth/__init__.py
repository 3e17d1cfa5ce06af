"""Signing in with Clerk: the session loader, sign-in and sign-out pages."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import routes  # noqa: E402,F401
