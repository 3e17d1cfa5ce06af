"""`flask users ...`: look at the users table from a shell (what a database browser was used for),
and answer a person's request for their data or for deletion.

These commands print personal data (emails) to the operator's terminal on request; they never
log it.
"""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import func, or_, select

from ..account_lifecycle import AccountNotDeleted, account_export, delete_account, export_json
from ..clerk.client import ClerkError, ClerkNotFound, clerk_client
from ..clerk.sessions import is_user_id
from ..extensions import db
from ..models import NotificationSettings, User, WebhookEvent

users = User.__table__
events = WebhookEvent.__table__


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@click.group("users")
def users_cli() -> None:
    """Users kept from Clerk: list, show, export and delete."""


@users_cli.command("list")
@click.option("--deleted", "which", flag_value="deleted", help="Only tombstones (deleted users).")
@click.option("--all", "which", flag_value="all", help="Live users and tombstones.")
@click.option("--live", "which", flag_value="live", default=True, help="Only live users (the default).")
@click.option("--search", help="Part of a Clerk id, email, username or name (case-insensitive).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def list_command(which, search, limit, as_json) -> None:
    """Users, newest first."""
    columns = [
        users.c.clerk_id, users.c.email, users.c.username, users.c.first_name, users.c.last_name,
        users.c.is_onboarded, users.c.created_at, users.c.deleted_at,
    ]
    query = select(*columns).order_by(users.c.created_at.desc(), users.c.id.desc()).limit(limit)
    if which == "live":
        query = query.where(users.c.deleted_at.is_(None))
    elif which == "deleted":
        query = query.where(users.c.deleted_at.is_not(None))
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(*(func.lower(users.c[name]).like(pattern) for name in ("clerk_id", "email", "username", "first_name", "last_name")))
        )
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
        live = conn.execute(select(func.count()).where(users.c.deleted_at.is_(None))).scalar()
        total = conn.execute(select(func.count()).select_from(users)).scalar()
    if as_json:
        for row in rows:
            click.echo(json.dumps({key: (_text(value) if isinstance(value, datetime) else value)
                                   for key, value in row._mapping.items()}))
        return
    click.echo(f"{'clerk id':<34} {'email':<32} {'username':<20} {'name':<24} {'onb':<4} created")
    for row in rows:
        name = " ".join(part for part in (row.first_name, row.last_name) if part) or "-"
        state = " (deleted)" if row.deleted_at else ""
        click.echo(
            f"{row.clerk_id:<34} {(row.email or '-'):<32} {(row.username or '-'):<20} {name[:24]:<24} "
            f"{_text(row.is_onboarded):<4} {_text(row.created_at)}{state}"
        )
    click.echo(f"{len(rows)} shown; {live} live users, {total - live} deleted")


@users_cli.command("show")
@click.argument("clerk_id")
@click.option("--json", "as_json", is_flag=True, help="The row as one JSON object.")
@with_appcontext
def show_command(clerk_id, as_json) -> None:
    """Everything stored about one user, with their latest webhook deliveries."""
    with db.engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.clerk_id == clerk_id)).first()
        if row is None:
            raise click.ClickException(f"no user {clerk_id}")
        settings = conn.execute(
            select(NotificationSettings.__table__).where(NotificationSettings.__table__.c.user_id == row.id)
        ).first()
        deliveries = conn.execute(
            select(events.c.received_at, events.c.type, events.c.status, events.c.svix_id, events.c.error)
            .where(events.c.clerk_id == clerk_id)
            .order_by(events.c.received_at.desc(), events.c.id.desc())
            .limit(10)
        ).all()
    record = dict(row._mapping)
    if as_json:
        out = {key: (_text(value) if isinstance(value, datetime) else value) for key, value in record.items()}
        if settings is not None:
            out["notification_settings"] = {
                key: (_text(value) if isinstance(value, datetime) else value)
                for key, value in settings._mapping.items() if key != "user_id"
            }
        click.echo(json.dumps(out, indent=2))
        return
    width = max(len(key) for key in record)
    for key, value in record.items():
        if isinstance(value, list):
            value = json.dumps(value)
        click.echo(f"{key:<{width}}  {_text(value)}")
    if settings is not None:
        click.echo("notification settings:")
        for key, value in settings._mapping.items():
            if key not in ("user_id", "updated_at"):
                click.echo(f"  {key:<{width}}{_text(value)}")
    click.echo("latest webhook deliveries:" if deliveries else "no webhook deliveries recorded")
    for delivery in deliveries:
        reason = f" ({delivery.error})" if delivery.error else ""
        click.echo(f"  {_text(delivery.received_at)}  {delivery.type:<16} {delivery.status:<8} {delivery.svix_id}{reason}")


@users_cli.command("export")
@click.argument("clerk_id")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              show_default=True, help="Where to write the JSON (- for standard output).")
@with_appcontext
def export_command(clerk_id, output) -> None:
    """Everything Mentorly holds about one person, as the JSON file they can download."""
    export = account_export(clerk_id)
    if export is None:
        raise click.ClickException(f"no user {clerk_id}")
    data = export_json(export)
    if output == "-":
        click.echo(data.decode("utf-8"), nl=False)
        return
    with click.open_file(output, "wb", atomic=True) as handle:
        handle.write(data)
    click.echo(f"wrote {output}", err=True)


@users_cli.command("delete")
@click.argument("clerk_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete_command(clerk_id, yes) -> None:
    """Delete a person's account at Clerk (ending every session), then here (a tombstone).

    The same deletion as Settings → Security. If Clerk cannot be reached or refuses, nothing is
    deleted and the command exits 1.
    """
    if not is_user_id(clerk_id):
        raise click.ClickException(f"{clerk_id!r} is not a Clerk user id (user_...)")
    with db.engine.connect() as conn:
        row = conn.execute(select(users.c.deleted_at).where(users.c.clerk_id == clerk_id)).first()
    if row is None:
        # Not here: only a user Clerk has is worth a tombstone (not a mistyped id).
        try:
            clerk_client().get_user(clerk_id)
        except ClerkNotFound:
            raise click.ClickException(f"no user {clerk_id}, here or at Clerk") from None
        except ClerkError as exc:
            raise click.ClickException(f"nothing was deleted: {exc}") from None
        click.echo(f"{clerk_id} is not stored here, but Clerk has it.")
    elif row.deleted_at is not None:
        click.echo(f"{clerk_id} is deleted here already; asking Clerk to make sure.")
    if not yes:
        click.confirm(f"Delete {clerk_id} at Clerk and here? This cannot be undone", abort=True)
    try:
        deleted_now = delete_account(clerk_id)
    except AccountNotDeleted as exc:
        raise click.ClickException(f"nothing was deleted: {exc.reason}") from None
    if deleted_now:
        click.echo(f"deleted {clerk_id} at Clerk; the row here is a tombstone")
    else:
        click.echo(f"Clerk had no user {clerk_id} (deleted already); the row here is a tombstone")
