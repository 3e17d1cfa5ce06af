"""The Backend API subset under `/v1`, at Clerk's paths and in Clerk's shapes."""

from __future__ import annotations

import hmac
import io
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from PIL import Image, UnidentifiedImageError

from . import objects
from .core import MAX_IMAGE_BYTES, Emulator
from .errors import ClerkAPIError, clerk_error, error_item

bp = Blueprint("emulator_api", __name__, url_prefix="/v1")
IMAGE_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
ORDERABLE = {"created_at", "updated_at", "email_address", "first_name", "last_name", "username",
             "last_active_at", "last_sign_in_at"}
SESSION_STATUSES = {"abandoned", "active", "ended", "expired", "removed", "replaced", "revoked", "pending"}


def emulator() -> Emulator:
    return current_app.extensions["mentorly.emulator"]


def http_context() -> dict[str, str]:
    """`event_attributes.http_request` for the webhook this request causes."""
    return {"client_ip": request.remote_addr or "", "user_agent": request.headers.get("User-Agent", "")}


@bp.before_request
def authenticate_and_inject_faults():
    emu = emulator()
    if request.method == "OPTIONS":
        return None
    fault = emu.take_fault(request.method, request.path)
    if fault is not None:
        # A timeout sleeps longer than the client waits; the others may be slow too if asked.
        if fault["delay"]:
            time.sleep(fault["delay"])
        if fault["mode"] == "timeout":
            raise clerk_error(fault["status"], "gateway_timeout", "Gateway timeout",
                              "The request took too long and was aborted.")
        if fault["mode"] == "rate_limit":
            raise clerk_error(429, "too_many_requests", "Too many requests",
                              f"Rate limit exceeded, retry in {fault['retry_after']} seconds.",
                              headers={"Retry-After": str(fault["retry_after"])})
        raise clerk_error(fault["status"], "internal_clerk_error", "Oops, an unexpected error occurred",
                          "There was an internal error on our servers. We've been notified and are working on fixing it.")
    if request.path == "/v1/jwks":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise clerk_error(401, "authentication_invalid", "Invalid authentication",
                          "Unable to authenticate the request, you need to supply an active API key.")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), emu.config.secret_key.encode()):
        raise clerk_error(401, "authentication_invalid", "Invalid authentication",
                          "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.")
    return None


def json_body() -> dict[str, Any]:
    """The request's parameters: a JSON object, or a form (Clerk's SDKs send JSON)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.to_dict()
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise clerk_error(400, "malformed_request", "malformed request",
                          "The request body is not a JSON object.")
    return body


def int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise clerk_error(422, "form_param_format_invalid", "is invalid",
                          f"{name} must be an integer.", name) from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise clerk_error(422, "form_param_value_invalid", "is invalid", f"{name} must be {bounds}.", name)
    return value


def listed(name: str) -> list[str]:
    values = request.args.getlist(name) + request.args.getlist(name + "[]")
    return [value for value in values if value]


def filtered_users(emu: Emulator) -> list[dict[str, Any]]:
    users = list(emu.store.users.values())
    emails = {value.lower() for value in listed("email_address")}
    if emails:
        users = [u for u in users if any(e["email_address"].lower() in emails for e in u["email_addresses"])]
    usernames = {value.lower() for value in listed("username")}
    if usernames:
        users = [u for u in users if (u.get("username") or "").lower() in usernames]
    ids = listed("user_id")
    include = {value.lstrip("+") for value in ids if not value.startswith("-")}
    exclude = {value[1:] for value in ids if value.startswith("-")}
    if include:
        users = [u for u in users if u["id"] in include]
    if exclude:
        users = [u for u in users if u["id"] not in exclude]
    external = listed("external_id")
    if external:
        wanted = {value.lstrip("+") for value in external}
        users = [u for u in users if u.get("external_id") in wanted]
    query = (request.args.get("query") or "").strip().lower()
    if query:
        def matches(user: dict[str, Any]) -> bool:
            haystack = [user["id"], user.get("username") or "", user.get("first_name") or "",
                        user.get("last_name") or "", *(e["email_address"] for e in user["email_addresses"])]
            return any(query in value.lower() for value in haystack)
        users = [u for u in users if matches(u)]
    return users


def order_value(user: dict[str, Any], field: str) -> Any:
    if field == "email_address":
        return next((e["email_address"].lower() for e in user["email_addresses"]
                     if e["id"] == user["primary_email_address_id"]), None)
    value = user.get(field)
    return value.lower() if isinstance(value, str) else value


@bp.get("/users")
def list_users():
    emu = emulator()
    limit = int_param("limit", 10, 1, 500)
    offset = int_param("offset", 0, 0)
    order_by = request.args.get("order_by") or "-created_at"
    descending = order_by.startswith("-")
    field = order_by.lstrip("+-")
    if field not in ORDERABLE:
        raise clerk_error(422, "form_param_value_invalid", "is invalid",
                          f"order_by must be one of {', '.join(sorted(ORDERABLE))}, optionally prefixed with + or -.",
                          "order_by")
    starting_after = request.args.get("starting_after")
    if starting_after and field != "created_at":
        raise clerk_error(422, "form_param_value_invalid", "is invalid",
                          "starting_after requires ordering by created_at.", "starting_after")
    if starting_after and offset:
        raise clerk_error(422, "form_param_value_invalid", "is invalid",
                          "starting_after cannot be combined with a non-zero offset.", "offset")
    with emu.store.lock:
        users = filtered_users(emu)
        # Ties break by creation order; users without the value come last in either direction.
        present = [u for u in users if order_value(u, field) is not None]
        missing = [u for u in users if order_value(u, field) is None]
        present.sort(key=lambda u: (order_value(u, field), emu.store.seq(u["id"])),
                     reverse=descending)
        missing.sort(key=lambda u: emu.store.seq(u["id"]))
        users = present + missing
        if starting_after:
            position = next((i for i, u in enumerate(users) if u["id"] == starting_after), None)
            if position is None:
                raise clerk_error(422, "form_param_value_invalid", "is invalid",
                                  "starting_after is not the id of a user in this list.", "starting_after")
            users = users[position + 1:]
        page = users[offset:offset + limit]
        return jsonify([emu.render(user) for user in page])


@bp.get("/users/count")
def count_users():
    emu = emulator()
    with emu.store.lock:
        return jsonify({"object": "total_count", "total_count": len(filtered_users(emu))})


@bp.get("/users/<user_id>")
def get_user(user_id: str):
    emu = emulator()
    return jsonify(emu.render(emu.user(user_id)))


@bp.patch("/users/<user_id>")
def update_user(user_id: str):
    emu = emulator()
    emu.user(user_id)
    return jsonify(emu.update_user(user_id, json_body(), http_context()))


@bp.delete("/users/<user_id>")
def delete_user(user_id: str):
    return jsonify(emulator().delete_user(user_id, http_context()))


@bp.patch("/users/<user_id>/metadata")
def update_metadata(user_id: str):
    emu = emulator()
    emu.user(user_id)
    return jsonify(emu.update_metadata(user_id, json_body(), http_context()))


@bp.post("/users/<user_id>/profile_image")
def set_profile_image(user_id: str):
    emu = emulator()
    emu.user(user_id)
    upload = request.files.get("file")
    if upload is None:
        raise clerk_error(400, "form_param_missing", "is missing",
                          "file must be included: send the image as multipart/form-data in a field named file.", "file")
    data = upload.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise clerk_error(400, "image_too_large", "is too large",
                          f"The image must be at most {MAX_IMAGE_BYTES:,} bytes.", "file")
    if not data:
        raise clerk_error(400, "form_param_missing", "is missing", "The uploaded file is empty.", "file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        image_format = None
    if image_format not in IMAGE_FORMATS:
        raise clerk_error(400, "unsupported_image_type", "is not a supported image",
                          "The file must be a PNG, JPEG, GIF or WebP image.", "file")
    return jsonify(emu.set_profile_image(user_id, data, image_format, http_context()))


@bp.delete("/users/<user_id>/profile_image")
def delete_profile_image(user_id: str):
    return jsonify(emulator().delete_profile_image(user_id, http_context()))


@bp.get("/sessions")
def list_sessions():
    emu = emulator()
    limit = int_param("limit", 10, 1, 500)
    offset = int_param("offset", 0, 0)
    status = request.args.get("status")
    if status and status not in SESSION_STATUSES:
        raise clerk_error(422, "form_param_value_invalid", "is invalid",
                          f"status must be one of {', '.join(sorted(SESSION_STATUSES))}.", "status")
    user_id = request.args.get("user_id")
    client_id = request.args.get("client_id")
    with emu.store.lock:
        sessions = [emu.session(s["id"]) for s in emu.store.sessions.values()]
    if user_id:
        sessions = [s for s in sessions if s["user_id"] == user_id]
    if client_id:
        sessions = [s for s in sessions if s["client_id"] == client_id]
    if status:
        sessions = [s for s in sessions if s["status"] == status]
    sessions.sort(key=lambda s: (s["created_at"], emu.store.seq(s["id"])), reverse=True)
    return jsonify([objects.render_session(s) for s in sessions[offset:offset + limit]])


@bp.get("/sessions/<session_id>")
def get_session(session_id: str):
    return jsonify(objects.render_session(emulator().session(session_id)))


@bp.post("/sessions/<session_id>/revoke")
def revoke_session(session_id: str):
    return jsonify(objects.render_session(emulator().end_session(session_id, "revoked", http_context())))


@bp.get("/jwks")
def jwks():
    return jsonify(emulator().key.jwks())


@bp.route("/<path:rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown(rest: str):
    raise ClerkAPIError(404, [error_item("resource_not_found", "not found",
                                         f"No Backend API endpoint /v1/{rest} in the emulator.")])
