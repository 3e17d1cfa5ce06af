"""The Svix signature check: what passes, and everything that must be refused with 400 and no trace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from svix.webhooks import Webhook

from .conftest import CLERK_DIR, WEBHOOK_SECRET, Svix
from .webhook_support import assert_nothing_written, clerk_user, event, event_row, user_row

pytestmark = pytest.mark.postgres

VECTORS = json.loads((CLERK_DIR / "svix_signature_test_vectors.json").read_text())["vectors"]
URL = "/api/webhooks/clerk"


def fresh_body(clerk_id: str = "user_signature_test") -> str:
    return json.dumps(event("user.created", clerk_user(clerk_id, email="sig@example.org")))


def signed_headers(body: str, *, msg_id: str | None = None, at: datetime | None = None, secret: str = WEBHOOK_SECRET):
    return Svix(secret).headers(body, msg_id or f"msg_{uuid.uuid4().hex}", at)


# --- The published vectors -------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["svix_id"] for v in VECTORS])
def test_svix_sign_reproduces_the_published_vector(vector):
    at = datetime.fromtimestamp(int(vector["svix_timestamp"]), UTC)
    signature = Webhook(vector["secret"]).sign(vector["svix_id"], at, vector["body"])
    assert signature == vector["expected_signature_header"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["svix_id"] for v in VECTORS])
def test_vector_matches_a_plain_hmac_of_id_timestamp_and_raw_body(vector):
    key = base64.b64decode(vector["secret"].removeprefix("whsec_") + "==")
    if "secret_key_bytes_hex" in vector:
        assert key.hex() == vector["secret_key_bytes_hex"]
    content = f"{vector['svix_id']}.{vector['svix_timestamp']}.{vector['body']}"
    if "signed_content" in vector:
        assert content == vector["signed_content"]
    digest = hmac.new(key, content.encode(), hashlib.sha256).digest()
    assert "v1," + base64.b64encode(digest).decode() == vector["expected_signature_header"]


@pytest.fixture
def vector_app(make_app):
    """An app holding the vector's signing secret, so its deliveries verify against our endpoint."""
    vector = VECTORS[1]
    return make_app(CLERK_WEBHOOK_SIGNING_SECRET=vector["secret"]), vector


@pytest.mark.parametrize("order", ["stale-first", "valid-first", "with-v2-entry"])
def test_rotation_header_with_several_entries_passes_if_any_v1_matches(vector_app, order):
    app, vector = vector_app
    now = datetime.now(UTC)
    # The vector's own timestamp is long past the 5-minute window, so the body is re-signed now.
    current = Webhook(vector["secret"]).sign(vector["svix_id"], now, vector["body"])
    stale = vector["rotation_example_header"].split(" ")[0]
    header = {
        "stale-first": f"{stale} {current}",
        "valid-first": f"{current} {stale}",
        "with-v2-entry": f"v2,{current.split(',')[1]} {stale} {current}",
    }[order]
    response = app.test_client().post(
        URL,
        data=vector["body"],
        headers={
            "svix-id": vector["svix_id"],
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": header,
            "content-type": "application/json",
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "applied"}
    tombstone = user_row(app, "user_2xMentorlyTestUser00001")
    assert tombstone is not None and tombstone.deleted_at is not None
    assert event_row(app, vector["svix_id"]).payload == vector["body"]


def test_the_vector_header_alone_is_refused_once_its_timestamp_is_old(vector_app):
    app, vector = vector_app
    response = app.test_client().post(
        URL,
        data=vector["body"],
        headers={
            "svix-id": vector["svix_id"],
            "svix-timestamp": vector["svix_timestamp"],
            "svix-signature": vector["expected_signature_header"],
        },
    )
    assert response.status_code == 400
    assert_nothing_written(app)


def test_rotation_header_with_no_matching_entry_is_refused(vector_app):
    app, vector = vector_app
    now = datetime.now(UTC)
    response = app.test_client().post(
        URL,
        data=vector["body"],
        headers={
            "svix-id": vector["svix_id"],
            "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": vector["rotation_example_header"],  # signed for the old timestamp
        },
    )
    assert response.status_code == 400
    assert_nothing_written(app)


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(app, client):
    # Whitespace and key order a re-serialiser would change: the bytes as sent are what verify.
    body = '{ "type" : "user.created",\n  "object":"event", "data": ' + json.dumps(clerk_user("user_raw")) + "}"
    response = client.post(URL, data=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert response.get_json()["status"] == "applied"
    reserialised = json.dumps(json.loads(body))
    response = client.post(URL, data=reserialised, headers=signed_headers(body))
    assert response.status_code == 400


# --- Refusals: 400 and nothing written ---------------------------------------------------------


def _refusal_cases():
    def no_headers():
        return fresh_body(), {}

    def missing(name):
        def case():
            body = fresh_body()
            headers = signed_headers(body)
            del headers[name]
            return body, headers

        return case

    def wrong_secret():
        body = fresh_body()
        other = "whsec_" + base64.b64encode(b"another-secret-entirely-32bytes!").decode()
        return body, signed_headers(body, secret=other)

    def body_changed_after_signing():
        body = fresh_body()
        headers = signed_headers(body)
        return body.replace("sig@example.org", "evil@example.org"), headers

    def at(delta):
        def case():
            body = fresh_body()
            # The clock is read when the case runs, not when tests are collected.
            return body, signed_headers(body, at=datetime.now(UTC) + delta)

        return case

    def signature(value):
        def case():
            body = fresh_body()
            headers = signed_headers(body)
            headers["svix-signature"] = value
            return body, headers

        return case

    def timestamp(value):
        def case():
            body = fresh_body()
            headers = signed_headers(body)
            headers["svix-timestamp"] = value
            return body, headers

        return case

    def signed(body):
        def case():
            return body, signed_headers(body)

        return case

    def another_id():
        body = fresh_body()
        headers = signed_headers(body, msg_id="msg_original")
        headers["svix-id"] = "msg_replayed_under_another_id"
        return body, headers

    def overlong_id():
        body = fresh_body()
        return body, signed_headers(body, msg_id="msg_" + "x" * 300)

    return {
        "no-headers": no_headers,
        "no-svix-id": missing("svix-id"),
        "no-svix-timestamp": missing("svix-timestamp"),
        "no-svix-signature": missing("svix-signature"),
        "wrong-secret": wrong_secret,
        "body-changed-after-signing": body_changed_after_signing,
        "six-minutes-old": at(-timedelta(minutes=6)),
        "six-minutes-ahead": at(timedelta(minutes=6)),
        "signature-garbage": signature("garbage"),
        "signature-v1-bad": signature("v1,bad"),
        "signature-empty": signature(""),
        "signature-v1-empty": signature("v1,"),
        "signature-too-many-commas": signature("v1,a,b"),
        "signature-only-v2": signature("v2," + base64.b64encode(b"x" * 32).decode()),
        "timestamp-not-a-number": timestamp("soon"),
        "timestamp-nan": timestamp("nan"),
        "timestamp-huge": timestamp("1" + "0" * 30),
        "id-changed-after-signing": another_id,
        "id-too-long": overlong_id,
        "not-json": signed("this is not json"),
        "truncated-json": signed('{"type": "user.created", "data": {'),
        "json-array": signed(json.dumps([event("user.created", clerk_user("user_in_array"))])),
        "json-string": signed('"user.created"'),
        "json-null": signed("null"),
        "json-number": signed("42"),
        "empty-body": signed(""),
    }


REFUSALS = _refusal_cases()


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_with_400_and_nothing_written(app, client, case):
    body, headers = REFUSALS[case]()
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 400, (case, response.get_json())
    assert "error" in response.get_json()
    assert_nothing_written(app)


def test_a_signed_body_that_is_not_utf8_is_refused(app, client):
    # svix's sign() takes text, so this one is signed by hand, exactly as Svix would.
    body = b'{"type": "user.created", "data": {"id": "user_\xff"}}'
    msg_id, stamp = "msg_latin1", str(int(datetime.now(UTC).timestamp()))
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_") + "==")
    digest = hmac.new(key, msg_id.encode() + b"." + stamp.encode() + b"." + body, hashlib.sha256).digest()
    headers = {"svix-id": msg_id, "svix-timestamp": stamp, "svix-signature": "v1," + base64.b64encode(digest).decode()}
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 400
    assert_nothing_written(app)


def test_timestamps_just_inside_the_window_pass(app, client):
    for delta in (timedelta(minutes=-4, seconds=-30), timedelta(minutes=4, seconds=30)):
        body = json.dumps(event("user.created", clerk_user(f"user_window_{delta.total_seconds():.0f}")))
        response = client.post(URL, data=body, headers=signed_headers(body, at=datetime.now(UTC) + delta))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "applied"


def test_get_is_not_a_delivery(app, client):
    assert client.get(URL).status_code == 405
