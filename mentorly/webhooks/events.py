"""Applying one verified Clerk event: record it by `svix-id` and apply its effect, atomically.

Svix delivers at least once and only roughly in order, so:
- the `webhook_events` row is claimed first (`ON CONFLICT DO NOTHING`): a repeated delivery,
  even a concurrent one, finds the id taken and changes nothing (on PostgreSQL a user event
  makes the claim, the upsert and the status one statement: `_user_event_statement`);
- the record and the change commit in one transaction: a crash leaves neither;
- what can never succeed is recorded `failed` with its reason and answered 200, so Svix stops;
- a database outage raises TransientError: the caller answers 503 and Svix retries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..clerk.objects import (
    ClerkObjectError,
    ClerkUser,
    clerk_id,
    envelope_millis,
    millis,
    millis_to_datetime,
    parse_user,
    storable,
)
from ..database import first_line, is_transient
from ..ended_sessions import SESSION_END_EVENTS, remember_ended_session
from ..models import User, WebhookEvent, utcnow
from ..users import (
    SyncResult,
    guarded_upsert,
    raise_last_active,
    run_with_hand_over,
    tombstone_user,
    upsert_clerk_user,
)

log = logging.getLogger(__name__)
events = WebhookEvent.__table__
users = User.__table__

USER_EVENTS = ("user.created", "user.updated")
STALE_REASON = "older than the stored user, or the user is deleted"


class TransientError(Exception):
    """The database could not be reached: nothing was written; the sender should retry."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # applied | stale | ignored | failed | duplicate
    clerk_id: str | None
    error: str | None = None


def _short(value: Any, length: int) -> str | None:
    if not isinstance(value, str) or not value or not storable(value):
        return None
    return value[:length]


def subject_id(event_type: str, data: Any) -> str | None:
    """The Clerk user the event is about, for the log and the record (best effort)."""
    if not isinstance(data, dict):
        return None
    key = "user_id" if event_type.startswith("session.") else "id"
    return _short(data.get(key), 64)


@cache
def _claim_statement(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(events).on_conflict_do_nothing(index_elements=[events.c.svix_id]).returning(events.c.id)


@cache
def _mark_statement():
    # A delivery that does not apply (stale, ignored) marks its record with this.
    return (
        update(events)
        .where(events.c.id == bindparam("event_id"))
        .values(status=bindparam("new_status"), error=bindparam("reason"))
    )


@cache
def _user_event_statement():
    """PostgreSQL: a user event's claim, upsert and status in one statement.

    The same three steps as `work` in `_process_event`, in one round trip: both the upsert and
    the record run only if the `svix-id` is not recorded yet, and the record's status says
    whether the upsert changed the row. Every part sees one snapshot, so the record is a plain
    INSERT: a concurrent delivery of the same id makes the whole statement fail on the unique
    index, nothing stays, and the caller takes the transactional path.
    """
    def bound(table, name: str):
        return bindparam(name, type_=table.c[name].type)

    unrecorded = ~select(events.c.id).where(events.c.svix_id == bound(events, "svix_id")).exists()
    user_columns = ("clerk_id", *ClerkUser.COLUMNS, "last_active_at", "created_at", "updated_at")
    user_values = select(*(bound(users, name) for name in user_columns)).where(unrecorded)
    upsert = guarded_upsert(
        postgresql.insert(users).from_select(user_columns, user_values, include_defaults=False)
    ).cte("upsert")
    applied = select(upsert.c.id).exists()
    record = select(
        bound(events, "svix_id"),
        bound(events, "type"),
        bound(users, "clerk_id"),
        case((applied, "applied"), else_="stale"),
        case((applied, None), else_=STALE_REASON),
        bound(events, "received_at"),
        bound(events, "processed_at"),
        bound(events, "payload"),
    ).where(unrecorded)
    record_columns = ("svix_id", "type", "clerk_id", "status", "error", "received_at", "processed_at", "payload")
    return (
        insert(events)
        .from_select(record_columns, record, include_defaults=False)
        .returning(events.c.status)
        .add_cte(upsert)
    )


def _user_event_at_once(engine: Engine, record: dict[str, Any], user: ClerkUser) -> Outcome | None:
    """A user event in one statement (`_user_event_statement`); None when it needs the full path.

    The full path settles what one statement cannot: an email or username a stale row still
    holds (the hand-over), or a concurrent delivery of the same id.
    """
    now = utcnow()
    values = user.row()
    values.update(
        svix_id=record["svix_id"],
        type=record["type"],
        received_at=record["received_at"],
        processed_at=now,
        payload=record["payload"],
        created_at=now,
        updated_at=now,
    )
    try:
        with engine.connect() as conn:
            # In autocommit the statement is the whole transaction: one round trip where
            # BEGIN, the statement and COMMIT take three, and still all or nothing.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            row = conn.execute(_user_event_statement(), values).first()
    except IntegrityError:
        return None
    if row is None:
        return Outcome("duplicate", user.clerk_id)
    status = row[0]
    return Outcome(status, user.clerk_id, STALE_REASON if status == "stale" else None)


def apply_event(
    conn: Connection, event_type: str, data: Any, envelope: dict[str, Any], hand_over: bool
) -> tuple[str, str | None]:
    """The event's effect; returns (status, reason). ClerkObjectError means it can never apply."""
    if event_type in USER_EVENTS:
        result = upsert_clerk_user(conn, parse_user(data), hand_over=hand_over)
        if result is SyncResult.STALE:
            return "stale", STALE_REASON
        return "applied", None
    if event_type == "user.deleted":
        tombstone_user(conn, clerk_id(data))
        return "applied", None
    if event_type == "session.created":
        user_id = clerk_id(data, "user_id")
        # Current payloads embed the user: a sign-in before user.created still yields a row.
        if isinstance(data.get("user"), dict):
            embedded = parse_user(data["user"])
            if embedded.clerk_id != user_id:
                raise ClerkObjectError("the embedded user is not the session's user_id")
            upsert_clerk_user(conn, embedded, hand_over=hand_over)
        active_ms = millis(data, "last_active_at") or envelope_millis(envelope.get("timestamp"))
        if active_ms is None:
            raise ClerkObjectError("session has no last_active_at")
        if not raise_last_active(conn, user_id, millis_to_datetime(active_ms)):
            return "ignored", "no live user for this session"
        return "applied", None
    if event_type in SESSION_END_EVENTS:
        # Its tokens may live on for a while: the next request with one is refused.
        remember_ended_session(conn, clerk_id(data), clerk_id(data, "user_id"), SESSION_END_EVENTS[event_type])
        return "applied", None
    return "ignored", None


def _record_failure(engine: Engine, row: dict[str, Any], reason: str) -> Outcome:
    row = dict(row, status="failed", error=reason[:2000], processed_at=utcnow())
    with engine.begin() as conn:
        claimed = conn.execute(_claim_statement(conn.dialect.name), row).first()
    return Outcome("failed" if claimed else "duplicate", row["clerk_id"], reason)


def process_event(engine: Engine, svix_id: str, body: str, envelope: dict[str, Any]) -> Outcome:
    """Record and apply one verified delivery. Raises TransientError if the database is down."""
    try:
        return _process_event(engine, svix_id, body, envelope)
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise TransientError(first_line(exc)) from exc
        raise


def _process_event(engine: Engine, svix_id: str, body: str, envelope: dict[str, Any]) -> Outcome:
    event_type = _short(envelope.get("type"), 100) or ""
    data = envelope.get("data")
    row = {
        "svix_id": svix_id,
        "type": event_type,
        "clerk_id": subject_id(event_type, data),
        "status": "applied",
        "error": None,
        "received_at": utcnow(),
        "processed_at": None,
        "payload": body,
    }

    def work(conn: Connection, hand_over: bool) -> Outcome:
        claimed = conn.execute(_claim_statement(conn.dialect.name), dict(row, processed_at=utcnow())).first()
        if claimed is None:
            return Outcome("duplicate", row["clerk_id"])
        status, reason = apply_event(conn, event_type, data, envelope, hand_over)
        if status != "applied":
            conn.execute(_mark_statement(), {"event_id": claimed[0], "new_status": status, "reason": reason})
        return Outcome(status, row["clerk_id"], reason)

    try:
        if not event_type:
            return _record_failure(engine, row, "the event has no type")
        if event_type in USER_EVENTS and engine.dialect.name == "postgresql":
            outcome = _user_event_at_once(engine, row, parse_user(data))
            if outcome is not None:
                return outcome
        return run_with_hand_over(engine, work)
    except ClerkObjectError as exc:
        return _record_failure(engine, row, f"invalid {event_type} payload: {exc}")
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise
        # Refused for what it is (a value that does not fit, say): retrying cannot help, so
        # record it and let Svix stop.
        return _record_failure(engine, row, f"database refused the event: {type(getattr(exc, 'orig', None) or exc).__name__}")


def parse_envelope(body: bytes) -> tuple[str, dict[str, Any]]:
    """The body as text and as its JSON object; ValueError if it is not a UTF-8 JSON object."""
    try:
        text_body = body.decode("utf-8")
        envelope = json.loads(text_body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError("body is not valid UTF-8 JSON") from exc
    if not isinstance(envelope, dict):
        raise ValueError("body is not a JSON object")
    return text_body, envelope
