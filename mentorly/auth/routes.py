"""Sign-in (ClerkJS, from the Frontend API host the publishable key names) and sign-out."""

from __future__ import annotations

import logging

from flask import current_app, g, redirect, render_template, request, url_for

from ..clerk.client import ClerkError, clerk_client
from ..clerk.sessions import cookie_suffix, frontend_api_url
from . import bp
from .session import current_user, safe_return_path

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
    """End the Clerk session server-side (so no other tab keeps it) and clear the cookies."""
    try:
        user = current_user()
    except ClerkError:
        user = None
    if user is not None and g.claims.get("sid"):
        try:
            clerk_client().revoke_session(g.claims["sid"])
        except ClerkError as exc:
            log.warning("could not revoke session %s at Clerk: %s", g.claims["sid"], exc)
    response = redirect(url_for("main.landing"), code=303)
    suffix = cookie_suffix(current_app.config["CLERK_PUBLISHABLE_KEY"])
    for name in ("__session", f"__session_{suffix}"):
        response.delete_cookie(name)
    for name in ("__client_uat", f"__client_uat_{suffix}"):
        response.set_cookie(name, "0", samesite="Lax")
    return response


@bp.app_context_processor
def clerk_frontend():
    """Where pages load ClerkJS from: the Frontend API host encoded in the publishable key."""
    key = current_app.config["CLERK_PUBLISHABLE_KEY"]
    return {"clerk_publishable_key": key, "clerk_frontend_api_url": frontend_api_url(key)}
