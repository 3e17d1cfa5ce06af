"""`/__emulator/...`: control endpoints for tests and development (no auth; the emulator only).

Users and sessions made here are real emulator objects: they send the webhooks Clerk would send
(unless webhooks are switched off) and show up in the Backend API.

    GET    /__emulator/health                  status, URLs, publishable key, user count
    POST   /__emulator/users                   {email, first_name, last_name, username, email_verified,
                                                password_enabled, two_factor_enabled, external_accounts: [provider],
                                                public_metadata, private_metadata, unsafe_metadata, external_id}
                                               -> 201 User (sends user.created)
    PATCH  /__emulator/users/<id>              {password_enabled, two_factor_enabled, email_verified,
                                                connect: [provider], disconnect: [provider], first_name, last_name}
                                               -> User (sends user.updated)
    POST   /__emulator/users/bulk              {count, prefix, domain} -> 201 {created, first_id, last_id,
                                                total_count, seconds} (no webhooks)
    POST   /__emulator/sessions                {user_id, user_agent, ip_address, city, country, lifetime, azp,
                                                task: setup-mfa|reset-password|choose-organization (pending),
                                                factor_verification_age: {first_factor, second_factor}}
                                               -> 201 {session, token} (sends session.created)
    POST   /__emulator/sessions/<id>/verification  {first_factor: minutes ago | null (never), second_factor: ...}
                                               -> {session, factor_verification_age} (what tokens carry as fva)
    POST   /__emulator/sessions/<id>/tokens    {lifetime | iat, nbf, exp, azp, claims: {...}, header: {...}}
                                               -> {token, jwt}
    POST   /__emulator/sessions/<id>/end       {status: ended|revoked|removed} -> Session (sends session.<status>)
    GET    /__emulator/webhooks[?wait=s&type=] {enabled, url, idle, pending, retry_delays, deliveries: [...]}
    DELETE /__emulator/webhooks                forget the log (and anything not yet delivered)
    POST   /__emulator/webhooks/settings       {enabled, url, retry_delays: [s, ...], timeout}
    GET    /__emulator/faults                  {faults: [...]}
    POST   /__emulator/faults                  {mode: timeout|error|rate_limit, count, retry_after, delay,
                                                status, path, method} -> 201 {fault, faults}
    DELETE /__emulator/faults                  clear them
    POST   /__emulator/settings                {token_lifetime, session_task, usernames: required|optional|off}
    POST   /__emulator/reset                   forget users, sessions, clients, images, webhook log, faults and
                                               run-time settings (the signing key and instance id stay)
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request

from . import objects
from .api import emulator, http_context
from .errors import clerk_error

USERNAME_MODES = ("required", "optional", "off")

bp = Blueprint("emulator_control", __name__, url_prefix="/__emulator")


def body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.get_data(cache=True) else {}
    if not isinstance(data, dict):
        raise clerk_error(400, "malformed_request", "malformed request", "The request body must be a JSON object.")
    return data


def number(data: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise clerk_error(422, "form_param_type_invalid", "must be a number", f"{key} must be a number.", key)
    return value


@bp.get("/health")
def health():
    emu = emulator()
    return jsonify(status="ok", url=emu.config.public_url, api_url=emu.config.public_url + "/v1",
                   app_url=emu.config.app_url, publishable_key=emu.config.publishable_key,
                   instance_id=emu.instance_id, users=len(emu.store.users))


@bp.post("/users")
def create_user():
    emu = emulator()
    user = emu.create_user(body(), http_context())
    return jsonify(emu.render(user)), 201


@bp.patch("/users/<user_id>")
def change_user(user_id: str):
    """Profile-UI changes: password_enabled, two_factor_enabled, email_verified, connect/disconnect."""
    return jsonify(emulator().set_security(user_id, body(), http_context()))


@bp.post("/users/bulk")
def bulk_create_users():
    data = body()
    count = int(number(data, "count", 0) or 0)
    if not 1 <= count <= 200_000:
        raise clerk_error(422, "form_param_value_invalid", "is invalid", "count must be between 1 and 200000.", "count")
    started = time.perf_counter()
    ids = emulator().bulk_create_users(count, prefix=str(data.get("prefix") or "user"),
                                       domain=str(data.get("domain") or "example.test"))
    return jsonify(created=len(ids), first_id=ids[0], last_id=ids[-1], total_count=len(emulator().store.users),
                   seconds=round(time.perf_counter() - started, 3)), 201


@bp.post("/sessions")
def create_session():
    emu = emulator()
    data = body()
    if not isinstance(data.get("user_id"), str):
        raise clerk_error(422, "form_param_missing", "is missing", "user_id is required.", "user_id")
    session = emu.create_session(
        data["user_id"], user_agent=str(data.get("user_agent") or request.headers.get("User-Agent", "")),
        ip_address=str(data.get("ip_address") or request.remote_addr or "127.0.0.1"),
        city=data.get("city"), country=data.get("country"), task=session_task(data.get("task")),
        http=http_context())
    if data.get("factor_verification_age") is not None:
        session = emu.set_factor_verification_age(session["id"], factor_ages(data["factor_verification_age"]))
    lifetime = number(data, "lifetime")
    token = emu.mint_token(session, lifetime=None if lifetime is None else int(lifetime), azp=data.get("azp"))
    return jsonify(session=objects.render_session(session), token=token), 201


def factor_ages(value: Any) -> dict[str, int | None]:
    """`{first_factor, second_factor}`: minutes since each was verified, or null for never."""
    if not isinstance(value, dict) or not value or set(value) - {"first_factor", "second_factor"}:
        raise clerk_error(422, "form_param_value_invalid", "is invalid",
                          "factor_verification_age must be an object with first_factor and/or second_factor.",
                          "factor_verification_age")
    for factor, minutes in value.items():
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0):
            raise clerk_error(422, "form_param_value_invalid", "is invalid",
                              f"{factor} must be a number of minutes (0 or more) or null.", factor)
    return value


@bp.post("/sessions/<session_id>/verification")
def factor_verification(session_id: str):
    """Set how long ago the session's factors were verified, as if the person had signed in (or
    confirmed it was them) that many minutes ago; its tokens' `fva` follows."""
    emu = emulator()
    session = emu.set_factor_verification_age(session_id, factor_ages(body()))
    return jsonify(session=objects.render_session(session),
                   factor_verification_age=objects.factor_verification_age(session))


@bp.post("/sessions/<session_id>/tokens")
def mint_token(session_id: str):
    """A token for an existing session (any status): `lifetime` seconds, or explicit `iat`/`exp`/`nbf`,
    `azp`, `claims` to add or override (a null value removes a claim) and `header` parameters
    likewise (`{"cat": "cl_B7d4PD222AAA"}` makes it look like a JWT template's token)."""
    emu = emulator()
    data = body()
    session = emu.session(session_id)
    overrides = dict(data.get("claims") or {})
    for key in ("exp", "iat", "nbf"):
        if key in data:
            overrides[key] = None if data[key] is None else int(number(data, key))
    lifetime = number(data, "lifetime")
    now = overrides.get("iat")
    token = emu.key.session_token(
        user_id=session["user_id"], session_id=session["id"], issuer=emu.config.public_url,
        azp=data.get("azp", emu.config.app_origin),
        lifetime=emu.token_lifetime if lifetime is None else int(lifetime),
        now=now if isinstance(now, int) else None, overrides={**emu.session_claims(session), **overrides},
        header=dict(data.get("header") or {}))
    return jsonify(token=token, jwt=token)


@bp.post("/sessions/<session_id>/end")
def end_session(session_id: str):
    status = body().get("status", "ended")
    if status not in ("ended", "revoked", "removed"):
        raise clerk_error(422, "form_param_value_invalid", "is invalid", "status must be ended, revoked or removed.",
                          "status")
    return jsonify(objects.render_session(emulator().end_session(session_id, status, http_context())))


@bp.get("/webhooks")
def sent_webhooks():
    """The log of sent webhooks with their attempts; `?wait=<seconds>` waits for the queue to drain."""
    emu = emulator()
    wait = request.args.get("wait", type=float)
    idle = emu.webhooks.wait_idle(wait) if wait else emu.webhooks.pending == 0
    entries = emu.webhooks.entries()
    kind = request.args.get("type")
    if kind:
        entries = [entry for entry in entries if entry["type"] == kind]
    return jsonify(enabled=emu.webhooks.enabled, url=emu.webhooks.url, idle=idle, pending=emu.webhooks.pending,
                   retry_delays=list(emu.webhooks.retry_delays), deliveries=entries)


@bp.post("/webhooks/settings")
def webhook_settings():
    emu = emulator()
    data = body()
    if "enabled" in data:
        emu.webhooks.enabled = bool(data["enabled"])
    if "url" in data:
        emu.webhooks.url = data["url"] or None
    if "retry_delays" in data:
        delays = data["retry_delays"]
        if not isinstance(delays, list) or not all(isinstance(d, (int, float)) and d >= 0 for d in delays):
            raise clerk_error(422, "form_param_value_invalid", "is invalid",
                              "retry_delays must be a list of seconds.", "retry_delays")
        emu.webhooks.retry_delays = tuple(float(d) for d in delays)
    if "timeout" in data:
        emu.webhooks.timeout = float(number(data, "timeout"))
    return jsonify(enabled=emu.webhooks.enabled, url=emu.webhooks.url, retry_delays=list(emu.webhooks.retry_delays),
                   timeout=emu.webhooks.timeout)


@bp.delete("/webhooks")
def clear_webhooks():
    emulator().webhooks.clear()
    return jsonify(cleared=True)


@bp.get("/faults")
def list_faults():
    return jsonify(faults=list(emulator().faults))


@bp.post("/faults")
def add_fault():
    emu = emulator()
    try:
        fault = emu.add_fault(body())
    except (TypeError, ValueError) as exc:
        raise clerk_error(422, "form_param_value_invalid", "is invalid", str(exc), "mode") from None
    return jsonify(fault=fault, faults=list(emu.faults)), 201


@bp.delete("/faults")
def clear_faults():
    emulator().clear_faults()
    return jsonify(faults=[])


@bp.post("/settings")
def settings():
    emu = emulator()
    data = body()
    if "token_lifetime" in data:
        lifetime = int(number(data, "token_lifetime"))
        if lifetime < 1:
            raise clerk_error(422, "form_param_value_invalid", "is invalid", "token_lifetime must be positive.",
                              "token_lifetime")
        emu.token_lifetime = lifetime
    if "session_task" in data:
        emu.session_task = session_task(data["session_task"])
    if "usernames" in data:
        if data["usernames"] not in USERNAME_MODES:
            raise clerk_error(422, "form_param_value_invalid", "is invalid",
                              f"usernames must be one of {', '.join(USERNAME_MODES)}.", "usernames")
        emu.usernames = data["usernames"]
    return jsonify(token_lifetime=emu.token_lifetime, session_task=emu.session_task, usernames=emu.usernames)


def session_task(value: Any) -> str | None:
    if value is None or value in objects.SESSION_TASKS:
        return value
    raise clerk_error(422, "form_param_value_invalid", "is invalid",
                      f"task must be one of {', '.join(objects.SESSION_TASKS)}.", "task")


@bp.post("/reset")
def reset():
    emulator().reset()
    return jsonify(reset=True)
