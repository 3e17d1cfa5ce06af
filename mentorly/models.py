"""The tables: users (Clerk's users, kept here), webhook_events (every verified delivery),
notification_settings, and backfill_checkpoints (the progress of `flask clerk backfill`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    clerk_id: Mapped[str] = mapped_column(String(64), unique=True)

    # Owned by Clerk: written only from a Clerk user object.
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    # Whether image_url is an uploaded image: without one, Clerk's image_url is a generated default.
    has_image: Mapped[bool] = mapped_column(default=False, server_default=false())
    password_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    two_factor_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    external_accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Clerk's `updated_at` in milliseconds: the ordering guard compares against it.
    clerk_updated_at: Mapped[int | None] = mapped_column(BigInteger)

    # Owned by the app: sync never writes these.
    bio: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(2048))
    location: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    is_onboarded: Mapped[bool] = mapped_column(default=False, server_default=false())
    points: Mapped[int] = mapped_column(default=0, server_default="0")
    level: Mapped[int] = mapped_column(default=1, server_default="1")
    # Onboarding: how many wizard steps are done (resume at the next), and the goals step.
    onboarding_step: Mapped[int] = mapped_column(default=0, server_default="0")
    goal: Mapped[str | None] = mapped_column(String(8))  # one of GOALS
    interests: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")  # of INTERESTS
    # Appearance, rendered into every page so the first paint is right.
    theme: Mapped[str] = mapped_column(String(8), default="system", server_default="system")  # one of THEMES
    reduced_motion: Mapped[bool] = mapped_column(default=False, server_default=false())

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    last_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # Clerk is the authority on email and username; among live users each is unique
        # whatever its case. Tombstones hold neither.
        Index(
            "uq_users_email_live",
            func.lower(email),
            unique=True,
            postgresql_where=deleted_at.is_(None),
            sqlite_where=deleted_at.is_(None),
        ),
        Index(
            "uq_users_username_live",
            func.lower(username),
            unique=True,
            postgresql_where=deleted_at.is_(None),
            sqlite_where=deleted_at.is_(None),
        ),
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def display_name(self) -> str:
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or self.username or self.email or "there"

    @property
    def initials(self) -> str:
        """What the avatar circle shows when there is no image to show."""
        letters = "".join(part[0] for part in (self.first_name, self.last_name) if part)
        return (letters or (self.username or "?")[0]).upper()

    def __repr__(self) -> str:
        return f"<User {self.clerk_id}>"


NOTIFICATION_EVENTS = {
    "replies": "Replies to my posts",
    "mentions": "Mentions",
    "direct_messages": "Direct messages",
    "community_posts": "New posts in my communities",
    "announcements": "Announcements",
    "product_updates": "Product updates",
}
NOTIFICATION_CHANNELS = {"email": "Email", "in_app": "In-app"}
DIGEST_FREQUENCIES = {"off": "Off", "daily": "Daily", "weekly": "Weekly"}
# What a new user gets: everything personal on, marketing-ish email off.
NOTIFICATION_DEFAULTS = {
    "replies_email": True,
    "replies_in_app": True,
    "mentions_email": True,
    "mentions_in_app": True,
    "direct_messages_email": True,
    "direct_messages_in_app": True,
    "community_posts_email": False,
    "community_posts_in_app": True,
    "announcements_email": True,
    "announcements_in_app": True,
    "product_updates_email": False,
    "product_updates_in_app": True,
}


# The values of the app-owned choice columns of `users`, with their labels.
THEMES = {
    "system": "System (follow this device)",
    "light": "Light",
    "dark": "Dark",
}
GOALS = {
    "learn": "Learn from a mentor",
    "mentor": "Mentor others",
    "both": "Both: learn and mentor",
}
# A fixed list: interests match people to mentors and communities, so free text would not match.
INTERESTS = {
    "software-engineering": "Software engineering",
    "data-science": "Data science & AI",
    "product-management": "Product management",
    "design": "Design & UX",
    "leadership": "Leadership & management",
    "entrepreneurship": "Entrepreneurship",
    "career-change": "Changing careers",
    "interviewing": "Interviews & job search",
    "marketing": "Marketing & growth",
    "public-speaking": "Public speaking",
}
MAX_INTERESTS = 5

class NotificationSettings(db.Model):
    """One row per user: each event x channel switch, and the digest frequency."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    replies_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    replies_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    mentions_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    mentions_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    direct_messages_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    direct_messages_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    community_posts_email: Mapped[bool] = mapped_column(default=False, server_default=false())
    community_posts_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    announcements_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    announcements_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    product_updates_email: Mapped[bool] = mapped_column(default=False, server_default=false())
    product_updates_in_app: Mapped[bool] = mapped_column(default=True, server_default=true())
    digest_frequency: Mapped[str] = mapped_column(String(8), default="weekly", server_default="weekly")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    @staticmethod
    def column(event: str, channel: str) -> str:
        return f"{event}_{channel}"


class WebhookEvent(db.Model):
    """One row per verified Svix message (keyed by `svix-id`), committed with its effect."""

    __tablename__ = "webhook_events"

    STATUSES = ("applied", "stale", "ignored", "failed")

    id: Mapped[int] = mapped_column(primary_key=True)
    svix_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    clerk_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The raw body exactly as signed, for replay (and purged after the retention period).
    payload: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_webhook_events_status_received_at", "status", "received_at"),)

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.svix_id} {self.type} {self.status}>"


class BackfillCheckpoint(db.Model):
    """Progress of the last (or current) backfill; one row per listing."""

    __tablename__ = "backfill_checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_by: Mapped[str] = mapped_column(String(32))
    cursor: Mapped[str | None] = mapped_column(String(1000))  # the last ids read, comma-separated
    listed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stale: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EndedSession(db.Model):
    """A Clerk session that has ended (revoked, signed out, removed): its tokens, still within
    their lifetime, sign no one in. Kept for `ENDED_SESSION_MEMORY`, longer than any token."""

    __tablename__ = "ended_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    clerk_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # revoked | ended | removed
    ended_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
