"""The Security section: the sign-in facts Clerk keeps, the user's active sessions, a copy of
their data, and deleting the account.

Email, verification, password and two-factor come from the user's row (every webhook and sync
keeps them). Sessions are read from Clerk on each view, since they change with every sign-in
anywhere; when Clerk is slow or down the section says so where the list would be, and the rest of
the page renders as usual.

Revoking: the posted `session_id` must be one of the signed-in user's own active sessions. We ask
Clerk for that list, so another person's session, an ended one and a made-up id are refused
alike (422, without telling whether such a session exists), and the session making the request is
refused too: signing out is how that one ends.

Your data: a plain link downloads the export (`mentorly.account_lifecycle`), never cached.

Deleting the account: the person types DELETE (anything else is a 422 at that field), and the
session token must show a first-factor verification less than 10 minutes old (`fva`); if not,
the section comes back (403) asking them to confirm it's them through ClerkJS, then to submit
again. Clerk deletes first; then the row becomes a tombstone, the session cookie is cleared and
the person lands on the home page. A replayed form finds no signed-in user and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from ..account_lifecycle import AccountNotDeleted, account_export, delete_account, export_filename, export_json
from ..auth.routes import forget_session_token
from ..auth.session import onboarded_required
from ..clerk.client import ClerkAPIError, ClerkUnavailable, clerk_client
from ..clerk.reverification import SENSITIVE_ACTION_MINUTES, verified_recently
from ..clerk.sessions import frontend_api_url
from ..ended_sessions import remember_ended_session
from ..extensions import db
from ..htmx import is_fragment_request, is_htmx, toast
from . import bp
from .sections import render_section, section_saved

log = logging.getLogger(__name__)

SLUG = "security"
SESSION_ID_MAX = 128


def clerk_profile_url() -> str:
    """Clerk's hosted account page, where "Manage" links go when ClerkJS cannot open its UI.

    Clerk serves it beside the Frontend API: `clerk.example.com` has `accounts.example.com/user`,
    a development `slug.clerk.accounts.dev` has `slug.accounts.dev/user`; the local emulator
    serves `/user` itself.
    """
    fapi = frontend_api_url(current_app.config["CLERK_PUBLISHABLE_KEY"])
    host = urlsplit(fapi).netloc
    if host.endswith(".clerk.accounts.dev"):
        return f"https://{host.removesuffix('.clerk.accounts.dev')}.accounts.dev/user"
    if host.startswith("clerk."):
        return f"https://accounts.{host.removeprefix('clerk.')}/user"
    return f"{fapi}/user"


class SessionRevokeRefused(Exception):
    """This user may not revoke that session; str() is the reason, for people."""


@dataclass(frozen=True)
class ActiveSession:
    """One signed-in device, as the section shows it."""

    id: str
    device: str
    browser: str
    location: str
    ip_address: str
    last_active_at: datetime | None
    is_mobile: bool
    is_current: bool

    @classmethod
    def from_clerk(cls, session: dict[str, Any], current_sid: str | None) -> "ActiveSession":
        activity = session.get("latest_activity") or {}
        # The major version is what people recognise ("Chrome 131", not "Chrome 131.0.6778.85").
        version = str(activity.get("browser_version") or "").split(".")[0]
        browser = " ".join(str(part) for part in (activity.get("browser_name"), version) if part)
        location = ", ".join(str(part) for part in (activity.get("city"), activity.get("country")) if part)
        last_active = session.get("last_active_at")
        device = activity.get("device_type") or ("Mobile device" if activity.get("is_mobile") else "Unknown device")
        return cls(
            id=str(session.get("id") or ""),
            device=str(device),
            browser=browser or "Unknown browser",
            location=location or "Unknown location",
            ip_address=str(activity.get("ip_address") or ""),
            last_active_at=datetime.fromtimestamp(last_active / 1000, UTC) if isinstance(last_active, int) else None,
            is_mobile=bool(activity.get("is_mobile")),
            is_current=bool(current_sid) and session.get("id") == current_sid,
        )


def list_active_sessions(clerk_user_id: str, current_sid: str | None) -> list[ActiveSession]:
    """The user's active sessions: this device first, then the most recently active.

    Raises ClerkUnavailable (or ClerkAPIError) when Clerk does not answer with the list.
    """
    answer = clerk_client().list_sessions(clerk_user_id, status="active")
    sessions = [
        ActiveSession.from_clerk(session, current_sid)
        for session in answer or []
        # Clerk filters by user already; a session of anyone else is never shown or revocable.
        if isinstance(session, dict) and session.get("user_id") == clerk_user_id and session.get("status") == "active"
    ]
    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(sessions, key=lambda s: (not s.is_current, -(s.last_active_at or epoch).timestamp()))


def revoke_user_session(clerk_user_id: str, session_id: str, current_sid: str | None) -> ActiveSession:
    """End one of the user's other sessions at Clerk; returns it as it was before.

    Raises SessionRevokeRefused (the current session, or one that is not among the user's
    active sessions), ClerkUnavailable, or ClerkAPIError if Clerk will not list the sessions.
    """
    if current_sid and session_id == current_sid:
        raise SessionRevokeRefused("That is the session you are using now. To end it, sign out.")
    session = next((s for s in list_active_sessions(clerk_user_id, current_sid) if s.id == session_id), None)
    if session is None:
        raise SessionRevokeRefused("That session is not one of your active sessions, so it was not ended.")
    try:
        clerk_client().revoke_session(session_id)
    except ClerkAPIError as exc:
        # A 404 means it ended between the list and the revoke (signed out, expired): that is
        # the outcome asked for. Any other refusal is reported.
        if exc.status != 404:
            raise SessionRevokeRefused(f"Clerk would not end that session: {exc}") from None
    with db.engine.begin() as conn:  # refused at once, not when its last token expires
        remember_ended_session(conn, session_id, clerk_user_id, "revoked")
    log.info("user %s revoked session %s", clerk_user_id, session_id)
    return session


@dataclass
class SessionsList:
    """The sessions to show, or why they cannot be shown now."""

    sessions: list[ActiveSession] = field(default_factory=list)
    unavailable: str | None = None


def sessions_list(clerk_user_id: str, current_sid: str | None) -> SessionsList:
    try:
        return SessionsList(list_active_sessions(clerk_user_id, current_sid))
    except ClerkUnavailable as exc:
        log.warning("could not list sessions from Clerk: %s", exc)
        return SessionsList(unavailable=str(exc))
    except ClerkAPIError as exc:
        log.warning("Clerk refused to list sessions: %s", exc)
        return SessionsList(unavailable="Clerk would not list your sessions. Please try again later.")


class RevokeSessionForm(FlaskForm):
    session_id = HiddenField(
        "Session",
        [
            InputRequired("Say which session to end."),
            Length(max=SESSION_ID_MAX, message="That is not a session id."),
        ],
    )


CONFIRMATION_WORD = "DELETE"
CONFIRMATION_MESSAGE = f"Type {CONFIRMATION_WORD}, in capital letters, to confirm."


def _is_confirmation_word(form: FlaskForm, field: StringField) -> None:
    if field.data != CONFIRMATION_WORD:
        raise ValidationError(CONFIRMATION_MESSAGE)


class DeleteAccountForm(FlaskForm):
    confirmation = StringField(
        f"To confirm, type {CONFIRMATION_WORD}",
        [InputRequired(CONFIRMATION_MESSAGE), _is_confirmation_word],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )


# --- The view -------------------------------------------------------------------------------------


def _current_sid() -> str | None:
    return (g.claims or {}).get("sid")


def _render(
    status: int = 200,
    *,
    revoke_error: str | None = None,
    delete_form: DeleteAccountForm | None = None,
    delete_error: str | None = None,
    needs_verification: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    return render_section(
        SLUG,
        status=status,
        headers=headers,
        user=g.user,
        sessions=sessions_list(g.user.clerk_id, _current_sid()),
        revoke_form=RevokeSessionForm(formdata=None),
        revoke_error=revoke_error,
        delete_form=delete_form or DeleteAccountForm(formdata=None),
        delete_error=delete_error,
        needs_verification=needs_verification,
        verification_minutes=SENSITIVE_ACTION_MINUTES,
        clerk_profile_url=clerk_profile_url(),
    )


@bp.route("/security", methods=["GET", "POST"])
@onboarded_required
def security() -> Response:
    if request.method == "GET":
        return _render()
    intent = request.form.get("intent", "revoke_session")
    if intent == "revoke_session":
        return _revoke_session()
    if intent == "delete_account":
        return _delete_account()
    abort(400, description="Unknown form.")


@bp.get("/security/your-data")
@onboarded_required
def download_data() -> Response:
    """Everything Mentorly holds about the signed-in person, as a JSON attachment."""
    export = account_export(g.user.clerk_id)
    response = make_response(export_json(export))
    response.content_type = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{export_filename(export)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _delete_account() -> Response:
    form = DeleteAccountForm()
    if not form.validate():
        return _render(422, delete_form=form)
    if not verified_recently(g.claims):
        return _render(403, delete_form=form, needs_verification=True)
    try:
        delete_account(g.user.clerk_id)
    except AccountNotDeleted as exc:
        if exc.transient:
            retry_after = str(max(1, int(exc.retry_after or 5)))
            return _render(503, delete_form=form, delete_error=exc.reason, headers={"Retry-After": retry_after})
        return _render(422, delete_form=form, delete_error=exc.reason)
    flash("Your account has been deleted.", "success")
    home = url_for("main.landing")
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = home
    else:
        response = redirect(home, code=303)
    return forget_session_token(response)


def _revoke_session() -> Response:
    form = RevokeSessionForm()
    if not form.validate():
        reasons = " ".join(message for messages in form.errors.values() for message in messages)
        return _render(422, revoke_error=reasons or "The request could not be read.")
    try:
        revoked = revoke_user_session(g.user.clerk_id, form.session_id.data, _current_sid())
    except SessionRevokeRefused as exc:
        return _render(422, revoke_error=str(exc))
    except ClerkAPIError as exc:
        log.warning("Clerk refused to list sessions for a revoke: %s", exc)
        return _render(422, revoke_error="Clerk would not list your sessions, so none was ended.")
    except ClerkUnavailable as exc:
        retry_after = str(max(1, int(exc.retry_after or 5)))
        return _render(503, revoke_error=f"The session was not ended. {exc}", headers={"Retry-After": retry_after})
    message = f"Signed out of {revoked.browser} on {revoked.device}."
    if is_fragment_request():
        return toast(_render(), message)
    return section_saved(SLUG, message)
