"""`flask webhooks ...`: the webhook log (`webhook_events`), replay and retention.

Replay re-applies a stored payload through the same code the endpoint uses (`events.apply_event`,
inside `run_with_hand_over`), in one transaction with the update of its record, under a row lock
(PostgreSQL) so that a replay racing another replay applies once. Only deliveries that were not
applied are replayed: replaying an applied one changes nothing. A failed delivery whose cause has
been fixed (a database constraint, a migration, a user that now exists) becomes `applied`; one
that still cannot apply stays `failed` with the new reason.

Payloads hold personal data, so `purge` deletes records older than the retention period
(WEBHOOK_RETENTION_DAYS, 30 days by default). Svix gives up on a message after about 28 hours,
so records older than that are no longer needed for de-duplication; a message resent by hand
from the Svix dashboard after its record is purged is still safe (the ordering guard and
tombstones make re-applying an old event a no-op).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..clerk.objects import ClerkObjectError
from ..database import first_line, is_transient
from ..ended_sessions import purge_ended_sessions
from ..extensions import db
from ..models import WebhookEvent, utcnow
from ..users import run_with_hand_over
from ..webhooks.events import apply_event, parse_envelope  # the endpoint's own code

events = WebhookEvent.__table__
# Svix retries a message for about 27.6 hours; a record younger than that may still dedupe one.
MIN_RETENTION_DAYS = 2


@dataclass(frozen=True)
class ReplayResult:
    svix_id: str
    before: str | None  # the status before the replay (None: no such delivery)
    after: str | None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.before is not None and self.before != "applied" and self.after == "applied"


def _locked(conn: Connection, svix_id: str):
    query = select(events).where(events.c.svix_id == svix_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _mark(engine: Engine, svix_id: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.svix_id == svix_id, events.c.status != "applied")
            .values(status="failed", error=reason[:2000], processed_at=utcnow())
        )


def replay_event(engine: Engine, svix_id: str) -> ReplayResult:
    """Re-apply one stored delivery unless it was applied already; returns what happened."""

    def work(conn: Connection, hand_over: bool) -> ReplayResult:
        row = _locked(conn, svix_id)
        if row is None:
            return ReplayResult(svix_id, None, None, "no such delivery")
        if row.status == "applied":
            return ReplayResult(svix_id, "applied", "applied", "already applied: nothing to do")
        if row.payload is None:
            return ReplayResult(svix_id, row.status, row.status, "payload purged: cannot replay")
        _, envelope = parse_envelope(row.payload.encode("utf-8"))
        status, reason = apply_event(conn, row.type, envelope.get("data"), envelope, hand_over)
        conn.execute(
            update(events).where(events.c.id == row.id).values(status=status, error=reason, processed_at=utcnow())
        )
        return ReplayResult(svix_id, row.status, status, reason)

    before = _status(engine, svix_id)
    try:
        return run_with_hand_over(engine, work)
    except (ClerkObjectError, ValueError) as exc:
        reason = f"invalid payload: {exc}"
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise
        reason = f"database refused the event: {type(getattr(exc, 'orig', None) or exc).__name__}"
    _mark(engine, svix_id, reason)
    return ReplayResult(svix_id, before, "failed", reason)


def _status(engine: Engine, svix_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(events.c.status).where(events.c.svix_id == svix_id)).scalar()


def purge_events(engine: Engine, older_than_days: int) -> int:
    cutoff = utcnow() - timedelta(days=older_than_days)
    with engine.begin() as conn:
        return conn.execute(delete(events).where(events.c.received_at < cutoff)).rowcount


# --- Commands ------------------------------------------------------------------------------------


@click.group("webhooks")
def webhooks_cli() -> None:
    """The webhook log: list, replay and purge recorded Clerk deliveries."""


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@webhooks_cli.command("list")
@click.option(
    "--status",
    type=click.Choice(WebhookEvent.STATUSES),
    help="Only deliveries with this status (failed ones are the ones to look at).",
)
@click.option("--type", "event_type", help="Only this event type, e.g. user.updated.")
@click.option("--clerk-id", help="Only deliveries about this Clerk user.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def list_command(status, event_type, clerk_id, limit, as_json) -> None:
    """The most recent deliveries, newest first."""
    query = select(
        events.c.svix_id, events.c.type, events.c.clerk_id, events.c.status, events.c.error,
        events.c.received_at, events.c.processed_at,
    ).order_by(events.c.received_at.desc(), events.c.id.desc()).limit(limit)
    if status:
        query = query.where(events.c.status == status)
    if event_type:
        query = query.where(events.c.type == event_type)
    if clerk_id:
        query = query.where(events.c.clerk_id == clerk_id)
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
        totals = dict(conn.execute(select(events.c.status, func.count()).group_by(events.c.status)).all())
    if as_json:
        for row in rows:
            record = dict(row._mapping)
            record["received_at"] = _when(row.received_at)
            record["processed_at"] = _when(row.processed_at)
            click.echo(json.dumps(record))
        return
    click.echo(f"{'received (UTC)':<20} {'status':<8} {'type':<18} {'clerk id':<34} svix id")
    for row in rows:
        click.echo(
            f"{_when(row.received_at):<20} {row.status:<8} {row.type[:18]:<18} {(row.clerk_id or '-'):<34} {row.svix_id}"
        )
        if row.error:
            click.echo(f"{'':<20} reason: {row.error}")
    summary = ", ".join(f"{name} {totals.get(name, 0)}" for name in WebhookEvent.STATUSES)
    click.echo(f"{len(rows)} shown; recorded in all: {summary}")


@webhooks_cli.command("replay")
@click.argument("svix_ids", nargs=-1)
@click.option("--failed", "all_failed", is_flag=True, help="Replay every delivery recorded as failed.")
@with_appcontext
def replay_command(svix_ids, all_failed) -> None:
    """Re-apply stored deliveries (by svix-id, or all failed ones) through the webhook's own code."""
    if bool(svix_ids) == all_failed:
        raise click.UsageError("give one or more SVIX_IDs, or --failed")
    engine = db.engine
    if all_failed:
        with engine.connect() as conn:
            svix_ids = conn.execute(
                select(events.c.svix_id).where(events.c.status == "failed").order_by(events.c.received_at, events.c.id)
            ).scalars().all()
        if not svix_ids:
            click.echo("No failed deliveries.")
            return
    applied = unchanged = missing = retry = 0
    for svix_id in svix_ids:
        try:
            result = replay_event(engine, svix_id)
        except SQLAlchemyError as exc:  # transient (replay_event raises no other): nothing written
            retry += 1
            click.echo(f"{svix_id}: not replayed, try again later ({first_line(exc)})", err=True)
            continue
        if result.before is None:
            missing += 1
            click.echo(f"{svix_id}: no such delivery", err=True)
            continue
        if result.changed:
            applied += 1
        else:
            unchanged += 1
        detail = f" ({result.error})" if result.error else ""
        click.echo(f"{svix_id}: {result.before} -> {result.after}{detail}")
    click.echo(
        f"Replayed {len(svix_ids)}: {applied} applied now, {unchanged} not applied, {missing} not found"
        + (f", {retry} to try again (the database was unavailable or busy)." if retry else ".")
    )
    if missing or retry:
        raise SystemExit(1)


@webhooks_cli.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=MIN_RETENTION_DAYS),
    default=None,
    help="Delete deliveries received more than DAYS days ago (default: WEBHOOK_RETENTION_DAYS, 30).",
    metavar="DAYS",
)
@with_appcontext
def purge_command(days) -> None:
    """Delete old delivery records and their payloads (personal data) past the retention period."""
    if days is None:
        days = int(current_app.config.get("WEBHOOK_RETENTION_DAYS") or 30)
        if days < MIN_RETENTION_DAYS:
            raise click.UsageError(f"WEBHOOK_RETENTION_DAYS must be at least {MIN_RETENTION_DAYS}")
    removed = purge_events(db.engine, days)
    click.echo(f"Purged {removed} webhook deliveries received more than {days} days ago.")
    forgotten = purge_ended_sessions(db.engine)
    click.echo(f"Forgot {forgotten} ended sessions older than any of their tokens.")
