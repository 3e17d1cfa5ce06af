from __future__ import annotations

import logging
from typing import NamedTuple

from flask import current_app, jsonify, make_response, render_template, request, send_from_directory
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

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
        # A toast; the section (and what was typed in it) stays as it was.
        response = toast(make_response(("", 503)), str(exc), "error")
        response.headers["HX-Reswap"] = "none"
        return response
    return render_template("auth/unavailable.html", message=str(exc)), 503, {"Retry-After": "5"}


@bp.app_errorhandler(OperationalError)
def database_unavailable(exc: OperationalError):
    """The database cannot be reached: a clear 503, never a 500 page.

    (A connection dropped by a restart or failover is replaced at checkout by the pool's
    pre-ping, so this is a database that is really down, and the page says to retry.)
    """
    db.session.rollback()
    log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
    if wants_json():
        return jsonify(error="database unavailable, retry later"), 503, {"Retry-After": "5"}
    return render_template("main/unavailable.html"), 503, {"Retry-After": "5"}


class ErrorPage(NamedTuple):
    title: str
    message: str


ERROR_PAGES = {
    400: ErrorPage("Could not be used", "This request could not be used. If you sent a form, reload the page and try again."),
    404: ErrorPage("Page not found", "There is nothing at this address. It may have moved, or the link may be mistyped."),
    405: ErrorPage("Not allowed here", "This page cannot be used that way."),
    410: ErrorPage("No longer here", "This account has been deleted, so there is nothing to change."),
    413: ErrorPage("Too large", "What you sent is too large. Please try a smaller file."),
    500: ErrorPage("Something went wrong", "An error on our side stopped this request. Please try again."),
    503: ErrorPage("Briefly unavailable", "Mentorly cannot answer right now. Please try again in a moment."),
}
# A 400 of its own: a form sent without its token, most often from a page left open for hours.
CSRF_REFUSED = ErrorPage(
    "Form expired", "This form’s security token (CSRF) is missing or out of date. Reload the page and try again."
)


def wants_json() -> bool:
    """Machine callers (the webhook under /api/, or a client asking for JSON) get JSON errors."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


@bp.app_errorhandler(400)
@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
@bp.app_errorhandler(410)
@bp.app_errorhandler(413)
@bp.app_errorhandler(500)
@bp.app_errorhandler(503)
def error_page(exc: HTTPException):
    """The site's layout and a way back for a browser, a toast for htmx, JSON for machines."""
    status = exc.code or 500
    page = CSRF_REFUSED if isinstance(exc, CSRFError) else ERROR_PAGES[status]
    if status == 500:
        db.session.rollback()  # the failed request may have left a transaction the layout would reuse
    # Keep what the error says in headers (Allow on a 405, Retry-After on a 503), not its type.
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    if wants_json():
        return jsonify(error=page.title.lower()), status, headers
    if is_htmx():
        # Nothing to swap: the section stays as it was and the message shows in a toast.
        response = make_response(("", status, headers))
        response.headers["HX-Reswap"] = "none"
        return toast(response, page.message, "error")
    if status < 500:
        _recognise_viewer()
    return render_template("main/error.html", error=page), status, headers


def _recognise_viewer() -> None:
    """The signed-in person's header and theme on a page no view reached (a mistyped URL); the
    error page is shown all the same when they cannot be had."""
    try:
        current_user()
    except (ClerkError, SQLAlchemyError):
        db.session.rollback()

