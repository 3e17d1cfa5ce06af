"""The reference handler for the webhook benchmark: the least a correct endpoint must do.

A bare Flask view that verifies the Svix signature over the raw body, parses the JSON, picks the
fields Mentorly keeps from the Clerk user, and runs the product's two statements with psycopg in
one transaction (claim the `svix-id` in `webhook_events`, then the guarded upsert into `users`;
the product itself sends both, with the record's status, as one statement on PostgreSQL).
No ORM, no SQLAlchemy, no logging, one psycopg connection per server thread.

It handles only `user.created` / `user.updated`, which is all the benchmark sends. Run it with
`gunicorn --chdir bench reference_app:app`; it reads BENCH_PSYCOPG_URL and
CLERK_WEBHOOK_SIGNING_SECRET from the environment.
"""

from __future__ import annotations

import binascii
import json
import os
import threading
from datetime import UTC, datetime

import psycopg
from flask import Flask, jsonify, request
from svix.webhooks import Webhook, WebhookVerificationError

CLAIM = """
INSERT INTO webhook_events (svix_id, type, clerk_id, status, error, received_at, processed_at, payload)
VALUES (%s, %s, %s, 'applied', NULL, %s, %s, %s)
ON CONFLICT (svix_id) DO NOTHING
RETURNING id
"""

UPSERT = """
INSERT INTO users (clerk_id, email, email_verified, username, first_name, last_name, image_url,
                   password_enabled, two_factor_enabled, external_accounts, last_sign_in_at,
                   joined_at, clerk_updated_at, last_active_at, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::json, %s, %s, %s, %s, %s, %s)
ON CONFLICT (clerk_id) DO UPDATE SET
    email = excluded.email,
    email_verified = excluded.email_verified,
    username = excluded.username,
    first_name = excluded.first_name,
    last_name = excluded.last_name,
    image_url = excluded.image_url,
    password_enabled = excluded.password_enabled,
    two_factor_enabled = excluded.two_factor_enabled,
    external_accounts = excluded.external_accounts,
    last_sign_in_at = excluded.last_sign_in_at,
    joined_at = excluded.joined_at,
    clerk_updated_at = excluded.clerk_updated_at,
    updated_at = excluded.updated_at,
    last_active_at = CASE
        WHEN excluded.last_active_at IS NULL THEN users.last_active_at
        WHEN users.last_active_at IS NULL THEN excluded.last_active_at
        WHEN excluded.last_active_at > users.last_active_at THEN excluded.last_active_at
        ELSE users.last_active_at END
WHERE users.deleted_at IS NULL
  AND (users.clerk_updated_at IS NULL OR users.clerk_updated_at <= excluded.clerk_updated_at)
RETURNING id
"""

HEADERS = ("svix-id", "svix-timestamp", "svix-signature")

app = Flask(__name__)
verifier = Webhook(os.environ["CLERK_WEBHOOK_SIGNING_SECRET"])
conninfo = os.environ["BENCH_PSYCOPG_URL"]
local = threading.local()


def connection() -> psycopg.Connection:
    conn = getattr(local, "conn", None)
    if conn is None or conn.closed:
        conn = local.conn = psycopg.connect(conninfo, autocommit=True)
    return conn


def when(ms):
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


@app.get("/healthz")
def healthz():
    connection().execute("SELECT 1").fetchone()
    return jsonify(status="ok")


@app.post("/api/webhooks/clerk")
def clerk_webhook():
    headers = {name: request.headers.get(name, "") for name in HEADERS}
    body = request.get_data(cache=False)
    try:
        verifier.verify(body, headers)
    except (WebhookVerificationError, ValueError, binascii.Error, TypeError):
        return jsonify(error="bad signature"), 400
    text = body.decode("utf-8")
    envelope = json.loads(text)
    if not isinstance(envelope, dict) or envelope.get("type") not in ("user.created", "user.updated"):
        return jsonify(error="unsupported"), 400
    user = envelope["data"]

    email, verified = None, False
    for address in user.get("email_addresses") or ():
        if address.get("id") == user.get("primary_email_address_id"):
            email = address.get("email_address")
            verified = (address.get("verification") or {}).get("status") == "verified"
            break
    accounts = [
        {
            "id": account.get("id"),
            "provider": account.get("provider"),
            "email_address": account.get("email_address"),
            "username": account.get("username"),
            "verified": (account.get("verification") or {}).get("status") == "verified",
        }
        for account in user.get("external_accounts") or ()
    ]
    now = datetime.now(UTC)

    conn = connection()
    with conn.transaction():
        claimed = conn.execute(
            CLAIM, (headers["svix-id"], envelope["type"], user["id"], now, now, text)
        ).fetchone()
        if claimed is None:
            status = "duplicate"
        else:
            row = conn.execute(
                UPSERT,
                (
                    user["id"], email, verified, user.get("username"), user.get("first_name"),
                    user.get("last_name"), user.get("image_url"), bool(user.get("password_enabled")),
                    bool(user.get("two_factor_enabled")), json.dumps(accounts),
                    when(user.get("last_sign_in_at")), when(user.get("created_at")),
                    user["updated_at"], when(user.get("last_active_at")), now, now,
                ),
            ).fetchone()
            status = "applied" if row is not None else "stale"
            if row is None:
                conn.execute("UPDATE webhook_events SET status = 'stale' WHERE id = %s", claimed)
    return jsonify(status=status)
