"""`flask clerk backfill`: sync every Clerk user into the users table (see `mentorly.backfill`)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from ..clerk.client import ClerkClient
from ..extensions import db
from ..backfill import PAGE_SIZE, Backfill, BackfillError, latest_checkpoint


@click.group("clerk")
def clerk_cli() -> None:
    """Clerk: reconcile the users table with Clerk."""


@clerk_cli.command("backfill")
@click.option("--dry-run", is_flag=True, help="Show what would change (Clerk ids and field names); write nothing.")
@click.option("--prune", is_flag=True, help="After a complete listing, tombstone local users Clerk no longer has.")
@click.option(
    "--max-prune", type=click.IntRange(min=0), default=None,
    help="Refuse to prune more users than this (default: 10% of live users, at least 10).",
)
@click.option("--restart", is_flag=True, help="Ignore an unfinished run's checkpoint and start from the first page.")
@click.option(
    "--max-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
    help="Seconds to wait in all for Clerk's rate limit (Retry-After) per page before stopping.",
)
@click.option(
    "--retries", type=click.IntRange(min=0), default=2, show_default=True,
    help="Retries of a page after a timeout or a Clerk 5xx before stopping.",
)
@click.option("--page-size", type=click.IntRange(1, PAGE_SIZE), default=PAGE_SIZE, show_default=True, hidden=True)
@with_appcontext
def backfill_command(dry_run, prune, max_prune, restart, max_wait, retries, page_size) -> None:
    """Page through Clerk's users (GET /users, 500 a page) and sync each through the upsert path.

    Prints created / updated / unchanged / stale counts. An interrupted run (Clerk's rate limit
    beyond --max-wait, timeouts, Ctrl-C) resumes where it stopped when run again.
    """
    config = current_app.config
    client = ClerkClient(config["CLERK_API_URL"], config["CLERK_SECRET_KEY"], config["CLERK_API_VERSION"])
    lines: list[str] = []
    backfill = Backfill(
        db.engine, client, dry_run=dry_run, prune=prune, max_prune=max_prune, restart=restart,
        page_size=page_size, max_wait=max_wait, retries=retries, echo=lines.append,
    )
    total = backfill.total_users()
    checkpoint = None if dry_run or restart else latest_checkpoint(db.engine)
    resuming = checkpoint is not None and checkpoint.finished_at is None and bool(checkpoint.cursor)
    if resuming:
        click.echo(
            f"Resuming the backfill started {checkpoint.started_at:%Y-%m-%d %H:%M:%S} "
            f"after {checkpoint.listed} users (--restart starts over)."
        )
    label = "Dry run" if dry_run else "Backfilling"
    with click.progressbar(length=total or 0, label=label, show_pos=True, file=sys.stderr) as bar:
        if resuming and total:
            bar.update(min(checkpoint.listed, total))
        backfill.on_page = bar.update
        try:
            report = backfill.run()
        except BackfillError as exc:
            raise click.ClickException(str(exc)) from exc
    for line in lines:
        click.echo(line)

    header = "Dry run (nothing written)" if dry_run else "Backfill"
    state = "complete" if report.complete else "interrupted"
    click.echo(f"{header} {state}: {report.listed} users listed in {report.pages} pages, {report.seconds:.1f} s.")
    for name, value in report.counts().items():
        click.echo(f"  {name:<10}{value:>8}")
    if prune:
        verb = "would prune" if dry_run else "pruned"
        click.echo(f"  {verb:<10}{len(report.pruned):>8}")
    if report.prune_refused:
        click.echo(f"Prune refused: {report.prune_refused}", err=True)
    if report.interrupted:
        click.echo(
            f"Stopped after {report.listed} users: {report.interrupted}\n"
            "Run the same command again to resume from there.",
            err=True,
        )
        raise SystemExit(1)
    if report.prune_refused:
        raise SystemExit(1)
