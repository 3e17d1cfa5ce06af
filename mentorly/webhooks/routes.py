"""`POST /api/webhooks/clerk`: verify, record, apply, answer. The work is in `events`."""

from __future__ import annotations

import binascii
import json
import logging
import time
from typing import Any

from flask import Response, current_app, request
from svix.webhooks import Webhook, WebhookVerificationError

from ..extensions import csrf, db
from . import bp
from .events import TransientError, parse_envelope, process_event, subject_id

log = logging.getLogger("mentorly.webhooks")
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


def _verifier() -> Webhook:
    # One verifier per app: decoding the secret is not per-request work.
    verifier = current_app.extensions.get("mentorly.webhook_verifier")
    if verifier is None:
        verifier = Webhook(current_app.config["CLERK_WEBHOOK_SIGNING_SECRET"])
        current_app.extensions["mentorly.webhook_verifier"] = verifier
    return verifier


def _answer(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    # Straight to a Response: jsonify's provider machinery costs more than the rest of a
    # small answer, on the one endpoint that runs at Svix's pace.
    return current_app.response_class(json.dumps(body), status, headers, mimetype="application/json")


def _refuse(reason: str, svix_id: str | None, started: float) -> Response:
    log.info("webhook refused svix_id=%s reason=%r ms=%.1f", svix_id, reason, (time.perf_counter() - started) * 1000)
    return _answer({"error": reason}, 400)


@bp.post("/api/webhooks/clerk")
@csrf.exempt
def clerk_webhook():
    started = time.perf_counter()
    headers = {name: request.headers.get(name, "") for name in SVIX_HEADERS}
    svix_id = headers["svix-id"] or None
    missing = [name for name, value in headers.items() if not value]
    if missing:
        return _refuse(f"missing header(s): {', '.join(missing)}", svix_id, started)
    if len(headers["svix-id"]) > 255 or not headers["svix-id"].isprintable():
        return _refuse("svix-id is not a valid message id", None, started)

    body = request.get_data(cache=False)  # the raw bytes: the signature covers exactly these
    try:
        _verifier().verify(body, headers)
    except (WebhookVerificationError, ValueError, binascii.Error, TypeError) as exc:
        return _refuse(f"signature verification failed: {exc}", svix_id, started)
    try:
        text, envelope = parse_envelope(body)
    except ValueError as exc:
        return _refuse(str(exc), svix_id, started)

    try:
        outcome = process_event(db.engine, headers["svix-id"], text, envelope)
    except TransientError as exc:
        event_type = str(envelope.get("type"))[:100]
        log.warning(
            "webhook type=%r svix_id=%s clerk_id=%s outcome=retry-later reason=%r ms=%.1f",
            event_type, svix_id, subject_id(event_type, envelope.get("data")), str(exc),
            (time.perf_counter() - started) * 1000,
        )
        return _answer({"error": "database unavailable, retry later"}, 503, {"Retry-After": "5"})

    log.info(
        "webhook type=%r svix_id=%s clerk_id=%s outcome=%s ms=%.1f",
        str(envelope.get("type"))[:100], svix_id, outcome.clerk_id, outcome.status,
        (time.perf_counter() - started) * 1000,
    )
    answer = {"status": outcome.status}
    if outcome.error:
        answer["reason"] = outcome.error
    return _answer(answer, 200)
