"""Who is signed in: the Clerk session token, the user row (synced just in time), the gates.

Signing in is Clerk's job; this module only reads its session token. The user is loaded on
demand (by the decorators or `current_user()`), never in a global before-request hook, so the
webhook and static files do no token work.
"""

from __future__ import annotations

import logging
import time
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from flask import current_app, g, redirect, render_template, request, url_for
from sqlalchemy import bindparam, select

from ..clerk.client import ClerkNotFound, clerk_client
from ..clerk.sessions import (
    SessionPending,
    SessionTokenError,
    SessionTokenExpired,
    SessionVerifier,
    client_uat,
    token_from_request,
)
from ..ended_sessions import SESSION_HAS_ENDED
from ..extensions import db
from ..htmx import is_htmx
from ..models import User
from ..users import sync_user_to_db

log = logging.getLogger(__name__)

# A browser sent to the refresh page comes back within seconds; if it returns still without a
# valid token inside this window, ClerkJS could not help and we send it to sign in instead.
REFRESH_GUARD_COOKIE = "mentorly_refresh"
REFRESH_GUARD_SECONDS = 20


def session_verifier() -> SessionVerifier:
    verifier = current_app.extensions.get("mentorly.session_verifier")
    if verifier is None:
        config = current_app.config
        verifier = SessionVerifier(
            jwt_key=config.get("CLERK_JWT_KEY"),
            fetch_jwks=lambda: clerk_client().jwks(),
            authorized_parties=tuple(config.get("CLERK_AUTHORIZED_PARTIES") or ()),
        )
        current_app.extensions["mentorly.session_verifier"] = verifier
    return verifier


def safe_return_path(target: str | None, default: str = "/dashboard") -> str:
    """Only a same-origin path: never a scheme, a host, `//host` or a backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


# The token's user and whether its session has ended, in one query on every signed-in request.
USER_AND_SESSION_ENDED = select(User, SESSION_HAS_ENDED).where(User.clerk_id == bindparam("clerk_id"))
SESSION_ENDED = select(SESSION_HAS_ENDED)


def _signed_in_user(claims: dict[str, Any]) -> User | None:
    """The live row for the token's user, fetched from Clerk if the webhook has not come yet;
    None for a tombstone, an unknown user, or a session that has ended at Clerk."""
    sid = {"ended_sid": claims["sid"]}
    row = db.session.execute(USER_AND_SESSION_ENDED, {"clerk_id": claims["sub"], **sid}).first()
    if row is not None:
        user, session_ended = row
        if session_ended:
            log.info("session %s has ended at Clerk: its token is refused", claims["sid"])
            return None
        return None if user.is_deleted else user  # a tombstone never signs in again
    if db.session.execute(SESSION_ENDED, sid).scalar():
        return None
    try:
        clerk_user = clerk_client().get_user(claims["sub"])
    except ClerkNotFound:
        return None
    user = sync_user_to_db(clerk_user)
    if user is not None:
        log.info("user %s synced just in time at sign-in", user.clerk_id)
    return user


def _request_token() -> str | None:
    key = current_app.config["CLERK_PUBLISHABLE_KEY"]
    return token_from_request(request.cookies, request.headers.get("Authorization"), key)


def session_claims(*, allow_expired: bool = False) -> dict[str, Any] | None:
    """The verified claims of this request's session token, or None. With `allow_expired`, a
    genuine token past its `exp` still counts (to end its session at sign-out)."""
    token = _request_token()
    if not token:
        return None
    try:
        return session_verifier().verify(token)
    except SessionTokenExpired as exc:
        return exc.claims if allow_expired else None
    except SessionTokenError:
        return None


def current_user() -> User | None:
    """The signed-in user for this request (cached on `g`); also sets `g.auth_state`.

    `g.auth_state` is "signed-in"; "pending" (a session with a task left, which Clerk's sign-in
    form shows); "refresh" (no valid token, but the browser's Clerk client says it is signed in,
    so ClerkJS can renew the token); or "signed-out". Raises ClerkUnavailable if the user must
    be fetched and Clerk is down.
    """
    if "auth_state" in g:
        return g.user
    g.user, g.claims, g.auth_state = None, None, "signed-out"
    token = _request_token()
    if token:
        try:
            claims = session_verifier().verify(token)
        except SessionPending:
            g.auth_state = "pending"
            return None
        except SessionTokenExpired:
            pass  # ClerkJS can renew it if the browser's Clerk client is signed in (below)
        except SessionTokenError as exc:
            log.info("session token refused: %s", exc)
        else:
            g.user = _signed_in_user(claims)
            if g.user is not None:
                g.claims, g.auth_state = claims, "signed-in"
            return g.user
    if client_uat(request.cookies, current_app.config["CLERK_PUBLISHABLE_KEY"]) > 0:
        g.auth_state = "refresh"
    return None


def _sign_in_url() -> str:
    return url_for("auth.sign_in") + "?" + urlencode({"redirect_url": safe_return_path(request.full_path.rstrip("?"))})


def _signed_out_response():
    recently_refreshed = time.time() - _float(request.cookies.get(REFRESH_GUARD_COOKIE)) < REFRESH_GUARD_SECONDS
    wants_refresh = g.auth_state == "refresh" and not recently_refreshed
    if is_htmx():
        if wants_refresh:
            return "", 401, {"HX-Refresh": "true"}
        return "", 401, {"HX-Redirect": _sign_in_url()}
    if wants_refresh:
        response = current_app.make_response(
            (render_template("auth/refresh.html", sign_in_url=_sign_in_url()), 401)
        )
        response.set_cookie(
            REFRESH_GUARD_COOKIE, str(int(time.time())), max_age=REFRESH_GUARD_SECONDS, httponly=True, samesite="Lax"
        )
        response.headers["Cache-Control"] = "no-store"
        return response
    return redirect(_sign_in_url())


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def login_required(view: Callable) -> Callable:
    """The view runs only for a signed-in user (`g.user`); others are sent to sign in."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        user = current_user()  # ClerkUnavailable: the app's error handler shows a clear 503
        if user is None:
            return _signed_out_response()
        return view(*args, **kwargs)

    return wrapped


def onboarded_required(view: Callable) -> Callable:
    """Signed in and past onboarding; a user who has not finished it is sent to the wizard."""

    @login_required
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if not g.user.is_onboarded:
            target = url_for("onboarding.start")
            if is_htmx():
                return "", 200, {"HX-Redirect": target}
            return redirect(target)
        return view(*args, **kwargs)

    return wrapped
