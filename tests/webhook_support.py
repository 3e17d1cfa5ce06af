"""Builders for Clerk events and small readers of the two tables, used by the webhook tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from mentorly.extensions import db
from mentorly.models import User, WebhookEvent

BASE_MS = 1_716_883_200_000  # 2024-05-28T08:00:00Z, Clerk's example instant


def ms_to_datetime(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were stored as UTC); PostgreSQL aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def email_entry(address_id: str, address: str, status: str = "verified") -> dict[str, Any]:
    return {
        "id": address_id,
        "object": "email_address",
        "email_address": address,
        "linked_to": [],
        "verification": {"status": status, "strategy": "email_code"},
    }


def clerk_user(
    clerk_id: str,
    *,
    email: str | None = None,
    username: str | None = None,
    updated_at: int = BASE_MS,
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    **extra: Any,
) -> dict[str, Any]:
    """A Clerk User object as webhooks and the Backend API carry it."""
    addresses = [email_entry(f"idn_{clerk_id}_1", email)] if email else []
    user = {
        "object": "user",
        "id": clerk_id,
        "external_id": None,
        "primary_email_address_id": addresses[0]["id"] if addresses else None,
        "primary_phone_number_id": None,
        "username": username,
        "first_name": first_name,
        "last_name": last_name,
        "image_url": f"https://img.clerk.com/{clerk_id}",
        "profile_image_url": "https://www.gravatar.com/avatar?d=mp",
        "has_image": True,
        "public_metadata": {},
        "private_metadata": {},
        "unsafe_metadata": {},
        "email_addresses": addresses,
        "phone_numbers": [],
        "web3_wallets": [],
        "external_accounts": [],
        "password_enabled": True,
        "two_factor_enabled": False,
        "last_sign_in_at": updated_at,
        "last_active_at": updated_at,
        "created_at": BASE_MS,
        "updated_at": updated_at,
    }
    user.update(extra)
    return user


def event(event_type: str, data: dict[str, Any], timestamp: int | None = None) -> dict[str, Any]:
    return {
        "data": copy.deepcopy(data),
        "object": "event",
        "type": event_type,
        "instance_id": "ins_mentorly_test",
        "timestamp": timestamp if timestamp is not None else data.get("updated_at", BASE_MS),
    }


def deleted_event(clerk_id: str) -> dict[str, Any]:
    return event("user.deleted", {"object": "user", "id": clerk_id, "deleted": True}, BASE_MS)


def session_event(event_type: str, user_id: str, last_active_at: int | None, **data: Any) -> dict[str, Any]:
    session = {
        "object": "session",
        "id": f"sess_{user_id}",
        "user_id": user_id,
        "client_id": "client_test",
        "status": "active",
        "last_active_at": last_active_at,
        "created_at": BASE_MS,
        "updated_at": BASE_MS,
    }
    session.update(data)
    return event(event_type, session, BASE_MS)


def all_users(app) -> list[User]:
    with app.app_context():
        found = db.session.scalars(select(User).order_by(User.id)).all()
        db.session.expunge_all()
        return list(found)


def user_row(app, clerk_id: str) -> User | None:
    with app.app_context():
        found = db.session.scalars(select(User).where(User.clerk_id == clerk_id)).one_or_none()
        db.session.expunge_all()
        return found


def all_events(app) -> list[WebhookEvent]:
    with app.app_context():
        found = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
        db.session.expunge_all()
        return list(found)


def event_row(app, svix_id: str) -> WebhookEvent | None:
    with app.app_context():
        found = db.session.scalars(select(WebhookEvent).where(WebhookEvent.svix_id == svix_id)).one_or_none()
        db.session.expunge_all()
        return found


def users_snapshot(app) -> list[tuple[Any, ...]]:
    """Every column of every users row, to show that nothing at all changed."""
    table = User.__table__
    with app.app_context():
        with db.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]


def assert_nothing_written(app) -> None:
    assert all_users(app) == []
    assert all_events(app) == []
