"""The one path from a Clerk user to a `users` row, and the account functions built on it.

Everything that learns about a Clerk user (the webhook, just-in-time sync at sign-in, the
backfill, and the answer to our own Backend API calls) goes through `upsert_clerk_user`.

Guarantees, all enforced inside the statement so concurrent callers cannot race them:
- ordering: a user object older (by Clerk's `updated_at`) than the row changes nothing;
- tombstones: once `deleted_at` is set nothing brings the row back;
- ownership: only Clerk's columns are written; bio, website, onboarding... are never touched.
"""

from __future__ import annotations

import enum
import logging
import weakref
from datetime import datetime
from functools import cache
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, Dialect, Engine, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from .clerk.objects import ClerkUser, parse_user
from .extensions import db
from .models import User, utcnow

log = logging.getLogger(__name__)
users = User.__table__

T = TypeVar("T")
HAND_OVER_ATTEMPTS = 5
# A unit of work: given a connection (a Connection, or a DriverTransaction when the caller says
# it is precompiled) and whether to hand over email/username; run in one transaction.
Work = Callable[[Any, bool], T]


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


def _insert(dialect: str):
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(users)


def _later(new, old):
    """The later of two nullable timestamps, portable to SQLite (where max() of NULL is NULL)."""
    return case((new.is_(None), old), (old.is_(None), new), (new > old, new), else_=old)


class DriverStatement:
    """A Core INSERT or UPDATE ... RETURNING compiled once for one dialect and run on the driver.

    The webhook runs one to three such statements per delivery. Executed as Core, each one walks
    its cache key, rebuilds its parameters and builds a result object around the cursor: together
    about as much CPU as the database driver itself. Here the statement stays defined once, as
    Core (which SQLite still executes as is), and each call does only what Core would do for it:
    fill in the Python-side column defaults, apply the types' bind processing (JSON, for
    instance), send the SQL with the driver, and raise the error SQLAlchemy would raise
    (IntegrityError, OperationalError..., invalidating the connection when it is lost). It runs
    inside the caller's transaction, on a Connection or a DriverTransaction. While anyone
    listens to SQLAlchemy's cursor events, the statement goes through `exec_driver_sql` instead,
    so they see it.
    """

    def __init__(self, statement: Any, dialect: Dialect, keys: tuple[str, ...]):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        per_execution = compiled.update_prefetch or compiled.literal_execute_params or compiled.post_compile_params
        if compiled.positional or per_execution:
            raise ValueError("this statement needs Core's per-execution processing")
        self.sql = compiled.string
        self.defaults = tuple((column.key, column.default) for column in compiled.insert_prefetch)
        if any(default is None or not (default.is_scalar or default.is_callable) for _, default in self.defaults):
            raise ValueError("only scalar and plain callable defaults can be filled in here")
        known = set(keys) | {key for key, _ in self.defaults}
        # Every parameter by its name in the SQL; the ones the caller does not give are values
        # the statement carries itself (a literal in a CASE, say).
        names = compiled.params
        unexpected = sorted(name for name in names if name not in known and compiled.binds[name].required)
        if unexpected:
            raise ValueError(f"unexpected parameters: {unexpected}")
        self.constants = {name: value for name, value in names.items() if name not in known}
        processors = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((name, process))
        self.processors = tuple(processors)

    def first(self, conn: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """Execute with `values`; the first row returned, or None."""
        params = dict(self.constants, **values) if self.constants else dict(values)
        for key, default in self.defaults:
            params[key] = default.arg if default.is_scalar else default.arg(None)
        try:
            for key, process in self.processors:
                params[key] = process(params[key])
        except Exception as exc:  # as Core reports a value it cannot send
            raise StatementError(f"({type(exc).__name__}) {exc}", self.sql, params, exc) from exc
        if isinstance(conn, Connection) and _watched(conn.dispatch):
            # Someone watches statements (instrumentation, a test): let them see this one too.
            return conn.exec_driver_sql(self.sql, params).first()
        try:
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute(self.sql, params)
                return cursor.fetchone()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(conn, exc, self.sql, params) from exc


def _watched(dispatch: Any) -> bool:
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _driver_error(
    conn: Connection | DriverTransaction, exc: Exception, sql: str | None = None, params: Any = None
) -> DBAPIError:
    """The SQLAlchemy error for a driver error, the connection invalidated if it was lost."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
    if lost and not conn.invalidated:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )


def _runs_driver_statements(dialect: Dialect) -> bool:
    return dialect.name == "postgresql" and dialect.driver == "psycopg" and dialect.paramstyle == "pyformat"


def driver_ready(engine: Engine) -> bool:
    """Whether DriverTransactions can run on `engine`: psycopg, and nobody watching statements."""
    return _runs_driver_statements(engine.dialect) and not _watched(engine.dispatch)


class DriverTransaction:
    """One transaction on a pooled driver connection, for work made only of DriverStatements.

    A user upsert (just-in-time sync, the backfill, a webhook's one statement) is a
    DriverStatement; inside SQLAlchemy's Connection and Transaction, their bookkeeping was about
    a tenth of a webhook delivery's CPU. Here the pool still checks the connection out and back
    in (and discards it when it was lost), the driver's own transaction is committed or rolled
    back, and errors surface as the SQLAlchemy exceptions a Connection would raise.
    """

    def __init__(self, engine: Engine):
        self.dialect = engine.dialect
        self.invalidated = False
        try:
            self.connection = engine.raw_connection()
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect) from exc

    def invalidate(self, exc: BaseException) -> None:
        self.connection.invalidate(exc)
        self.invalidated = True

    def commit(self) -> None:
        try:
            self.connection.commit()
        except self.dialect.loaded_dbapi.Error as exc:
            raise _driver_error(self, exc) from exc

    def close(self) -> None:
        """Back to the pool, which rolls back what was not committed (or discards the connection)."""
        self.connection.close()


def execute_alone(engine: Engine, build: Callable[[str], Any], values: dict[str, Any]) -> tuple[Any, ...] | None:
    """Run one INSERT/UPDATE ... RETURNING as a transaction of its own; psycopg only.

    In autocommit the statement is the whole transaction: one round trip to PostgreSQL where
    BEGIN, the statement and COMMIT take three, and still all or nothing.
    """
    transaction = DriverTransaction(engine)
    driver = transaction.connection.driver_connection
    try:
        driver.autocommit = True
        return execute_returning(transaction, build, values)
    finally:
        if not transaction.invalidated:
            try:
                driver.autocommit = False
            except transaction.dialect.loaded_dbapi.Error as exc:  # broken: not one to hand back
                transaction.invalidate(exc)
        transaction.close()


_driver_statements: weakref.WeakKeyDictionary[Dialect, dict[Any, DriverStatement | bool]] = weakref.WeakKeyDictionary()


def execute_returning(
    conn: Connection | DriverTransaction, build: Callable[[str], Any], values: dict[str, Any]
) -> tuple[Any, ...] | None:
    """Run the INSERT/UPDATE ... RETURNING `build(dialect name)` with `values`; its first row or None.

    `values` has the same keys on every call for one `build`. On PostgreSQL with psycopg the
    statement is compiled once per engine (see DriverStatement); elsewhere it runs as Core.
    """
    dialect = conn.dialect
    if not _runs_driver_statements(dialect):
        return conn.execute(build(dialect.name), values).first()
    statements = _driver_statements.get(dialect)
    if statements is None:
        statements = _driver_statements.setdefault(dialect, {})
    key = (build, tuple(values))
    statement = statements.get(key)
    if statement is None:
        try:
            statement = DriverStatement(build(dialect.name), dialect, tuple(values))
        except ValueError:
            statement = False  # not one this shortcut can run: Core it is, every time
        statements[key] = statement
    if statement is False:
        if isinstance(conn, DriverTransaction):
            raise TypeError("this statement needs Core: run it on a Connection")
        return conn.execute(build(dialect.name), values).first()
    return statement.first(conn, values)


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
        where=and_(
            users.c.deleted_at.is_(None),
            or_(
                users.c.clerk_updated_at.is_(None),
                users.c.clerk_updated_at <= excluded.clerk_updated_at,
            ),
        ),
    ).returning(users.c.id)


@cache
def _upsert_statement(dialect: str):
    # Built once per dialect: this runs on every webhook delivery.
    return guarded_upsert(_insert(dialect))


@cache
def _tombstone_statement(dialect: str):
    stmt = _insert(dialect)
    cleared: dict[str, Any] = {name: None for name in PERSONAL_COLUMNS}
    cleared.update(
        email_verified=False,
        external_accounts=[],
        interests=[],
        deleted_at=func.coalesce(users.c.deleted_at, stmt.excluded.deleted_at),
        updated_at=stmt.excluded.updated_at,
    )
    return stmt.on_conflict_do_update(index_elements=[users.c.clerk_id], set_=cleared)


def _hand_over_identity(conn: Connection, user: ClerkUser) -> None:
    """Clear this user's email and username from any other live row that still holds them.

    Clerk is the authority: if it says this user owns an address, a local row claiming the same
    one is out of date (a missed update or deletion), so it loses the value instead of the
    event failing on the unique index.
    """
    for column, value in (("email", user.email), ("username", user.username)):
        if value is None:
            continue
        col = users.c[column]
        result = conn.execute(
            update(users)
            .where(
                # The database lowers both sides, as its unique index does (SQLite's lower()
                # is ASCII-only; Python's str.lower() is not).
                func.lower(col) == func.lower(value),
                users.c.clerk_id != user.clerk_id,
                users.c.deleted_at.is_(None),
            )
            .values({column: None, "updated_at": utcnow()})
            .returning(users.c.clerk_id)
        )
        for (previous_holder,) in result:
            log.warning(
                "%s handed over from %s to %s (Clerk says the latter owns it)",
                column,
                previous_holder,
                user.clerk_id,
            )


def _is_stale(conn: Connection, user: ClerkUser) -> bool:
    query = select(users.c.clerk_updated_at, users.c.deleted_at).where(users.c.clerk_id == user.clerk_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return False
    return row.deleted_at is not None or (
        row.clerk_updated_at is not None and row.clerk_updated_at > user.clerk_updated_at
    )


def upsert_clerk_user(conn: Connection | DriverTransaction, user: ClerkUser, *, hand_over: bool = False) -> SyncResult:
    """Insert or update the row for `user` inside the caller's transaction.

    The fast path is one statement. If it hits the unique email/username index, the caller
    rolls back and calls again with `hand_over=True` (see `run_with_hand_over`).
    """
    if hand_over:
        if _is_stale(conn, user):
            return SyncResult.STALE
        _hand_over_identity(conn, user)
    now = utcnow()
    params = user.row()
    params["created_at"] = now
    params["updated_at"] = now
    applied = execute_returning(conn, _upsert_statement, params)
    return SyncResult.APPLIED if applied is not None else SyncResult.STALE


def tombstone_user(conn: Connection, clerk_id: str) -> None:
    """Mark the user deleted (creating the tombstone if the row never arrived)."""
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


def _transaction(engine: Engine, work: Work[T], hand_over: bool, precompiled: bool) -> T:
    if precompiled and not hand_over and driver_ready(engine):
        transaction = DriverTransaction(engine)
        try:
            result = work(transaction, hand_over)
            transaction.commit()
            return result
        finally:
            transaction.close()
    with engine.begin() as conn:
        return work(conn, hand_over)


def _in_transaction(engine: Engine, work: Work[T], hand_over: bool, precompiled: bool) -> T:
    try:
        return _transaction(engine, work, hand_over, precompiled)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    # The pooled connection had died (the database restarted since it was opened; the pool does
    # not ping on every checkout). Nothing was written, or if the commit itself was lost in
    # flight the work is idempotent: one more try on a fresh connection.
    return _transaction(engine, work, hand_over, precompiled)


def run_with_hand_over(engine: Engine, work: Work[T], *, precompiled: bool = False) -> T:
    """Run `work` in a transaction; on a unique-identity clash, again with hand-over on.

    Keeping the hand-over off the first attempt keeps the common path to one statement. A
    hand-over can still clash with a concurrent writer that took the value after our statement
    started; each retry sees that writer's commit, so a few attempts settle it (the last clash
    is raised).

    `precompiled` says the first attempt runs only `execute_returning` statements (an upsert
    without hand-over, say): on psycopg it then runs in a DriverTransaction.
    """
    try:
        return _in_transaction(engine, work, False, precompiled)
    except IntegrityError:
        pass
    for _ in range(HAND_OVER_ATTEMPTS - 1):
        try:
            return _in_transaction(engine, work, True, precompiled)
        except IntegrityError:
            continue
    return _in_transaction(engine, work, True, precompiled)


# --- The account functions (the names the rest of Mentorly calls) ---------------------------

# What the account functions check app-owned values against (none of it imports a blueprint).
from .models import GOALS, INTERESTS, MAX_INTERESTS, THEMES  # noqa: E402
from .profile import validate_profile_fields  # noqa: E402


def sync_user_to_db(clerk_user: dict[str, Any]) -> User | None:
    """Store a Clerk User object (as the Backend API or a webhook gives it); returns the row.

    Returns None only for a user who has been deleted here (a tombstone never comes back).
    """
    user = parse_user(clerk_user)
    run_with_hand_over(
        db.engine, lambda conn, hand_over: upsert_clerk_user(conn, user, hand_over=hand_over), precompiled=True
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
    user = get_user_by_clerk_id(clerk_id)
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
    user = _live_user(clerk_id)
    return _store(user, validate_profile_fields(fields))


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
    user = _live_user(clerk_id)
    goals = {name: answers.pop(name) for name in ("goal", "interests") if name in answers}
    values = validate_profile_fields(answers) if answers else {}
    values.update(_goal_answers(goals))
    values["onboarding_step"] = max(user.onboarding_step or 0, step)
    return _store(user, values)


def mark_user_as_onboarded(clerk_id: str) -> User:
    return _store(_live_user(clerk_id), {"is_onboarded": True})


def delete_user_from_db(clerk_id: str) -> None:
    """Tombstone the user: personal data cleared, the Clerk id kept so nothing resurrects it."""
    with db.engine.begin() as conn:
        tombstone_user(conn, clerk_id)
    db.session.expire_all()
