from __future__ import annotations

import logging

from flask import jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..auth.session import current_user
from ..clerk.client import ClerkError
from ..extensions import db
from . import bp

log = logging.getLogger(__name__)


@bp.get("/")
def landing():
    # The landing page is public: if Clerk cannot be asked who this is, it still renders.
    try:
        user = current_user()
    except ClerkError as exc:
        log.warning("landing page rendered signed-out; Clerk unavailable: %s", exc)
        user = None
    return render_template("main/landing.html", user=user)


@bp.get("/healthz")
def healthz():
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok")
