"""Arbitrary validly signed JSON objects: never a 500, never a partial row, every delivery recorded."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st

from .webhook_support import BASE_MS, event_row, user_row, users_snapshot

from mentorly.extensions import db
from mentorly.models import User, WebhookEvent
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


def clerk_event_strategy(wild: bool) -> st.SearchStrategy:
    """Events shaped like Clerk's. Tame: every value one Clerk could send. Wild: any value may be
    any JSON at all. A few ids, emails and usernames, so deliveries collide, hand over and go stale."""

    def value(plausible: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(plausible, plausible, json_values) if wild else plausible

    clerk_ids = value(st.sampled_from(["user_a", "user_b", "user_c"]))
    emails = value(st.sampled_from(["a@example.org", "A@Example.org", "b@example.org", "ü@exemple.de", "Ü@exemple.de"]))
    usernames = value(st.sampled_from(["ada", "ADA", "bob", "Ünal", None]))
    millis = value(st.integers(min_value=BASE_MS, max_value=BASE_MS + 4))
    if wild:
        millis = millis | st.integers(min_value=-5, max_value=2**64)
    email_entries = st.lists(
        st.fixed_dictionaries(
            {"id": value(st.sampled_from(["idn_1", "idn_2"])), "email_address": emails},
            optional={"verification": value(st.fixed_dictionaries({"status": st.sampled_from(["verified", "unverified"])}))},
        ),
        max_size=2,
    )
    external_accounts = st.lists(
        st.fixed_dictionaries(
            {"id": value(st.just("eac_1")), "provider": value(st.sampled_from(["oauth_google", "oauth_github"]))},
            optional={"email_address": emails, "username": usernames, "verification": value(st.just({"status": "verified"}))},
        ),
        max_size=2,
    )
    user_fields = {
        "object": st.just("user"),
        "created_at": millis,
        "last_sign_in_at": value(st.none()) | millis,
        "last_active_at": value(st.none()) | millis,
        "email_addresses": value(email_entries),
        "primary_email_address_id": value(st.sampled_from(["idn_1", "idn_2", None])),
        "username": usernames,
        "first_name": value(st.text(max_size=40)) | (st.text(min_size=250, max_size=300) if wild else st.none()),
        "last_name": value(st.none() | st.text(max_size=20)),
        "image_url": value(st.just("https://img.clerk.com/x")),
        "password_enabled": value(st.booleans()),
        "two_factor_enabled": value(st.booleans()),
        "external_accounts": value(external_accounts),
    }
    if wild:
        user_fields.update(updated_at=millis, deleted=value(st.booleans()))
        users = st.fixed_dictionaries({"id": clerk_ids}, optional=user_fields)
    else:
        users = st.fixed_dictionaries({"id": clerk_ids, "updated_at": millis}, optional=user_fields)
    deleted_users = st.fixed_dictionaries({"id": clerk_ids, "object": st.just("user"), "deleted": st.just(True)})
    sessions = st.fixed_dictionaries(
        {"user_id": clerk_ids, "object": st.just("session")},
        optional={"last_active_at": millis, "user": value(users), "status": value(st.just("active"))},
    )
    envelope_fields = {"object": st.just("event"), "timestamp": millis, "instance_id": value(st.just("ins_1"))}
    if wild:
        data = value(st.one_of(users, deleted_users, sessions))
        return st.fixed_dictionaries({"type": value(st.sampled_from(EVENT_TYPES)), "data": data}, optional=envelope_fields)

    def tame(event_type: str) -> st.SearchStrategy:
        if event_type.startswith("user."):
            data = deleted_users if event_type == "user.deleted" else users
        else:
            data = sessions if event_type.startswith("session.") else st.one_of(users, sessions)
        return st.fixed_dictionaries({"type": st.just(event_type), "data": data}, optional=envelope_fields)

    # Deletions are final, so they come less often than the rest.
    weighted = ["user.created", "user.updated", "user.updated", "session.created"] + EVENT_TYPES
    return st.sampled_from(weighted).flatmap(tame)


clerk_events = st.one_of(clerk_event_strategy(wild=False), clerk_event_strategy(wild=False), clerk_event_strategy(wild=True))


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
        kind = envelope.get("type") if envelope.get("type") in EVENT_TYPES else "other"
        note_outcome(f"{kind if fresh else 'retry'} -> {outcome}")
        # Exactly one record per distinct svix-id.
        assert self.count_events() == events_before + (1 if fresh else 0)
        record = event_row(self.app, msg_id)
        assert record is not None and record.payload == body
        if not fresh:
            assert outcome == "duplicate"
        else:
            assert record.status == outcome
            if outcome in {"failed", "stale"}:
                assert record.error, "a failed or stale delivery says why"
            elif outcome == "applied":
                assert record.error is None
        if outcome != "applied":
            assert users_snapshot(self.app) == users_before, f"{outcome} delivery changed users: {body}"
            return
        # Applied: the row says what the event said, whole.
        data = json.loads(body)["data"]
        if record.type in ("user.created", "user.updated"):
            user = user_row(self.app, data["id"])
            assert user is not None and user.deleted_at is None
            assert user.clerk_updated_at == data["updated_at"]
            username = data.get("username") or None
            # A username another user holds from a later event stays theirs (this event is late).
            if username is not None and self.held_by_a_later_event(data["id"], username, data["updated_at"]):
                username = None
            assert user.username == username
        elif record.type == "user.deleted":
            user = user_row(self.app, data["id"])
            assert user.deleted_at is not None and user.email is None and user.username is None
        elif record.type == "session.created":
            user = user_row(self.app, data["user_id"])
            assert user is not None and user.deleted_at is None and user.last_active_at is not None
        else:
            raise AssertionError(f"{record.type} cannot be applied")


    def held_by_a_later_event(self, clerk_id: str, username: str, updated_at: int) -> bool:
        with self.app.app_context():
            return db.session.execute(
                select(User.id).where(
                    func.lower(User.username) == func.lower(username), User.clerk_id != clerk_id,
                    User.deleted_at.is_(None), User.clerk_updated_at > updated_at,
                )
            ).first() is not None


@SETTINGS
@given(envelope=json_objects, ascii_only=st.booleans())
def test_arbitrary_json_objects(app, client, svix, envelope, ascii_only):
    # Every body is an object, so nothing here is refused: each one is recorded exactly once.
    Deliverer(app, client, svix).deliver(envelope, ascii_only, None)


@SETTINGS
@given(deliveries=st.lists(st.tuples(clerk_events, st.booleans(), st.none() | st.none() | st.integers(0, 20)), min_size=1, max_size=4))
def test_clerk_shaped_events_with_arbitrary_values(app, client, svix, deliveries):
    deliverer = Deliverer(app, client, svix)
    # Each example gets its own three users (they collide within it, not with earlier tombstones).
    namespace = uuid.uuid4().hex[:8]
    for envelope, ascii_only, repeat in deliveries:
        text = json.dumps(envelope)
        for name in ("user_a", "user_b", "user_c"):
            text = text.replace(f'"{name}"', f'"{name}_{namespace}"')
        deliverer.deliver(json.loads(text), ascii_only, repeat)
