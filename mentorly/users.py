"""The one path from a Clerk user to a `users` row, and the account functions built on it.

Everything that learns about a Clerk user (the webhook, just-in-time sync at sign-in, the
backfill, and the answer to our own Backend API calls) goes through `upsert_clerk_user`.

Guarantees, all enforced inside the statement so concurrent callers cannot race them:
- ordering: a user object older (by Clerk's `updated_at`) than the row changes nothing
  (`accepts_clerk_user` is that rule, written once);
- tombstones: once `deleted_at` is set nothing brings the row back;
- ownership: only Clerk's columns are written; bio, website, onboarding... are never touched.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any, Callable, TypeVar

from sqlalchemy import BigInteger, Connection, Engine, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .clerk.objects import ClerkUser, parse_user
from .extensions import db
from .models import GOALS, INTERESTS, MAX_INTERESTS, THEMES, User, utcnow
from .profile import validate_profile_fields  # the profile's rules (it imports no blueprint)

log = logging.getLogger(__name__)
users = User.__table__

T = TypeVar("T")
HAND_OVER_ATTEMPTS = 5
# A unit of work: given a connection and whether to hand over email/username; one transaction.
Work = Callable[[Connection, bool], T]


class SyncResult(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"


# Personal columns a tombstone clears; app-owned ones included (the person asked to be gone).
PERSONAL_COLUMNS = (
    "email",
    "username",
    "first_name",
    "last_name",
    "image_url",
    "bio",
    "website",
    "location",
    "goal",
    "last_sign_in_at",
)


def accepts_clerk_user(incoming_updated_at: Any):
    """The ordering rule, as SQL over the stored row: may a Clerk user object with this
    `updated_at` (milliseconds) overwrite it? Not a tombstone, and not newer than the object."""
    return and_(
        users.c.deleted_at.is_(None),
        or_(users.c.clerk_updated_at.is_(None), users.c.clerk_updated_at <= incoming_updated_at),
    )


def _insert(dialect: str):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(users)


def _later(new, old):
    """The later of two nullable timestamps, portable to SQLite (where max() of NULL is NULL)."""
    return case((new.is_(None), old), (old.is_(None), new), (new > old, new), else_=old)


def guarded_upsert(stmt: Any):
    """`stmt`, an INSERT of Clerk's columns into users, as the ordered, tombstone-safe upsert.

    Returns the new or updated row's id, and nothing when the row is newer or deleted.
    """
    excluded = stmt.excluded
    changes: dict[str, Any] = {name: excluded[name] for name in ClerkUser.COLUMNS}
    changes["last_active_at"] = _later(excluded.last_active_at, users.c.last_active_at)
    changes["updated_at"] = excluded.updated_at
    return stmt.on_conflict_do_update(
        index_elements=[users.c.clerk_id],
        set_=changes,
        where=accepts_clerk_user(excluded.clerk_updated_at),
    ).returning(users.c.id)


# Statements are built once per dialect: they run on every webhook delivery.


@cache
def _upsert_statement(dialect: str):
    return guarded_upsert(_insert(dialect))


@cache
def _tombstone_statement(dialect: str):
    stmt = _insert(dialect)
    cleared: dict[str, Any] = {name: None for name in PERSONAL_COLUMNS}
    cleared.update(
        email_verified=False,
        has_image=False,
        external_accounts=[],
        interests=[],
        deleted_at=stmt.excluded.deleted_at,
        updated_at=stmt.excluded.updated_at,
    )
    # A tombstone is left as it is: the `user.deleted` webhook that follows an account deletion
    # (or a repeated one) changes nothing, not even the dates.
    return stmt.on_conflict_do_update(
        index_elements=[users.c.clerk_id], set_=cleared, where=users.c.deleted_at.is_(None)
    )


@cache
def _acceptance_statement(dialect: str):
    # Locks the row (PostgreSQL) so that no newer event slips in between this check, the
    # hand-over and the upsert.
    query = select(accepts_clerk_user(bindparam("clerk_updated_at", type_=BigInteger))).where(
        users.c.clerk_id == bindparam("clerk_id")
    )
    return query.with_for_update() if dialect == "postgresql" else query


def _holding(column: str):
    """Other live rows holding this value of `column`. The database lowers both sides, as its
    unique index does (SQLite's lower() is ASCII-only; Python's str.lower() is not)."""
    col = users.c[column]
    return and_(
        func.lower(col) == func.lower(bindparam("value", type_=col.type)),
        users.c.clerk_id != bindparam("owner"),
        users.c.deleted_at.is_(None),
    )


@cache
def _hand_over_statement(column: str):
    # Only from rows older than the incoming user: the ordering rule, applied to the holder.
    older = accepts_clerk_user(bindparam("incoming_updated_at", type_=BigInteger))
    return (
        update(users)
        .where(_holding(column), older)
        .values({column: None, "updated_at": bindparam("now", type_=users.c.updated_at.type)})
        .returning(users.c.clerk_id)
    )


@cache
def _holder_statement(column: str):
    return select(users.c.clerk_id).where(_holding(column)).limit(1)


def _hand_over_identity(conn: Connection, user: ClerkUser) -> ClerkUser:
    """Clear this user's email and username from any other live row that still holds them with
    older data; returns the user to store.

    Clerk is the authority: if it says this user owns an address, a local row claiming the same
    one from before is out of date (a missed update or deletion), so it loses the value instead
    of the event failing on the unique index. A row newer than this event keeps its value (Clerk
    gave it to that user later, so this event is late): this user is stored without it, and its
    own later event says what it has now.
    """
    for column in ("email", "username"):
        value = getattr(user, column)
        if value is None:
            continue
        params = {"value": value, "owner": user.clerk_id}
        handed_over = conn.execute(
            _hand_over_statement(column),
            {**params, "now": utcnow(), "incoming_updated_at": user.clerk_updated_at},
        )
        for (previous_holder,) in handed_over:
            log.warning(
                "%s handed over from %s to %s (Clerk says the latter owns it)",
                column,
                previous_holder,
                user.clerk_id,
            )
        newer_holder = conn.execute(_holder_statement(column), params).scalar()
        if newer_holder is not None:
            log.warning(
                "%s of %s stored empty: %s holds it from a later event", column, user.clerk_id, newer_holder
            )
            user = replace(user, **{column: None})
    return user


def _accepted(conn: Connection, user: ClerkUser) -> bool:
    accepted = conn.execute(
        _acceptance_statement(conn.dialect.name),
        {"clerk_id": user.clerk_id, "clerk_updated_at": user.clerk_updated_at},
    ).scalar()
    return accepted is None or bool(accepted)  # no row yet: nothing to be older than


def upsert_clerk_user(conn: Connection, user: ClerkUser, *, hand_over: bool = False) -> SyncResult:
    """Insert or update the row for `user` inside the caller's transaction.

    The usual path is one statement. If it hits the unique email/username index, the caller
    rolls back and calls again with `hand_over=True` (see `run_with_hand_over`).
    """
    if hand_over:
        if not _accepted(conn, user):
            return SyncResult.STALE
        user = _hand_over_identity(conn, user)
    now = utcnow()
    params = user.row()
    params["created_at"] = now
    params["updated_at"] = now
    applied = conn.execute(_upsert_statement(conn.dialect.name), params).first()
    return SyncResult.APPLIED if applied is not None else SyncResult.STALE


def tombstone_user(conn: Connection, clerk_id: str) -> None:
    """Mark the user deleted (creating the tombstone if the row never arrived); a row that is
    a tombstone already is left untouched."""
    now = utcnow()
    conn.execute(
        _tombstone_statement(conn.dialect.name),
        {"clerk_id": clerk_id, "deleted_at": now, "created_at": now, "updated_at": now},
    )


@cache
def _last_active_statement():
    at = bindparam("active_at", type_=users.c.last_active_at.type)
    current = users.c.last_active_at
    return (
        update(users)
        .where(users.c.clerk_id == bindparam("subject_id"), users.c.deleted_at.is_(None))
        .values(last_active_at=case((current.is_(None), at), (at > current, at), else_=current))
    )


def raise_last_active(conn: Connection, clerk_id: str, at: datetime) -> bool:
    """Move `last_active_at` forward (never back); False when there is no live row."""
    result = conn.execute(_last_active_statement(), {"subject_id": clerk_id, "active_at": at})
    return result.rowcount > 0


def run_with_hand_over(engine: Engine, work: Work[T]) -> T:
    """Run `work` in a transaction; on a unique-identity clash, again with hand-over on.

    Keeping the hand-over off the first attempt keeps the common path to one statement. A
    hand-over can still clash with a concurrent writer that took the value after our statement
    started; each retry sees that writer's commit, so a few attempts settle it (the last clash
    is raised, and `database.is_transient` calls it worth a later retry).
    """
    hand_over = False
    for _ in range(HAND_OVER_ATTEMPTS - 1):
        try:
            with engine.begin() as conn:
                return work(conn, hand_over)
        except IntegrityError:
            hand_over = True
    with engine.begin() as conn:  # the last attempt: a clash here is raised
        return work(conn, True)


# --- The account functions (the names the rest of Mentorly calls) ---------------------------

def sync_user_to_db(clerk_user: dict[str, Any]) -> User | None:
    """Store a Clerk User object (as the Backend API or a webhook gives it); returns the row.

    Returns None only for a user who has been deleted here (a tombstone never comes back).
    """
    user = parse_user(clerk_user)
    run_with_hand_over(
        db.engine, lambda conn, hand_over: upsert_clerk_user(conn, user, hand_over=hand_over)
    )
    db.session.expire_all()
    return get_user_by_clerk_id(user.clerk_id)


def get_user_by_clerk_id(clerk_id: str) -> User | None:
    """The live user with this Clerk id, or None (unknown or deleted)."""
    return db.session.execute(
        select(User).where(User.clerk_id == clerk_id, User.deleted_at.is_(None))
    ).scalar_one_or_none()


def is_username_taken(username: str, *, other_than: User | None = None) -> bool:
    """Whether a live user other than `other_than` holds `username`, whatever its case."""
    query = select(User.id).where(func.lower(User.username) == username.lower(), User.deleted_at.is_(None))
    if other_than is not None:
        query = query.where(User.id != other_than.id)
    return db.session.execute(query.limit(1)).first() is not None


def _live_user(clerk_id: str) -> User:
    """The live user about to be written, its row locked until the write commits (PostgreSQL):
    a deletion committing meanwhile waits for the write (and then scrubs it), and one that
    committed first leaves no live user to write to."""
    user = db.session.execute(
        select(User)
        .where(User.clerk_id == clerk_id, User.deleted_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if user is None:
        raise LookupError(f"no live user {clerk_id}")
    return user


def _store(user: User, values: dict[str, Any]) -> User:
    """Write app-owned `values` (already checked) to the row in one commit."""
    for name, value in values.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def update_user_profile(clerk_id: str, **fields: Any) -> User:
    """Change app-owned profile fields, checked by the profile's rules (`mentorly.profile`).

    Raises ProfileError (with the field errors) for invalid input or a field Mentorly does not
    own, and LookupError when there is no live user with this id.
    """
    values = validate_profile_fields(fields)
    return _store(_live_user(clerk_id), values)


def update_appearance(clerk_id: str, *, theme: str, reduced_motion: bool) -> User:
    """Store the theme (one of THEMES) and reduced motion; ValueError for an unknown theme."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; the themes are: {', '.join(THEMES)}")
    return _store(_live_user(clerk_id), {"theme": theme, "reduced_motion": bool(reduced_motion)})


def _goal_answers(answers: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "goal" in answers:
        if answers["goal"] not in GOALS:
            raise ValueError(f"unknown goal {answers['goal']!r}; the goals are: {', '.join(GOALS)}")
        values["goal"] = answers["goal"]
    if "interests" in answers:
        chosen = set(answers["interests"] or ())
        unknown = sorted(chosen - set(INTERESTS))
        if unknown:
            raise ValueError(f"unknown interests {unknown}")
        if len(chosen) > MAX_INTERESTS:
            raise ValueError(f"at most {MAX_INTERESTS} interests")
        # Stored in the list's order, whatever order they were given in.
        values["interests"] = [key for key in INTERESTS if key in chosen]
    return values


def save_onboarding_step(clerk_id: str, step: int, **answers: Any) -> User:
    """Record that wizard step `step` (1-based) is done, with what it collected, in one commit.

    `answers` are app-owned profile fields (checked as by `update_user_profile`: ProfileError)
    and the goals, `goal` and `interests` (ValueError for one not offered). `onboarding_step`
    counts the completed steps and never falls: going back to edit an earlier step does not
    forget that later ones were done.
    """
    goals = {name: answers.pop(name) for name in ("goal", "interests") if name in answers}
    values = validate_profile_fields(answers) if answers else {}
    values.update(_goal_answers(goals))
    user = _live_user(clerk_id)
    values["onboarding_step"] = max(user.onboarding_step or 0, step)
    return _store(user, values)


def mark_user_as_onboarded(clerk_id: str) -> User:
    return _store(_live_user(clerk_id), {"is_onboarded": True})


def delete_user_from_db(clerk_id: str) -> None:
    """Tombstone the user: personal data cleared, the Clerk id kept so nothing resurrects it."""
    with db.engine.begin() as conn:
        tombstone_user(conn, clerk_id)
    db.session.expire_all()
