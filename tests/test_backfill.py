"""`flask clerk backfill` against the Clerk emulator (a real HTTP service) and migrated databases."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select, text, update

from mentorly.backfill import Backfill, latest_checkpoint
from mentorly.models import BackfillCheckpoint
from mentorly.clerk.client import ClerkClient
from mentorly.extensions import db
from mentorly.models import User

users = User.__table__
CLERK_COLUMNS = ("clerk_id", "email", "email_verified", "username", "first_name", "last_name", "image_url",
                 "password_enabled", "two_factor_enabled", "clerk_updated_at")
EMAIL, FIRST_NAME = 0, 3  # positions in a `rows()` value (the clerk id is the key)


@pytest.fixture
def app(make_app, emulator):
    """The app with the emulator as Clerk."""
    return make_app(**emulator.app_config())


def backfill(app, *args: str):
    result = app.test_cli_runner().invoke(args=["clerk", "backfill", *args])
    return result


def counts(output: str) -> dict[str, int]:
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] in (
            "created", "updated", "unchanged", "stale", "failed", "pruned"
        ):
            found[parts[0]] = int(parts[1])
        if len(parts) == 3 and parts[:2] == ["would", "prune"]:
            found["would prune"] = int(parts[2])
    return found


def rows(app, columns=CLERK_COLUMNS) -> dict[str, tuple]:
    with app.app_context(), db.engine.connect() as conn:
        query = select(*(users.c[name] for name in columns), users.c.deleted_at).order_by(users.c.clerk_id)
        return {row[0]: tuple(row[1:-1]) + (row[-1] is not None,) for row in conn.execute(query)}


def write_stamps(app) -> dict[str, object]:
    """Each row's `updated_at`: moves only when the row is written."""
    with app.app_context(), db.engine.connect() as conn:
        return dict(conn.execute(select(users.c.clerk_id, users.c.updated_at)).all())


def clerk_users(emulator) -> list[dict]:
    listed, cursor = [], None
    while True:
        params = {"limit": 500, "order_by": "created_at"}
        if cursor:
            params["starting_after"] = cursor
        page = emulator.api("GET", "/users", params=params).json()
        listed += page
        if len(page) < 500:
            return listed
        cursor = page[-1]["id"]


# --- 10,000 users: first run, no-op run, then changes on both sides ----------------------------


@pytest.mark.postgres
def test_backfill_ten_thousand_users_then_nothing_then_only_the_changes(app, emulator):
    emulator.bulk_create_users(10_000)

    started = time.perf_counter()
    result = backfill(app)
    first_run = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert counts(result.output) == {"created": 10_000, "updated": 0, "unchanged": 0, "stale": 0, "failed": 0}
    assert "10000 users listed in 21 pages" in result.output
    assert first_run < 60  # the benchmark holds the real target; this only catches a collapse
    clerk = {user["id"]: user for user in clerk_users(emulator)}
    stored = rows(app)
    assert stored.keys() == clerk.keys()
    sample = clerk[sorted(clerk)[1234]]
    email = sample["email_addresses"][0]["email_address"]
    assert stored[sample["id"]][:6] == (email, True, sample["username"], sample["first_name"], sample["last_name"],
                                        sample["image_url"])
    assert stored[sample["id"]][-2:] == (sample["updated_at"], False)
    with app.app_context():
        checkpoint = latest_checkpoint(db.engine)
    assert checkpoint.finished_at is not None and checkpoint.listed == 10_000 and checkpoint.created == 10_000

    # Nothing to do: every user unchanged, no row written.
    before = write_stamps(app)
    result = backfill(app)
    assert result.exit_code == 0, result.output
    assert counts(result.output) == {"created": 0, "updated": 0, "unchanged": 10_000, "stale": 0, "failed": 0}
    assert write_stamps(app) == before

    # Changes on both sides.
    ids = sorted(clerk)
    changed_at_clerk = ids[10:13]
    for user_id in changed_at_clerk:
        assert emulator.api("PATCH", f"/users/{user_id}", json={"first_name": "Renamed"}).status_code == 200
    newer_here = ids[20:22]  # a webhook newer than what the listing shows has arrived here
    deleted_here = ids[30]  # user.deleted arrived here; Clerk's list has not caught up
    kept_bio = ids[10]  # app-owned fields survive a backfill update
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(update(users).where(users.c.clerk_id.in_(newer_here))
                     .values(first_name="Newer", clerk_updated_at=users.c.clerk_updated_at + 60_000))
        conn.execute(update(users).where(users.c.clerk_id == deleted_here)
                     .values(deleted_at=func.now(), email=None, username=None, first_name=None))
        conn.execute(update(users).where(users.c.clerk_id == kept_bio).values(bio="Mentor of mentors"))
    new_at_clerk = [emulator.create_user(first_name=f"New{n}")["id"] for n in range(5)]
    before = write_stamps(app)
    stored_before = rows(app)

    result = backfill(app)
    assert result.exit_code == 0, result.output
    assert counts(result.output) == {"created": 5, "updated": 3, "unchanged": 9_994, "stale": 3, "failed": 0}
    after = write_stamps(app)
    touched = {clerk_id for clerk_id in after if before.get(clerk_id) != after[clerk_id]}
    assert touched == set(changed_at_clerk) | set(new_at_clerk)
    stored = rows(app)
    for user_id in changed_at_clerk:
        assert stored[user_id][FIRST_NAME] == "Renamed"
    for user_id in newer_here:
        assert stored[user_id] == stored_before[user_id] and stored[user_id][FIRST_NAME] == "Newer"
    assert stored[deleted_here][-1] is True and stored[deleted_here][EMAIL] is None
    with app.app_context():
        assert db.session.scalar(select(User.bio).where(User.clerk_id == kept_bio)) == "Mentor of mentors"


# --- Dry run and prune --------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_prune_tombstones_only_what_clerk_deleted(app, emulator):
    emulator.bulk_create_users(1_200)
    result = backfill(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert counts(result.output)["created"] == 1_200 and "Dry run (nothing written) complete" in result.output
    assert result.output.count("+ user_") == 1_200
    assert rows(app) == {}
    with app.app_context():
        assert latest_checkpoint(db.engine) is None

    assert backfill(app).exit_code == 0
    ids = sorted(rows(app))
    emulator.api("PATCH", f"/users/{ids[0]}", json={"first_name": "Changed", "last_name": "Too"})
    for user_id in ids[100:104]:
        assert emulator.api("DELETE", f"/users/{user_id}").status_code == 200
    stored = rows(app)
    stamps = write_stamps(app)

    result = backfill(app, "--dry-run", "--prune")
    assert result.exit_code == 0, result.output
    assert f"~ {ids[0]}: first_name, last_name, clerk_updated_at" in result.output
    for user_id in ids[100:104]:
        assert f"- {user_id}: deleted at Clerk, would be tombstoned" in result.output
    assert counts(result.output)["would prune"] == 4 and counts(result.output)["updated"] == 1
    assert rows(app) == stored and write_stamps(app) == stamps
    # The e-mail addresses themselves never appear in a dry run's listing.
    assert "@example.test" not in result.output

    result = backfill(app, "--prune")
    assert result.exit_code == 0, result.output
    found = counts(result.output)
    assert found["pruned"] == 4 and found["updated"] == 1 and found["unchanged"] == 1_195
    after = rows(app)
    assert [user_id for user_id, row in after.items() if row[-1]] == ids[100:104]
    assert all(after[user_id][EMAIL] is None for user_id in ids[100:104])  # personal data cleared
    assert after[ids[0]][FIRST_NAME] == "Changed"


def test_backfill_logs_counts_but_no_emails(app, emulator, caplog):
    import logging

    emulator.bulk_create_users(30)
    logger = logging.getLogger("mentorly")  # it does not propagate: listen on it directly
    logger.addHandler(caplog.handler)
    try:
        result = backfill(app, "--prune")
    finally:
        logger.removeHandler(caplog.handler)
    assert result.exit_code == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("backfill complete: created=30" in message for message in messages)
    assert not [message for message in messages if "@" in message]


def test_prune_refuses_when_clerk_lists_far_fewer_users(app, emulator):
    """Pointed at the wrong (or an emptied) Clerk instance, prune stops instead of deleting everyone."""
    emulator.bulk_create_users(40)
    assert backfill(app).exit_code == 0
    emulator.reset()
    emulator.bulk_create_users(3)
    result = backfill(app, "--prune")
    assert result.exit_code == 1
    assert "Prune refused: 40 local users are not listed by Clerk" in result.output
    assert all(not row[-1] for row in rows(app).values()) and len(rows(app)) == 43

    result = backfill(app, "--prune", "--max-prune", "40")
    assert result.exit_code == 0 and counts(result.output)["pruned"] == 40


# --- Interrupted and resumed --------------------------------------------------------------------


def _interrupt_after(emulator, pages: int, **fault):
    seen = []

    def on_page(count: int) -> None:
        seen.append(count)
        if len(seen) == pages:
            emulator.fault(path="/v1/users", **fault)

    return on_page


@pytest.mark.parametrize("fault,database_url", [
    ({"mode": "error", "count": 5}, "sqlite"),
    ({"mode": "error", "count": 5}, "postgresql"),
    ({"mode": "rate_limit", "count": 5, "retry_after": 30}, "postgresql"),
], ids=["server-error-sqlite", "server-error-postgresql", "rate-limit-beyond-budget-postgresql"], indirect=["database_url"])
def test_an_interrupted_run_resumes_to_the_same_rows(app, emulator, fault):
    emulator.bulk_create_users(2_300)
    config = app.config
    client = ClerkClient(config["CLERK_API_URL"], config["CLERK_SECRET_KEY"], config["CLERK_API_VERSION"])
    with app.app_context():
        run = Backfill(db.engine, client, retries=0, max_wait=1.0, echo=lambda line: None,
                       on_page=_interrupt_after(emulator, 2, **fault))
        report = run.run()
        # Stopped part-way: the fault hits the page after the one being prefetched at the time.
        assert not report.complete and report.interrupted
        assert report.listed in (1_000, 1_500) and report.created == report.listed
        checkpoint = latest_checkpoint(db.engine)
        assert checkpoint.finished_at is None and checkpoint.listed == report.listed and checkpoint.cursor
    assert len(rows(app)) == report.listed
    emulator.clear_faults()

    result = backfill(app)
    assert result.exit_code == 0, result.output
    assert "Resuming the backfill" in result.output and f"after {report.listed} users" in result.output
    assert counts(result.output) == {"created": 2_300, "updated": 0, "unchanged": 0, "stale": 0, "failed": 0}
    assert "2300 users listed" in result.output
    resumed = rows(app)

    # The same listing, uninterrupted, into an emptied table: the same rows.
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM notification_settings"))
        conn.execute(users.delete())
        conn.execute(BackfillCheckpoint.__table__.delete())
    result = backfill(app)
    assert result.exit_code == 0 and counts(result.output)["created"] == 2_300
    assert rows(app) == resumed and len(resumed) == 2_300


def test_the_cli_stops_on_a_long_rate_limit_and_says_how_to_resume(app, emulator):
    emulator.bulk_create_users(600)
    emulator.fault("rate_limit", count=2, retry_after=120, path="/v1/users")  # the count, then page 1
    result = backfill(app, "--max-wait", "2")
    assert result.exit_code == 1
    assert "Stopped after 0 users" in result.output and "Run the same command again to resume" in result.output
    assert rows(app) == {}

    # A short Retry-After is waited out within the budget.
    emulator.fault("rate_limit", count=1, retry_after=1, path="/v1/users", method="GET")
    started = time.perf_counter()
    result = backfill(app, "--max-wait", "5")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started >= 1
    assert counts(result.output)["created"] == 600


def test_resume_survives_the_cursor_user_being_deleted_at_clerk(app, emulator):
    emulator.bulk_create_users(1_200)
    config = app.config
    client = ClerkClient(config["CLERK_API_URL"], config["CLERK_SECRET_KEY"], config["CLERK_API_VERSION"])
    with app.app_context():
        report = Backfill(db.engine, client, retries=0, echo=lambda line: None,
                          on_page=_interrupt_after(emulator, 1, mode="error", count=3)).run()
        assert report.listed in (500, 1_000) and not report.complete
        cursor = latest_checkpoint(db.engine).cursor.split(",")
    emulator.clear_faults()
    assert emulator.api("DELETE", f"/users/{cursor[-1]}").status_code == 200

    result = backfill(app)
    assert result.exit_code == 0, result.output
    # Clerk refuses the deleted cursor; the id before it serves, and nothing is skipped.
    assert counts(result.output) == {"created": 1_200, "updated": 0, "unchanged": 0, "stale": 0, "failed": 0}
    assert set(rows(app)) == {user["id"] for user in clerk_users(emulator)} | {cursor[-1]}



@pytest.mark.postgres
def test_two_backfills_never_run_at_once(app, emulator):
    from mentorly.backfill import LOCK_KEY

    emulator.bulk_create_users(5)
    with app.app_context(), db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        result = backfill(app)
        assert result.exit_code == 1 and "another backfill is running" in result.output
        assert rows(app) == {}
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        holder.commit()
    result = backfill(app)
    assert result.exit_code == 0 and counts(result.output)["created"] == 5
