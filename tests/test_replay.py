"""`flask webhooks replay`: stored payloads re-applied through the webhook's own code, once."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mentorly.extensions import db

from .webhook_support import BASE_MS, clerk_user, event, event_row, session_event, user_row, users_snapshot


def _block_first_name(app, name: str) -> None:
    """A database rule the delivery trips over (a stand-in for a bad migration or trigger).

    It raises a data error, which the endpoint records as `failed` (a constraint clash is
    answered 503 instead, for Svix to retry).
    """
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(f"""
            CREATE FUNCTION refuse_{name.lower()}() RETURNS trigger AS $$
            BEGIN
                IF NEW.first_name = '{name}' THEN
                    RAISE EXCEPTION 'first name refused' USING ERRCODE = '22023';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
        """))
        conn.execute(text(f"CREATE TRIGGER refuse_{name.lower()} BEFORE INSERT OR UPDATE ON users "
                          f"FOR EACH ROW EXECUTE FUNCTION refuse_{name.lower()}()"))


def _unblock_first_name(app, name: str) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(f"DROP TRIGGER refuse_{name.lower()} ON users"))
        conn.execute(text(f"DROP FUNCTION refuse_{name.lower()}()"))


@pytest.mark.postgres
def test_a_failed_delivery_replayed_after_the_fix_applies_once(app, client, runner, svix):
    user = clerk_user("user_replay1", email="grace@example.com", first_name="Grace")
    _block_first_name(app, "Grace")
    response = svix.post(client, event("user.created", user), msg_id="msg_replay_1")
    assert response.status_code == 200 and response.json["status"] == "failed"
    failed = event_row(app, "msg_replay_1")
    assert failed.status == "failed" and "database refused" in failed.error
    assert user_row(app, "user_replay1") is None

    # Still broken: the replay records the reason again and writes nothing.
    result = runner.invoke(args=["webhooks", "replay", "msg_replay_1"])
    assert result.exit_code == 0, result.output
    assert "failed -> failed" in result.output
    assert user_row(app, "user_replay1") is None

    _unblock_first_name(app, "Grace")
    result = runner.invoke(args=["webhooks", "replay", "msg_replay_1"])
    assert result.exit_code == 0, result.output
    assert "failed -> applied" in result.output and "1 applied now" in result.output
    row = user_row(app, "user_replay1")
    assert row.first_name == "Grace" and row.email == "grace@example.com" and row.clerk_updated_at == BASE_MS
    replayed = event_row(app, "msg_replay_1")
    assert replayed.status == "applied" and replayed.error is None and replayed.processed_at is not None

    # Applied once: a second replay, --failed and Svix's own retry all change nothing.
    before = users_snapshot(app)
    result = runner.invoke(args=["webhooks", "replay", "msg_replay_1"])
    assert "already applied" in result.output and "0 applied now" in result.output
    result = runner.invoke(args=["webhooks", "replay", "--failed"])
    assert "No failed deliveries." in result.output
    assert svix.post(client, event("user.created", user), msg_id="msg_replay_1").json["status"] == "duplicate"
    assert users_snapshot(app) == before
    assert event_row(app, "msg_replay_1").status == "applied"


@pytest.mark.postgres
def test_a_schema_behind_the_code_is_a_503_and_the_retry_applies(app, client, svix):
    """Deployed before `flask db upgrade`: a column the code writes is missing. That is not the
    event's fault, so it is not recorded as failed (Svix would stop retrying): 503, then the
    retry after the migration applies."""
    user = clerk_user("user_schema1", email="ada@example.com", first_name="Ada")
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE users RENAME COLUMN has_image TO has_image_later"))
    response = svix.post(client, event("user.created", user), msg_id="msg_schema_1")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert event_row(app, "msg_schema_1") is None

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE users RENAME COLUMN has_image_later TO has_image"))
    assert user_row(app, "user_schema1") is None
    response = svix.post(client, event("user.created", user), msg_id="msg_schema_1")
    assert response.status_code == 200 and response.json["status"] == "applied"
    assert user_row(app, "user_schema1").first_name == "Ada"


@pytest.mark.postgres
def test_replay_keeps_the_ordering_guard(app, client, runner, svix):
    """A failed old event replayed after a newer one arrived is stale, not a rollback."""
    old = clerk_user("user_replay2", email="old@example.com", first_name="Blocked")
    _block_first_name(app, "Blocked")
    assert svix.post(client, event("user.created", old), msg_id="msg_old").json["status"] == "failed"
    newer = clerk_user("user_replay2", email="new@example.com", first_name="Newer", updated_at=BASE_MS + 5000)
    assert svix.post(client, event("user.updated", newer), msg_id="msg_new").json["status"] == "applied"
    _unblock_first_name(app, "Blocked")

    result = runner.invoke(args=["webhooks", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert "msg_old: failed -> stale" in result.output
    row = user_row(app, "user_replay2")
    assert (row.first_name, row.email, row.clerk_updated_at) == ("Newer", "new@example.com", BASE_MS + 5000)
    assert event_row(app, "msg_old").status == "stale"


def test_replay_of_an_ignored_session_after_the_user_arrives(app, client, runner, svix):
    """session.created for a user we did not have yet: replayed once the user exists, it applies."""
    session = session_event("session.created", "user_replay3", BASE_MS + 60_000)
    assert svix.post(client, session, msg_id="msg_session").json["status"] == "ignored"
    svix.post(client, event("user.created", clerk_user("user_replay3", email="s@example.com")))
    assert user_row(app, "user_replay3").last_active_at.timestamp() * 1000 == pytest.approx(BASE_MS)

    result = runner.invoke(args=["webhooks", "replay", "msg_session"])
    assert "ignored -> applied" in result.output
    assert user_row(app, "user_replay3").last_active_at.timestamp() * 1000 == pytest.approx(BASE_MS + 60_000)


def test_replay_reports_unknown_and_purged_deliveries(app, client, runner, svix):
    result = runner.invoke(args=["webhooks", "replay", "msg_nope"])
    assert result.exit_code == 1 and "no such delivery" in result.output

    session = session_event("session.created", "user_replay4", BASE_MS + 60_000)
    assert svix.post(client, session, msg_id="msg_purged").json["status"] == "ignored"
    svix.post(client, event("user.created", clerk_user("user_replay4", email="p@example.com")))
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE webhook_events SET payload = NULL WHERE svix_id = 'msg_purged'"))
    before = users_snapshot(app)
    result = runner.invoke(args=["webhooks", "replay", "msg_purged"])
    assert "payload purged" in result.output
    assert users_snapshot(app) == before and event_row(app, "msg_purged").status == "ignored"

    result = runner.invoke(args=["webhooks", "replay"])
    assert result.exit_code == 2 and "--failed" in result.output
