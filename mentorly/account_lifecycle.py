"""The two ends a person can ask of their account: a copy of their data, and its deletion.

Both serve the person (Settings → Security) and an operator acting on a person's request
(`flask users export` / `flask users delete`), through the same two functions, so the file a
person downloads and the one support sends are the same, and a deletion ends the same way.

The export (`account_export`) is one JSON object, version 1:

    format              "mentorly.account-export"
    version             1
    generated_at        when the file was made (ISO 8601, UTC)
    sources             where the fields come from, in words, and `clerk_fields`: the names of
                        the fields under "clerk"
    account             Mentorly's record: clerk_id, created_at, updated_at, deleted_at
    clerk               copied from Clerk (the sign-in provider) as last received: email and
                        whether it is verified, username, names, image_url and has_image, password and
                        two-factor status, connected accounts, joined_at, last_sign_in_at,
                        last_active_at, clerk_updated_at (Clerk's updated_at, milliseconds)
    profile             bio, website, location, timezone
    onboarding          completed, steps_completed, goal, interests
    notifications       each event's channels ({"replies": {"email": true, ...}}), digest_frequency
    appearance          theme, reduced_motion
    progress            points, level
    webhook_deliveries  Clerk's webhook deliveries about this person: type, received_at, status

Deletion (`delete_account`) asks Clerk first (`DELETE /users/{id}`, which ends every session) and
only when Clerk has answered tombstones the row through `delete_user_from_db`, exactly as a
`user.deleted` webhook does. If Clerk cannot be reached or refuses, nothing changes here.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from .clerk.client import ClerkAPIError, ClerkNotFound, ClerkUnavailable, clerk_client
from .clerk.objects import ClerkUser
from .extensions import db
from .models import NOTIFICATION_CHANNELS, NOTIFICATION_DEFAULTS, NOTIFICATION_EVENTS, NotificationSettings, User, WebhookEvent, utcnow
from .users import delete_user_from_db

log = logging.getLogger(__name__)

EXPORT_FORMAT = "mentorly.account-export"
EXPORT_VERSION = 1
# The Clerk-owned columns (the ones only a Clerk user object writes), plus the last activity
# Clerk reports.
CLERK_FIELDS = (*ClerkUser.COLUMNS, "last_active_at")
DIGEST_DEFAULT = NotificationSettings.__table__.c.digest_frequency.default.arg
SAFE_FILENAME_PART = re.compile(r"[^A-Za-z0-9_-]+")


# --- Download my data -----------------------------------------------------------------------


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite gives back naive datetimes; they were stored in UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(value: Any) -> Any:
    return _timestamp(value) if isinstance(value, datetime) else value


def _notifications(user_id: int) -> dict[str, Any]:
    # Read only: a person who never opened Notifications has the defaults, and no row yet.
    row = db.session.get(NotificationSettings, user_id)
    switches = {
        event: {
            channel: bool(
                getattr(row, NotificationSettings.column(event, channel))
                if row is not None
                else NOTIFICATION_DEFAULTS[NotificationSettings.column(event, channel)]
            )
            for channel in NOTIFICATION_CHANNELS
        }
        for event in NOTIFICATION_EVENTS
    }
    return {
        "events": switches,
        "digest_frequency": row.digest_frequency if row is not None else DIGEST_DEFAULT,
        "updated_at": _timestamp(row.updated_at) if row is not None else None,
    }


def _webhook_deliveries(clerk_id: str) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(WebhookEvent.type, WebhookEvent.received_at, WebhookEvent.status)
        .where(WebhookEvent.clerk_id == clerk_id)
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
    ).all()
    return [{"type": row.type, "received_at": _timestamp(row.received_at), "status": row.status} for row in rows]


def account_export(clerk_id: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """Everything Mentorly holds about the user with this Clerk id (a tombstone included, for
    an operator), as the documented JSON object; None when there is no such row."""
    user = db.session.execute(select(User).where(User.clerk_id == clerk_id)).scalar_one_or_none()
    if user is None:
        return None
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": _timestamp(now or utcnow()),
        "sources": {
            "clerk": "The fields under \"clerk\" are copied from Clerk, Mentorly's sign-in provider, as "
            "Mentorly last received them; Clerk holds the originals.",
            "mentorly": "Everything else is held by Mentorly alone.",
            "clerk_fields": list(CLERK_FIELDS),
        },
        "account": {
            "clerk_id": user.clerk_id,
            "created_at": _timestamp(user.created_at),
            "updated_at": _timestamp(user.updated_at),
            "deleted_at": _timestamp(user.deleted_at),
        },
        "clerk": {name: _value(getattr(user, name)) for name in CLERK_FIELDS},
        "profile": {
            "bio": user.bio,
            "website": user.website,
            "location": user.location,
            "timezone": user.timezone,
        },
        "onboarding": {
            "completed": user.is_onboarded,
            "steps_completed": user.onboarding_step,
            "goal": user.goal,
            "interests": list(user.interests or []),
        },
        "notifications": _notifications(user.id),
        "appearance": {"theme": user.theme, "reduced_motion": user.reduced_motion},
        "progress": {"points": user.points, "level": user.level},
        "webhook_deliveries": _webhook_deliveries(user.clerk_id),
    }


def export_json(export: dict[str, Any]) -> bytes:
    """The export as a UTF-8 JSON file (non-ASCII kept as written, so a person can read it)."""
    return (json.dumps(export, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def export_filename(export: dict[str, Any]) -> str:
    """`mentorly-<username or Clerk id>-<date>.json`, the date being the day it was generated."""
    who = export["clerk"].get("username") or export["account"]["clerk_id"]
    who = SAFE_FILENAME_PART.sub("-", who).strip("-") or "account"
    return f"mentorly-{who}-{export['generated_at'][:10]}.json"


# --- Delete my account ----------------------------------------------------------------------


class AccountNotDeleted(Exception):
    """Clerk could not be reached, or refused: nothing was deleted, at Clerk or here.

    `reason` is Clerk's side of it, for people; `transient` says whether trying again later
    may work (Clerk down or rate limiting, with `retry_after` seconds when Clerk said).
    """

    def __init__(self, reason: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


def delete_account(clerk_id: str) -> bool:
    """Delete the account at Clerk, then tombstone the row as a `user.deleted` webhook would.

    Returns True when Clerk deleted the user now, False when Clerk no longer had it (deleted
    already: a second click, a replayed form, Clerk's dashboard); the row is a tombstone after
    either. Raises AccountNotDeleted, having changed nothing, when Clerk is down or refuses.
    """
    try:
        clerk_client().delete_user(clerk_id)
        deleted_now = True
    except ClerkNotFound:
        deleted_now = False
    except ClerkUnavailable as exc:
        raise AccountNotDeleted(str(exc), transient=True, retry_after=exc.retry_after) from exc
    except ClerkAPIError as exc:
        raise AccountNotDeleted(f"Clerk refused to delete the account: {exc}", transient=False) from exc
    delete_user_from_db(clerk_id)
    log.info("account %s deleted (%s)", clerk_id, "at Clerk and here" if deleted_now else "Clerk had deleted it already")
    return deleted_now
