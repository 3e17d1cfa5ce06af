"""Sign-in (ClerkJS, from the Frontend API host the publishable key names) and sign-out."""

from __future__ import annotations

import logging

from flask import Response, current_app, flash, redirect, render_template, request, url_for

from ..clerk.client import ClerkError, clerk_client
from ..clerk.sessions import cookie_suffix, frontend_api_url
from ..ended_sessions import remember_ended_session
from ..extensions import db
from . import bp
from .session import current_user, safe_return_path, session_claims

log = logging.getLogger(__name__)


@bp.get("/sign-in")
def sign_in():
    return_to = safe_return_path(request.args.get("redirect_url"))
    try:
        signed_in = current_user() is not None
    except ClerkError:
        signed_in = False
    if signed_in:
        return redirect(return_to)
    return render_template("auth/sign_in.html", return_to=return_to)


@bp.post("/sign-out")
def sign_out():
    """End the Clerk session at Clerk, so that no other tab or stolen cookie keeps it.

    In the browser ClerkJS signs out first (`Clerk.signOut()`, which also resets Clerk's own
    cookies); this ends the session server-side too, even when its token has just expired
    (the signature still proves which session it was), and remembers it as ended.
    """
    claims = session_claims(allow_expired=True)
    if claims is not None:
        try:
            clerk_client().revoke_session(claims["sid"])
        except ClerkError as exc:
            log.warning("could not revoke session %s at Clerk: %s", claims["sid"], exc)
        with db.engine.begin() as conn:
            remember_ended_session(conn, claims["sid"], claims["sub"], "ended")
    flash("You have signed out.", "success")
    return forget_session_token(redirect(url_for("main.landing"), code=303))


def forget_session_token(response: Response) -> Response:
    """Clear the session token cookies (`__client_uat` is Clerk's, and left to ClerkJS)."""
    suffix = cookie_suffix(current_app.config["CLERK_PUBLISHABLE_KEY"])
    for name in ("__session", f"__session_{suffix}"):
        response.delete_cookie(name)
    return response


@bp.app_context_processor
def clerk_frontend():
    """Where pages load ClerkJS from: the Frontend API host encoded in the publishable key."""
    key = current_app.config["CLERK_PUBLISHABLE_KEY"]
    return {"clerk_publishable_key": key, "clerk_frontend_api_url": frontend_api_url(key)}
