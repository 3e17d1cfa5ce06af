"""`flask users ...` and `flask webhooks list/purge`, run through Flask's CLI runner."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import func, select, text, update

from mentorly.extensions import db
from mentorly.models import WebhookEvent, utcnow

from .webhook_support import BASE_MS, clerk_user, deleted_event, event, event_row


def _seed(client, svix) -> None:
    svix.post(client, event("user.created", clerk_user("user_ada", email="ada@example.com", username="ada")), msg_id="msg_a1")
    svix.post(client, event("user.created", clerk_user("user_bob", email="bob@example.com", first_name="Bob")), msg_id="msg_b1")
    svix.post(client, event("user.created", clerk_user("user_cy", email="cy@example.com")), msg_id="msg_c1")
    svix.post(client, deleted_event("user_cy"), msg_id="msg_c2")
    svix.post(client, event("user.updated", {"id": "user_bad"}), msg_id="msg_bad")


def test_users_list_and_show(app, client, runner, svix):
    _seed(client, svix)
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.output and "bob@example.com" in result.output
    assert "user_cy" not in result.output
    assert "2 shown; 2 live users, 1 deleted" in result.output

    result = runner.invoke(args=["users", "list", "--deleted"])
    assert "user_cy" in result.output and "(deleted)" in result.output and "user_ada" not in result.output

    result = runner.invoke(args=["users", "list", "--all", "--search", "BOB", "--json"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["clerk_id"] for row in rows] == ["user_bob"] and rows[0]["email"] == "bob@example.com"

    result = runner.invoke(args=["users", "show", "user_ada"])
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.output and "username" in result.output
    assert "msg_a1" in result.output and "user.created" in result.output

    result = runner.invoke(args=["users", "show", "user_ada", "--json"])
    shown = json.loads(result.output)
    assert shown["clerk_id"] == "user_ada" and shown["clerk_updated_at"] == BASE_MS and shown["deleted_at"] is None

    result = runner.invoke(args=["users", "show", "user_nobody"])
    assert result.exit_code == 1 and "no user user_nobody" in result.output


def test_webhooks_and_user_commands_log_no_email_at_info(app, client, runner, svix, caplog):
    logger = logging.getLogger("mentorly")  # it does not propagate: listen on it directly
    logger.addHandler(caplog.handler)
    try:
        _seed(client, svix)
        runner.invoke(args=["users", "list"])
        runner.invoke(args=["users", "show", "user_ada"])
        runner.invoke(args=["webhooks", "replay", "--failed"])
    finally:
        logger.removeHandler(caplog.handler)
    info = [r.getMessage() for r in caplog.records if r.levelno <= logging.INFO]
    assert any("user_ada" in message for message in info)  # the deliveries were logged...
    assert not [message for message in info if "@example.com" in message]  # ...without their emails


def test_webhooks_list_filters(app, client, runner, svix):
    _seed(client, svix)
    result = runner.invoke(args=["webhooks", "list"])
    assert result.exit_code == 0, result.output
    for svix_id in ("msg_a1", "msg_b1", "msg_c1", "msg_c2", "msg_bad"):
        assert svix_id in result.output
    assert "applied 4, stale 0, ignored 0, failed 1" in result.output

    result = runner.invoke(args=["webhooks", "list", "--status", "failed"])
    assert "msg_bad" in result.output and "msg_a1" not in result.output
    assert "reason: invalid user.updated payload" in result.output

    result = runner.invoke(args=["webhooks", "list", "--clerk-id", "user_cy", "--json"])
    listed = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["svix_id"], e["type"]) for e in listed] == [("msg_c2", "user.deleted"), ("msg_c1", "user.created")]

    result = runner.invoke(args=["webhooks", "list", "--status", "exploded"])
    assert result.exit_code == 2


def _age(app, svix_id: str, days: float) -> None:
    table = WebhookEvent.__table__
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(update(table).where(table.c.svix_id == svix_id).values(received_at=utcnow() - timedelta(days=days)))


def _count(app) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(WebhookEvent.__table__)).scalar()


def test_webhooks_purge_uses_the_retention_default(app, client, runner, svix):
    _seed(client, svix)
    _age(app, "msg_a1", 31)
    _age(app, "msg_b1", 29)
    _age(app, "msg_c1", 10)
    assert app.config["WEBHOOK_RETENTION_DAYS"] == 30

    result = runner.invoke(args=["webhooks", "purge"])
    assert result.exit_code == 0, result.output
    assert "Purged 1 webhook deliveries received more than 30 days ago." in result.output
    assert event_row(app, "msg_a1") is None and event_row(app, "msg_b1") is not None

    result = runner.invoke(args=["webhooks", "purge", "--older-than", "7"])
    assert "Purged 2 " in result.output
    assert event_row(app, "msg_b1") is None and event_row(app, "msg_c1") is None
    assert _count(app) == 2  # today's deliveries stay: Svix may still retry them

    # Too short a retention would forget ids Svix can still deliver again.
    result = runner.invoke(args=["webhooks", "purge", "--older-than", "1"])
    assert result.exit_code == 2 and _count(app) == 2


def test_purge_default_follows_the_setting(app, client, runner, svix):
    _seed(client, svix)
    _age(app, "msg_a1", 6)
    app.config["WEBHOOK_RETENTION_DAYS"] = 5
    result = runner.invoke(args=["webhooks", "purge"])
    assert "Purged 1 webhook deliveries received more than 5 days ago." in result.output


def test_backfill_checkpoint_migration_downgrades_and_upgrades(app):
    from flask_migrate import downgrade, upgrade

    from mentorly import MIGRATIONS

    with app.app_context():
        downgrade(directory=str(MIGRATIONS), revision="0002")
        with db.engine.connect() as conn:
            assert "backfill_checkpoints" not in _tables(conn)
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as conn:
            assert "backfill_checkpoints" in _tables(conn)
            columns = {c["name"] for c in db.inspect(conn).get_columns("backfill_checkpoints")}
        assert {"name", "cursor", "listed", "created", "updated", "unchanged", "stale", "finished_at"} <= columns


def test_backfill_checkpoint_table_matches_its_model(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    from mentorly.models import BackfillCheckpoint

    with app.app_context(), db.engine.connect() as conn:
        def only_mine(name, type_, parent_names):
            return name == "backfill_checkpoints" if type_ == "table" else True

        context = MigrationContext.configure(conn, opts={"include_name": only_mine, "compare_type": True})
        metadata = MetaData(naming_convention=db.metadata.naming_convention)
        BackfillCheckpoint.__table__.to_metadata(metadata)
        diff = compare_metadata(context, metadata)
    assert list(_flatten(diff)) == []


def _tables(conn) -> set[str]:
    return set(db.inspect(conn).get_table_names())


def _flatten(diff):
    for item in diff:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item



def test_webhooks_purge_forgets_ended_sessions_older_than_their_tokens(app, runner):
    from mentorly.ended_sessions import ENDED_SESSION_MEMORY, remember_ended_session

    with app.app_context(), db.engine.begin() as conn:
        remember_ended_session(conn, "sess_old", "user_a", "revoked", utcnow() - ENDED_SESSION_MEMORY - timedelta(hours=1))
        remember_ended_session(conn, "sess_recent", "user_a", "ended", utcnow() - timedelta(hours=1))
    result = runner.invoke(args=["webhooks", "purge"])
    assert result.exit_code == 0, result.output
    assert "Forgot 1 ended sessions" in result.output
    with app.app_context(), db.engine.connect() as conn:
        left = conn.execute(text("SELECT sid FROM ended_sessions")).scalars().all()
    assert left == ["sess_recent"]
