"""Arbitrary validly signed JSON objects: never a 500, never a partial row, every delivery recorded."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .webhook_support import BASE_MS, event_row, user_row, users_snapshot

from mentorly.extensions import db
from mentorly.models import WebhookEvent
from sqlalchemy import func, select

URL = "/api/webhooks/clerk"
OUTCOMES = {"applied", "stale", "ignored", "failed", "duplicate"}
EVENT_TYPES = [
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.ended",
    "session.removed",
    "email.created",
]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- Strategies ----------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


def sometimes(plausible: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a value Clerk could send, sometimes anything at all."""
    return st.one_of(plausible, plausible, plausible, json_values)


# A few ids, emails and usernames so that deliveries collide, hand over and go stale.
clerk_ids = sometimes(st.sampled_from(["user_a", "user_b", "user_c"]))
emails = sometimes(st.sampled_from(["a@example.org", "A@Example.org", "b@example.org", "ü@exemple.de", "Ü@exemple.de"]))
usernames = sometimes(st.sampled_from(["ada", "ADA", "bob", "Ünal", None]))
millis = sometimes(st.integers(min_value=BASE_MS, max_value=BASE_MS + 4) | st.integers(min_value=-5, max_value=2**64))
email_entries = st.lists(
    st.fixed_dictionaries(
        {"id": sometimes(st.sampled_from(["idn_1", "idn_2"])), "email_address": emails},
        optional={"verification": sometimes(st.fixed_dictionaries({"status": st.sampled_from(["verified", "unverified"])}))},
    ),
    max_size=2,
)
external_accounts = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": sometimes(st.just("eac_1")),
            "provider": sometimes(st.sampled_from(["oauth_google", "oauth_github"])),
            "email_address": emails,
            "username": usernames,
            "verification": json_values,
        },
    ),
    max_size=2,
)
user_objects = st.fixed_dictionaries(
    {"id": clerk_ids},
    optional={
        "object": st.just("user"),
        "updated_at": millis,
        "created_at": millis,
        "last_sign_in_at": millis,
        "last_active_at": millis,
        "email_addresses": sometimes(email_entries),
        "primary_email_address_id": sometimes(st.sampled_from(["idn_1", "idn_2", None])),
        "username": usernames,
        "first_name": sometimes(st.text(max_size=300)),
        "last_name": sometimes(st.text(max_size=20)),
        "image_url": sometimes(st.just("https://img.clerk.com/x")),
        "password_enabled": sometimes(st.booleans()),
        "two_factor_enabled": sometimes(st.booleans()),
        "external_accounts": sometimes(external_accounts),
        "deleted": sometimes(st.booleans()),
    },
)
session_objects = st.fixed_dictionaries(
    {"user_id": clerk_ids},
    optional={"object": st.just("session"), "last_active_at": millis, "user": sometimes(user_objects), "status": json_values},
)
clerk_events = st.fixed_dictionaries(
    {
        "type": sometimes(st.sampled_from(EVENT_TYPES)) | st.text(max_size=120),
        "data": sometimes(user_objects | session_objects),
    },
    optional={"object": st.just("event"), "timestamp": millis, "instance_id": json_values},
)


# --- The check -----------------------------------------------------------------------------------


class Deliverer:
    """Posts signed deliveries and checks the invariants after each one."""

    def __init__(self, app, client, svix) -> None:
        self.app, self.client, self.svix = app, client, svix
        self.sent: list[tuple[str, str]] = []

    def count_events(self) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(WebhookEvent))

    def deliver(self, envelope: dict[str, Any], ascii_only: bool, repeat: int | None) -> None:
        if repeat is not None and self.sent:
            msg_id, body = self.sent[repeat % len(self.sent)]  # a Svix retry: same id, same bytes
        else:
            msg_id = f"msg_{uuid.uuid4().hex}"
            body = json.dumps(envelope, ensure_ascii=ascii_only)
            try:
                body.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates travel only as \u escapes
                body = json.dumps(envelope)
            self.sent.append((msg_id, body))
        fresh = event_row(self.app, msg_id) is None
        users_before, events_before = users_snapshot(self.app), self.count_events()

        response = self.client.post(URL, data=body.encode("utf-8"), headers=self.svix.headers(body, msg_id))

        assert response.status_code == 200, (response.status_code, response.get_data(as_text=True), body)
        outcome = response.get_json()["status"]
        assert outcome in OUTCOMES
        # Exactly one record per distinct svix-id.
        assert self.count_events() == events_before + (1 if fresh else 0)
        record = event_row(self.app, msg_id)
        assert record is not None and record.payload == body
        if not fresh:
            assert outcome == "duplicate"
        else:
            assert record.status == outcome
            assert (record.error is not None) == (outcome in {"failed", "stale"})
        if outcome != "applied":
            assert users_snapshot(self.app) == users_before, f"{outcome} delivery changed users: {body}"
            return
        # Applied: the row says what the event said, whole.
        data = json.loads(body)["data"]
        if record.type in ("user.created", "user.updated"):
            user = user_row(self.app, data["id"])
            assert user is not None and user.deleted_at is None
            assert user.clerk_updated_at == data["updated_at"]
            assert user.username == (data.get("username") or None)
        elif record.type == "user.deleted":
            user = user_row(self.app, data["id"])
            assert user.deleted_at is not None and user.email is None and user.username is None
        elif record.type == "session.created":
            user = user_row(self.app, data["user_id"])
            assert user is not None and user.deleted_at is None and user.last_active_at is not None
        else:
            raise AssertionError(f"{record.type} cannot be applied")


@SETTINGS
@given(envelope=json_objects, ascii_only=st.booleans(), repeat=st.none() | st.integers(0, 50))
def test_arbitrary_json_objects(app, client, svix, envelope, ascii_only, repeat):
    Deliverer(app, client, svix).deliver(envelope, ascii_only, None)
    # Every body is an object, so nothing here is refused: each one is recorded exactly once.


@SETTINGS
@given(deliveries=st.lists(st.tuples(clerk_events, st.booleans(), st.none() | st.none() | st.integers(0, 20)), min_size=1, max_size=6))
def test_clerk_shaped_events_with_arbitrary_values(app, client, svix, deliveries):
    deliverer = Deliverer(app, client, svix)
    for envelope, ascii_only, repeat in deliveries:
        deliverer.deliver(envelope, ascii_only, repeat)
