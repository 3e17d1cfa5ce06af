"""Backfill: bring the `users` table in line with Clerk's own list of users.

Webhooks get lost in real deployments (an endpoint down for longer than Svix retries, users who
existed before the webhook was set up, a development database drifting from production). The
backfill walks Clerk's `GET /users` and puts every user through the one upsert path, so the
ordering guard and tombstones hold exactly as they do for webhooks.

How it goes:
- Pages of 500 (Clerk's maximum) in ascending `created_at`, walked with Clerk's `starting_after`
  cursor (the id of the last user read): a cursor page costs Clerk the same however deep it is,
  and users created or deleted during the run shift nothing already read.
- Per page, one query reads the stored `clerk_updated_at` of the page's users. A user whose
  Clerk `updated_at` equals the live row's is *unchanged* and not written; the rest go through
  the upsert in one transaction per page, and its ordering guard (the webhook's own) says which
  are *stale*: older than the stored row, or deleted here. A dry run does the same and rolls back.
- A page that lists the cursor itself again (a proxy that drops `starting_after`) stops the run
  with an error instead of reading the first page for ever.
- The page's writes and the checkpoint (`backfill_checkpoints`: the cursor and the counts so
  far) commit together. A run stopped by Clerk (rate limit beyond the wait budget, 5xx,
  timeouts) or by the operator resumes after the last page it committed. The checkpoint keeps
  the last few ids read, so a resume still works when the very last one was deleted at Clerk
  meanwhile (Clerk refuses a cursor that is no longer a user).
- `--prune` tombstones live local users that Clerk does not list, only after a complete listing,
  only once Clerk confirms each one with a 404, and refuses when there are suspiciously many
  (a backfill pointed at the wrong Clerk instance would otherwise empty the table).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from .clerk.client import ClerkAPIError, ClerkClient, ClerkNotFound, ClerkUnavailable
from .clerk.objects import ClerkObjectError, ClerkUser, parse_user
from .database import is_transient
from .models import BackfillCheckpoint, User, utcnow
from .users import SyncResult, run_with_hand_over, tombstone_user, upsert_clerk_user

log = logging.getLogger(__name__)
users = User.__table__

PAGE_SIZE = 500  # Clerk's maximum for GET /users
ORDER_BY = "created_at"  # ascending: new users append, pages already read stay put
CHECKPOINT = "clerk_users"
# Ids kept as fallback cursors, newest last (each at most 64 characters: fits the column).
CURSOR_DEPTH = 10
# Advisory lock key (PostgreSQL) so two backfills never interleave their checkpoints.
LOCK_KEY = 0x6D656E746F72  # "mentor"


checkpoints = BackfillCheckpoint.__table__
COUNTS = ("created", "updated", "unchanged", "stale", "failed")


class BackfillError(Exception):
    """The backfill cannot run (or go on): the message says why and what to do."""


class BackfillInterrupted(BackfillError):
    """Clerk stopped answering part-way; the checkpoint holds the progress."""


@dataclass
class BackfillReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    failed: int = 0
    listed: int = 0
    pages: int = 0
    complete: bool = False
    resumed_from: int | None = None  # users already listed by the run this one resumed
    pruned: list[str] = field(default_factory=list)
    prune_refused: str | None = None
    interrupted: str | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return value


def differing_fields(user: ClerkUser, row: Any) -> list[str]:
    """The Clerk-owned columns whose stored value differs from Clerk's (names only: no values)."""
    changed = []
    for name, value in user.row().items():
        if name == "clerk_id":
            continue
        stored = getattr(row, name)
        if isinstance(value, datetime) or isinstance(stored, datetime):
            value, stored = _aware(value), _aware(stored)
        if value != stored:
            changed.append(name)
    return changed


def _upsert_checkpoint(conn: Connection, values: dict[str, Any]) -> None:
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(checkpoints)
    stmt = insert.values(name=CHECKPOINT, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[checkpoints.c.name], set_=values))


def _write(conn: Connection, to_write: list[ClerkUser], stored: dict[str, Any], hand_over: bool) -> dict[str, str]:
    """Upsert each user; what became of each: created, updated or stale (the guard refused it)."""
    kinds = {}
    for user in to_write:
        if upsert_clerk_user(conn, user, hand_over=hand_over) is SyncResult.STALE:
            kinds[user.clerk_id] = "stale"
        else:
            kinds[user.clerk_id] = "updated" if user.clerk_id in stored else "created"
    return kinds


def _tally(kinds: dict[str, str], *, unchanged: int, failed: int = 0) -> dict[str, int]:
    counts = dict.fromkeys(COUNTS, 0)
    counts.update(unchanged=unchanged, failed=failed)
    for kind in kinds.values():
        counts[kind] += 1
    return counts


class Backfill:
    """One run of the backfill. `run()` returns a report; progress and differences go to `echo`."""

    def __init__(
        self,
        engine: Engine,
        client: ClerkClient,
        *,
        dry_run: bool = False,
        prune: bool = False,
        max_prune: int | None = None,
        restart: bool = False,
        page_size: int = PAGE_SIZE,
        max_wait: float = 60.0,
        retries: int = 2,
        echo: Callable[[str], None] = print,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE:
            raise BackfillError(f"page size must be between 1 and {PAGE_SIZE}")
        self.engine = engine
        self.client = client
        self.dry_run = dry_run
        self.prune = prune
        self.max_prune = max_prune
        self.restart = restart
        self.page_size = page_size
        self.max_wait = max_wait
        self.retries = retries
        self.echo = echo
        self.on_page = on_page or (lambda count: None)
        self.report = BackfillReport()
        self._seen: set[str] = set()

    # --- Clerk ----------------------------------------------------------------------------------

    def total_users(self) -> int | None:
        try:
            return self.client.count_users()
        except (ClerkUnavailable, ClerkAPIError, KeyError, TypeError, ValueError):
            return None

    def _call(self, call: Callable[[], Any]) -> Any:
        """One Backend API call with the retry policy: 429s wait inside the client's budget;
        timeouts and 5xx are retried `retries` times with a short backoff; then we stop."""
        attempt = 0
        while True:
            try:
                return call()
            except ClerkUnavailable as exc:
                # A rate limit that outlasts the wait budget is not retried here: waiting is the
                # budget's job, and the checkpoint lets a later run carry on.
                if exc.retry_after is not None or attempt >= self.retries:
                    raise BackfillInterrupted(str(exc)) from exc
                attempt += 1
                time.sleep(min(2.0**attempt, 10.0))

    def _fetch(self, cursor: list[str]) -> list[dict[str, Any]]:
        """The page after the last id in `cursor` (the first page when empty).

        Clerk answers 422 when the cursor is no longer a user (deleted since): the previous id
        read serves instead (its successor is then listed again, and recognised as unchanged).
        """
        cursor = list(cursor)
        while True:
            after = cursor[-1] if cursor else None
            try:
                page = self._call(
                    lambda: self.client.list_users(
                        limit=self.page_size, order_by=ORDER_BY, starting_after=after, max_retry_wait=self.max_wait
                    )
                )
            except ClerkAPIError as exc:
                if after and exc.status == 422 and "starting_after" in exc.field_errors:
                    log.warning("backfill cursor %s is no longer a Clerk user: stepping back", after)
                    cursor.pop()
                    if not cursor:
                        raise BackfillError(
                            "every resume point of the unfinished backfill was deleted at Clerk: "
                            "run it again with --restart"
                        ) from exc
                    continue
                raise BackfillError(f"Clerk refused to list users: {exc}") from exc
            if not isinstance(page, list) or not all(isinstance(obj, dict) for obj in page):
                raise BackfillError("Clerk's GET /users did not answer a list of users")
            if after and any(obj.get("id") == after for obj in page):
                # Listing the cursor itself again means `starting_after` was ignored: every
                # page would be the same, for ever.
                raise BackfillError(
                    f"Clerk's GET /users listed {after} again when asked for the users after it: "
                    "does CLERK_API_URL reach Clerk's Backend API directly (not a proxy that drops "
                    "query parameters)? Stopped instead of reading the same page again."
                )
            return page

    # --- One page ---------------------------------------------------------------------------------

    def _stored(self, conn: Connection, ids: list[str]) -> dict[str, Any]:
        columns = [users.c.clerk_id, users.c.clerk_updated_at, users.c.deleted_at]
        if self.dry_run:
            columns += [users.c[name] for name in ClerkUser.COLUMNS if name != "clerk_updated_at"]
            columns.append(users.c.last_active_at)
        rows = conn.execute(select(*columns).where(users.c.clerk_id.in_(ids)))
        return {row.clerk_id: row for row in rows}

    def _parse(self, objects: Iterable[Any]) -> list[ClerkUser]:
        parsed = []
        for obj in objects:
            try:
                user = parse_user(obj)
            except ClerkObjectError as exc:
                ident = obj.get("id") if isinstance(obj, dict) else None
                log.warning("backfill skipped an unusable Clerk user %s: %s", ident, exc)
                self.echo(f"! {ident or '(no id)'}: unusable Clerk user object ({exc})")
                self.report.failed += 1
                if isinstance(ident, str):
                    self._seen.add(ident)  # listed: not a prune candidate
                continue
            if user.clerk_id in self._seen:
                continue  # listed twice (the resume overlap): once is enough
            self._seen.add(user.clerk_id)
            parsed.append(user)
        return parsed

    def _describe(self, kind: str, user: ClerkUser, row: Any) -> None:
        if kind == "created":
            self.echo(f"+ {user.clerk_id}: new")
        elif kind == "updated":
            changed = differing_fields(user, row)
            detail = ", ".join(changed) if changed else "Clerk's updated_at only"
            self.echo(f"~ {user.clerk_id}: {detail}")
        elif kind == "stale":
            why = "deleted here" if row.deleted_at is not None else "the stored copy is newer"
            self.echo(f"! {user.clerk_id}: refused, {why}")

    def process(self, objects: list[Any], *, cursor: list[str] | None = None) -> None:
        """Write one page; with `cursor`, the checkpoint moves past it atomically.

        A user whose Clerk `updated_at` equals the live stored row's is unchanged and not
        written; the others go through the upsert, whose ordering guard says which are stale.
        A dry run makes the same writes and rolls them back.
        """
        parsed = self._parse(objects)
        with self.engine.connect() as conn:
            stored = self._stored(conn, [user.clerk_id for user in parsed]) if parsed else {}
        to_write = []
        unchanged = 0
        for user in parsed:
            row = stored.get(user.clerk_id)
            if row is not None and row.deleted_at is None and row.clerk_updated_at == user.clerk_updated_at:
                unchanged += 1
            else:
                to_write.append(user)
        listed = self.report.listed + len(objects)

        if self.dry_run:
            with self.engine.connect() as conn:
                kinds = _write(conn, to_write, stored, hand_over=True)  # a clash is reported, not raised
                conn.rollback()
            for user in parsed:
                self._describe(kinds.get(user.clerk_id, "unchanged"), user, stored.get(user.clerk_id))
            self._add(_tally(kinds, unchanged=unchanged))
            return

        def write_page(conn: Connection, hand_over: bool) -> dict[str, int]:
            counts = _tally(_write(conn, to_write, stored, hand_over), unchanged=unchanged)
            if cursor is not None:
                self._save_checkpoint(conn, cursor, listed, counts)
            return counts

        try:
            counts = run_with_hand_over(self.engine, write_page)
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            counts = self._process_one_by_one(to_write, stored, unchanged, cursor, listed, exc)
        self._add(counts)

    def _process_one_by_one(self, to_write, stored, unchanged, cursor, listed, exc) -> dict[str, int]:
        """A page the database refused as a whole: write user by user, so one bad row costs one."""
        log.warning("backfill page refused (%s): writing its users one by one", type(exc.orig).__name__)
        kinds: dict[str, str] = {}
        failed = 0
        for user in to_write:
            try:
                kinds.update(
                    run_with_hand_over(
                        self.engine, lambda conn, hand_over, user=user: _write(conn, [user], stored, hand_over)
                    )
                )
            except SQLAlchemyError as error:
                if is_transient(error):
                    raise
                log.warning("backfill could not store %s: %s", user.clerk_id, type(error.orig).__name__)
                self.echo(f"! {user.clerk_id}: the database refused it ({type(error.orig).__name__})")
                failed += 1
        counts = _tally(kinds, unchanged=unchanged, failed=failed)
        if cursor is not None:
            with self.engine.begin() as conn:
                self._save_checkpoint(conn, cursor, listed, counts)
        return counts

    def _add(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            setattr(self.report, name, getattr(self.report, name) + value)

    # --- Checkpoint -------------------------------------------------------------------------------

    def _save_checkpoint(self, conn: Connection, cursor: list[str], listed: int, page_counts: dict[str, int]) -> None:
        values: dict[str, Any] = {"cursor": ",".join(cursor) or None, "listed": listed, "updated_at": utcnow()}
        for name in COUNTS:
            values[name] = getattr(self.report, name) + page_counts.get(name, 0)
        conn.execute(update(checkpoints).where(checkpoints.c.name == CHECKPOINT).values(values))

    def _start(self) -> list[str]:
        """The cursor to start after: none for a fresh run, or the unfinished run's checkpoint."""
        if self.dry_run:
            return []
        with self.engine.begin() as conn:
            row = conn.execute(select(checkpoints).where(checkpoints.c.name == CHECKPOINT)).first()
            resumable = (
                row is not None
                and row.finished_at is None
                and row.order_by == ORDER_BY
                and bool(row.cursor)
                and not self.restart
            )
            if resumable:
                self.report.resumed_from = row.listed
                self.report.listed = row.listed
                for name in COUNTS:
                    setattr(self.report, name, getattr(row, name))
                return row.cursor.split(",")
            now = utcnow()
            fresh: dict[str, Any] = {name: 0 for name in COUNTS}
            fresh.update(order_by=ORDER_BY, cursor=None, listed=0, started_at=now, updated_at=now, finished_at=None)
            _upsert_checkpoint(conn, fresh)
        return []

    def _finish(self) -> None:
        if self.dry_run:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(checkpoints)
                .where(checkpoints.c.name == CHECKPOINT)
                .values(finished_at=utcnow(), updated_at=utcnow())
            )

    # --- The run ----------------------------------------------------------------------------------

    def run(self) -> BackfillReport:
        started = time.perf_counter()
        with self._exclusive():
            try:
                self._run()
            finally:
                self.report.seconds = time.perf_counter() - started
        return self.report

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """On PostgreSQL, a session advisory lock: a second backfill refuses instead of interleaving."""
        if self.engine.dialect.name != "postgresql" or self.dry_run:
            yield
            return
        with self.engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
            conn.commit()
            if not got:
                raise BackfillError("another backfill is running against this database")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                conn.commit()

    def _run(self) -> None:
        cursor = self._start()
        resumed_after = cursor[-1] if cursor else None
        # The next page is fetched while this one is written: Clerk's answer time and the
        # database's then overlap instead of adding up.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-fetch") as prefetcher:
            pending: Future | None = prefetcher.submit(self._fetch, cursor)
            try:
                while pending is not None:
                    page = pending.result()
                    if page:
                        cursor = (cursor + [obj["id"] for obj in page if isinstance(obj.get("id"), str)])[-CURSOR_DEPTH:]
                    last = len(page) < self.page_size
                    pending = None if last else prefetcher.submit(self._fetch, cursor)
                    self.report.pages += 1
                    self.process(page, cursor=cursor)
                    self.report.listed += len(page)
                    self.on_page(len(page))
            except BackfillInterrupted as exc:
                self.report.interrupted = str(exc)
                log.warning("backfill interrupted after %d users: %s", self.report.listed, exc)
                return
            finally:
                if pending is not None:
                    pending.cancel()
        self.report.complete = True
        if self.prune:
            try:
                self._prune(resumed_after)
            except BackfillInterrupted as exc:
                self.report.interrupted = f"while pruning: {exc}"
                return
        self._finish()
        log.info(
            "backfill complete: %s listed=%d pruned=%d",
            " ".join(f"{name}={value}" for name, value in self.report.counts().items()),
            self.report.listed,
            len(self.report.pruned),
        )

    # --- Prune ------------------------------------------------------------------------------------

    def _prune(self, resumed_after: str | None) -> None:
        # A resumed run read only the users after its checkpoint: list the first part again
        # (ids only, nothing written) so that "not listed" really means "not at Clerk".
        if resumed_after is not None:
            cursor: list[str] = []
            while True:
                page = self._fetch(cursor)
                ids = [obj["id"] for obj in page if isinstance(obj.get("id"), str)]
                self._seen.update(ids)
                if resumed_after in ids or len(page) < self.page_size or not ids:
                    break
                cursor = (cursor + ids)[-CURSOR_DEPTH:]

        with self.engine.connect() as conn:
            live = conn.execute(select(users.c.clerk_id).where(users.c.deleted_at.is_(None))).scalars().all()
        candidates = sorted(set(live) - self._seen)
        allowed = self.max_prune if self.max_prune is not None else max(10, len(live) // 10)
        if len(candidates) > allowed:
            self.report.prune_refused = (
                f"{len(candidates)} local users are not listed by Clerk, more than the {allowed} allowed: "
                "is CLERK_SECRET_KEY the instance this database belongs to? Nothing was pruned "
                "(raise --max-prune if this is expected)."
            )
            log.warning("backfill prune refused: %d candidates, %d allowed", len(candidates), allowed)
            return
        for clerk_id in candidates:
            try:
                obj = self._get_user(clerk_id)
            except ClerkNotFound:
                self.report.pruned.append(clerk_id)
                if self.dry_run:
                    self.echo(f"- {clerk_id}: deleted at Clerk, would be tombstoned")
                    continue
                with self.engine.begin() as conn:
                    tombstone_user(conn, clerk_id)
                continue
            # Clerk has the user after all (created while we paged): sync it instead.
            self.process([obj])

    def _get_user(self, clerk_id: str) -> dict[str, Any]:
        try:
            return self._call(lambda: self.client.get_user(clerk_id, max_retry_wait=self.max_wait))
        except ClerkNotFound:
            raise
        except ClerkAPIError as exc:
            raise BackfillError(f"Clerk refused GET /users/{clerk_id}: {exc}") from exc


def latest_checkpoint(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(checkpoints).where(checkpoints.c.name == CHECKPOINT)).first()


__all__ = [
    "Backfill",
    "BackfillCheckpoint",
    "BackfillError",
    "BackfillInterrupted",
    "BackfillReport",
    "latest_checkpoint",
]
