from __future__ import annotations

import logging

from flask import current_app, jsonify, make_response, render_template, request, send_from_directory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..auth.session import current_user
from ..clerk.client import ClerkError, ClerkUnavailable, clerk_client
from ..extensions import db
from ..htmx import is_htmx, toast
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


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico whatever the page links; they accept the SVG mark.
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


@bp.get("/healthz")
def healthz():
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable"), 503
    if clerk_client().key_refused:
        # Pages that need Clerk fail until CLERK_SECRET_KEY is fixed; restarting will not help.
        return jsonify(status="degraded", database="ok", clerk="unauthorized")
    return jsonify(status="ok")


@bp.app_errorhandler(ClerkUnavailable)
def clerk_unavailable(exc: ClerkUnavailable):
    """Clerk could not answer (or refused our key): a clear page or toast, never a 500."""
    log.warning("Clerk unavailable: %s", exc)
    if is_htmx():
        return toast(make_response(("", 503)), str(exc), "error")
    return render_template("auth/unavailable.html", message=str(exc)), 503, {"Retry-After": "5"}


@bp.app_errorhandler(OperationalError)
def database_unavailable(exc: OperationalError):
    """The database cannot be reached: a clear 503, never a 500 page.

    (A connection dropped by a restart or failover is replaced at checkout by the pool's
    pre-ping, so this is a database that is really down, and the page says to retry.)
    """
    db.session.rollback()
    log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return jsonify(error="database unavailable, retry later"), 503, {"Retry-After": "5"}
    return render_template("main/unavailable.html"), 503, {"Retry-After": "5"}
