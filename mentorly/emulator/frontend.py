"""What a browser sees: the sign-in page, the account page, the ClerkJS stand-in and the small
Frontend-API-like endpoints it calls (`/v1/client...`, cookie-authenticated, CORS for the app).

Cookies are set on the emulator's host without a port (cookies ignore ports), so the app on
the same host sees `__session` and `__client_uat` as it would see Clerk's on its own domain.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, send_from_directory

from . import objects
from .api import emulator, http_context
from .core import origin_of
from .errors import ClerkAPIError, clerk_error

bp = Blueprint("emulator_frontend", __name__)
STATIC = Path(__file__).resolve().parent / "static"
PROJECT_STATIC = Path(__file__).resolve().parents[2] / "static"
YEAR = 365 * 24 * 3600


# --- helpers ----------------------------------------------------------------------------------


def cookie_suffix(publishable_key: str) -> str:
    """ClerkJS's cookie suffix: URL-safe base64 of SHA-1 of the publishable key, 8 characters."""
    digest = hashlib.sha1(publishable_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def safe_redirect(target: str | None) -> str:
    """Only http(s) URLs on the app's origin (a bare path is taken on the app); else the app URL."""
    app_url = emulator().config.app_url
    if not target:
        return app_url + "/"
    target = target.strip()
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return urljoin(app_url + "/", target)
    parts = urlsplit(target)
    if parts.scheme in ("http", "https") and origin_of(target) == emulator().config.app_origin:
        return target
    return app_url + "/"


def same_origin_post() -> None:
    """Form posts must come from the emulator's own pages (a browser sends Origin on POST)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.lower() != origin_of(emulator().config.public_url) \
            and origin.lower() != origin_of(request.host_url):
        abort(403)


def current_client_id() -> str | None:
    return request.cookies.get("__client")


def current_session() -> dict[str, Any] | None:
    return emulator().active_session_for_client(current_client_id())


def client_uat(client_id: str | None) -> int:
    client = emulator().store.clients.get(client_id or "")
    return int(client["updated_at"] // 1000) if client else 0


def set_signed_in_cookies(response: Response, client_id: str, token: str) -> None:
    suffix = cookie_suffix(emulator().config.publishable_key)
    uat = str(client_uat(client_id))
    response.set_cookie("__client", client_id, max_age=YEAR, path="/", httponly=True, samesite="Lax")
    for name in ("__session", f"__session_{suffix}"):
        # Not HttpOnly: ClerkJS reads and rewrites it.
        response.set_cookie(name, token, path="/", httponly=False, samesite="Lax")
    for name in ("__client_uat", f"__client_uat_{suffix}"):
        response.set_cookie(name, uat, max_age=YEAR, path="/", httponly=False, samesite="Lax")


def set_signed_out_cookies(response: Response) -> None:
    suffix = cookie_suffix(emulator().config.publishable_key)
    for name in ("__session", f"__session_{suffix}"):
        response.delete_cookie(name, path="/", samesite="Lax")
    for name in ("__client_uat", f"__client_uat_{suffix}"):
        response.set_cookie(name, "0", max_age=YEAR, path="/", httponly=False, samesite="Lax")


def add_cors(response: Response) -> Response:
    """Credentialed CORS for the app's origin only, on the endpoints ClerkJS calls."""
    origin = request.headers.get("Origin")
    if request.path.startswith("/v1/client") and origin and origin.lower() == emulator().config.app_origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Max-Age"] = "600"
    if request.path.startswith("/v1/client"):
        response.vary.add("Origin")
    return response


@bp.after_app_request
def cors(response: Response) -> Response:
    return add_cors(response)


def user_summary(user: dict[str, Any]) -> dict[str, Any]:
    rendered = emulator().render(user)
    return {
        "id": user["id"],
        "name": objects.display_name(user),
        "email": objects.primary_email(user),
        "username": user.get("username"),
        "image_url": rendered["image_url"],
        "initials": initials(user),
    }


def initials(user: dict[str, Any]) -> str:
    parts = [p for p in (user.get("first_name"), user.get("last_name")) if p]
    if parts:
        return "".join(p[0] for p in parts)[:2].upper()
    source = user.get("username") or objects.primary_email(user) or "?"
    return source[:1].upper()


# --- the sign-in page -------------------------------------------------------------------------


def recent_users(query: str, limit: int = 25) -> list[dict[str, Any]]:
    emu = emulator()
    with emu.store.lock:
        users = sorted(emu.store.users.values(), key=lambda u: emu.store.seq(u["id"]), reverse=True)
        if query:
            q = query.lower()
            users = [u for u in users if q in " ".join(filter(None, [
                u.get("first_name"), u.get("last_name"), u.get("username"), objects.primary_email(u)])).lower()]
        return [user_summary(u) for u in users[:limit]]


def render_sign_in(status: int = 200, errors: dict[str, str] | None = None, form: dict[str, str] | None = None):
    emu = emulator()
    redirect_url = request.values.get("redirect_url") or ""
    query = request.args.get("q", "").strip()
    session = current_session()
    signed_in = user_summary(emu.store.users[session["user_id"]]) if session else None
    page = render_template(
        "emulator/sign_in.html", redirect_url=redirect_url, target=safe_redirect(redirect_url),
        users=recent_users(query), total=len(emu.store.users), query=query, errors=errors or {},
        form=form or {}, signed_in=signed_in, app_url=emu.config.app_url)
    return page, status


@bp.get("/sign-in")
def sign_in_page():
    session = current_session()
    if session is not None and session["status"] == "pending":
        # Clerk's sign-in form shows a pending session's task instead of the sign-in.
        task = session["tasks"][0]["key"] if session.get("tasks") else "setup-mfa"
        return render_template(
            "emulator/session_task.html", task=task, task_label=objects.SESSION_TASKS.get(task, task),
            user=user_summary(emulator().store.users[session["user_id"]]),
            redirect_url=request.args.get("redirect_url") or "")
    return render_sign_in()


@bp.post("/sign-in/task")
def complete_session_task():
    same_origin_post()
    emu = emulator()
    session = current_session()
    if session is None:
        return redirect("/sign-in", code=303)
    session = emu.complete_task(session["id"])
    response = redirect(safe_redirect(request.form.get("redirect_url")), code=303)
    set_signed_in_cookies(response, session["client_id"], emu.mint_token(session))
    return response


@bp.post("/sign-in")
def sign_in():
    same_origin_post()
    emu = emulator()
    action = request.form.get("action", "create")
    if action == "pick":
        user_id = request.form.get("user_id", "")
        if user_id not in emu.store.users:
            return render_sign_in(422, {"user_id": "That user no longer exists."})
    else:
        form = {key: request.form.get(key, "").strip() for key in ("email", "first_name", "last_name", "username")}
        errors: dict[str, str] = {}
        if not form["email"]:
            errors["email"] = "Enter an email address."
        if not errors:
            try:
                user = emu.create_user(form, http_context())
            except ClerkAPIError as exc:
                for item in exc.errors:
                    param = (item.get("meta") or {}).get("param_name", "email")
                    errors["email" if param == "email_address" else param] = item["long_message"]
        if errors:
            return render_sign_in(422, errors, form)
        user_id = user["id"]
    client_id = current_client_id()
    if client_id not in emu.store.clients:
        client_id = emu.new_client()["id"]
    session = emu.create_session(
        user_id, client_id=client_id, user_agent=request.headers.get("User-Agent", ""),
        ip_address=request.remote_addr or "127.0.0.1", http=http_context())
    token = emu.mint_token(session)
    response = redirect(safe_redirect(request.form.get("redirect_url")), code=303)
    set_signed_in_cookies(response, session["client_id"], token)
    return response


@bp.route("/sign-out", methods=["GET", "POST"])
def sign_out():
    if request.method == "POST":
        same_origin_post()
    emu = emulator()
    session = current_session()
    if session is not None:
        emu.end_session(session["id"], "ended", http_context())
    response = redirect(safe_redirect(request.values.get("redirect_url")), code=303)
    set_signed_out_cookies(response)
    return response


# --- the account page (Clerk's user profile, in small) ------------------------------------------


@bp.get("/user")
def user_page():
    emu = emulator()
    session = current_session()
    redirect_url = request.args.get("redirect_url") or ""
    if session is None:
        return render_template("emulator/user.html", user=None, redirect_url=redirect_url,
                               back=safe_redirect(redirect_url)), 200
    user = emu.render(emu.store.users[session["user_id"]])
    connected = {account["provider"] for account in user["external_accounts"]}
    return render_template(
        "emulator/user.html", user=user, summary=user_summary(emu.store.users[session["user_id"]]),
        email=objects.primary_email(user), providers=objects.OAUTH_PROVIDERS, connected=connected,
        redirect_url=redirect_url, back=safe_redirect(redirect_url), message=request.args.get("done"))


@bp.post("/user")
def change_user():
    same_origin_post()
    emu = emulator()
    session = current_session()
    if session is None:
        abort(401)
    user = emu.store.users[session["user_id"]]
    action = request.form.get("action", "")
    provider = request.form.get("provider", "")
    changes: dict[str, Any]
    if action == "toggle_password":
        changes, done = {"password_enabled": not user["password_enabled"]}, "Password updated."
    elif action == "toggle_two_factor":
        changes, done = {"two_factor_enabled": not user["two_factor_enabled"]}, "Two-step verification updated."
    elif action == "connect" and provider in objects.OAUTH_PROVIDERS:
        changes, done = {"connect": [provider]}, f"{objects.OAUTH_PROVIDERS[provider]} connected."
    elif action == "disconnect" and provider in objects.OAUTH_PROVIDERS:
        changes, done = {"disconnect": [provider]}, f"{objects.OAUTH_PROVIDERS[provider]} disconnected."
    else:
        abort(400)
    emu.set_security(user["id"], changes, http_context())
    query = {"done": done}
    if request.form.get("redirect_url"):
        query["redirect_url"] = request.form["redirect_url"]
    return redirect("/user?" + urlencode(query), code=303)


# --- "Verify it's you" (Clerk's user verification, for sensitive actions) ----------------------

# The emulator sends no email: its one-time code is always this one (Clerk's own test code).
VERIFICATION_CODE = "424242"


def render_verify(status: int = 200, error: str | None = None):
    emu = emulator()
    session = current_session()
    redirect_url = request.values.get("redirect_url") or ""
    user = None
    if session is not None and session["status"] == "active":
        user = emu.store.users[session["user_id"]]
    page = render_template(
        "emulator/verify.html", user=user_summary(user) if user else None, redirect_url=redirect_url,
        back=safe_redirect(redirect_url), error=error, code=VERIFICATION_CODE)
    return page, status


@bp.get("/verify")
def verify_page():
    return render_verify()


@bp.post("/verify")
def verify():
    """Re-verify the first factor of this browser's signed-in session, then go back.

    Like Clerk's reverification: only an active session can be verified (401 otherwise), a
    wrong code is refused (422, `form_code_incorrect`), and the session's next tokens carry
    `fva[0] = 0`. The new token is written at once, so the page it returns to is verified.
    """
    same_origin_post()
    emu = emulator()
    session = current_session()
    if session is None or session["status"] != "active":
        return render_verify(401, "You are not signed in, so there is nothing to verify. Sign in first.")
    if request.form.get("code", "").strip() != VERIFICATION_CODE:
        return render_verify(422, "Incorrect code")
    session = emu.reverify_first_factor(session["id"])
    response = redirect(safe_redirect(request.form.get("redirect_url")), code=303)
    set_signed_in_cookies(response, session["client_id"], emu.mint_token(session))
    return response


# --- ClerkJS stand-in and its endpoints -------------------------------------------------------


def script(name: str) -> Response:
    response = send_from_directory(STATIC, name, mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/npm/@clerk/clerk-js@<version>/dist/clerk.browser.js")
def clerk_js(version: str):
    return script("clerk.browser.js")


@bp.get("/npm/@clerk/ui@<version>/dist/ui.browser.js")
def clerk_ui_js(version: str):
    return script("ui.browser.js")


def client_payload(client_id: str | None) -> dict[str, Any]:
    """FAPI's `{response: client}` plus what the stand-in needs to write the app's cookies."""
    emu = emulator()
    client = emu.store.clients.get(client_id or "")
    session = emu.active_session_for_client(client_id)
    response = None
    if client is not None:
        response = {
            "object": "client",
            "id": client["id"],
            "sessions": [dict(emu.session_payload(session), tasks=session.get("tasks", []),
                              factor_verification_age=objects.factor_verification_age(session))]
            if session else [],
            "last_active_session_id": session["id"] if session else None,
            "updated_at": client["updated_at"],
            "created_at": client["created_at"],
        }
    return {
        "response": response,
        "client": None,
        "cookie_suffix": cookie_suffix(emu.config.publishable_key),
        "client_uat": client_uat(client_id) if session else 0,
        "sign_in_url": emu.config.public_url + "/sign-in",
        "user_profile_url": emu.config.public_url + "/user",
    }


@bp.get("/v1/environment")
def environment():
    """The instance's settings as FAPI's environment reports them (the part the app reads)."""
    mode = emulator().usernames
    attribute = {"enabled": mode != "off", "required": mode == "required", "used_for_first_factor": mode != "off"}
    return jsonify(object="environment", user_settings={"attributes": {"username": attribute}})


@bp.get("/v1/client")
def get_client():
    return jsonify(client_payload(current_client_id()))


def owned_active_session(session_id: str) -> dict[str, Any]:
    """The client's session, active or pending (a pending one gets `sts: pending` tokens)."""
    emu = emulator()
    session = emu.store.sessions.get(session_id)
    if session is None or session["client_id"] != current_client_id():
        raise clerk_error(404, "resource_not_found", "not found", "No such session on this client.")
    session = emu.session(session_id)
    if session["status"] not in objects.LIVE_SESSION_STATUSES:
        raise clerk_error(401, "authentication_invalid", "Session is not active",
                          f"The session is {session['status']}; sign in again.")
    return session


@bp.post("/v1/client/sessions/<session_id>/tokens")
def session_token(session_id: str):
    emu = emulator()
    session = emu.touch_session(owned_active_session(session_id))
    origin = request.headers.get("Origin")
    azp = origin if origin and origin.lower() == emu.config.app_origin else emu.config.app_origin
    return jsonify(object="token", jwt=emu.mint_token(session, azp=azp))


@bp.post("/v1/client/sessions/<session_id>/end")
def end_client_session(session_id: str):
    emu = emulator()
    session = owned_active_session(session_id)
    ended = emu.end_session(session["id"], "ended", http_context())
    response = jsonify(response=objects.render_session(ended), client=None)
    set_signed_out_cookies(response)
    return response


# --- images -----------------------------------------------------------------------------------


@bp.get("/images/<name>")
def image(name: str):
    return send_from_directory(emulator().store.images_dir, name, max_age=3600)


@bp.get("/images/default/<user_id>.svg")
def default_avatar(user_id: str):
    user = emulator().store.users.get(user_id)
    letters = html.escape(initials(user) if user else "?")
    hue = int(hashlib.sha1(user_id.encode()).hexdigest()[:4], 16) % 360
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
           f'<rect width="128" height="128" fill="hsl({hue},45%,45%)"/>'
           f'<text x="64" y="64" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" '
           f'font-size="52" fill="#fff">{letters}</text></svg>')
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "max-age=60"})


@bp.get("/favicon.ico")
def favicon():
    # Mentorly's own mark (static/favicon.svg), so the emulator's pages are not a 404 per visit.
    return send_from_directory(PROJECT_STATIC, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


@bp.get("/")
def home():
    return redirect("/sign-in")
