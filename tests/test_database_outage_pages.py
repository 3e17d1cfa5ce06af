"""Pages while the database is unreachable: a clear 503, never a 500."""

from __future__ import annotations

import psycopg
import pytest

from .conftest import base_config, make_session_token
from .emulator import free_port

from mentorly import create_app


def test_a_signed_in_page_answers_503_when_the_database_is_down(tmp_path):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mentorly?connect_timeout=2"
    app = create_app(base_config(dead))
    client = app.test_client()
    client.set_cookie("__session", make_session_token("user_outage"))

    page = client.get("/dashboard/settings/profile")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "briefly unavailable" in page.get_data(as_text=True)

    api = client.post("/api/webhooks/clerk", data="{}", headers={"Accept": "application/json"})
    assert api.status_code == 400  # refused on its signature before any database work

    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"


@pytest.mark.postgres
def test_pages_answer_at_once_after_the_database_dropped_every_connection(app):
    """A restart or failover closes every pooled connection: the next page still answers 200."""
    from sqlalchemy import text

    from mentorly.extensions import db
    from mentorly.users import sync_user_to_db

    from .conftest import clerk_user

    client = app.test_client()
    with app.app_context():
        sync_user_to_db(clerk_user("user_restart"))
        db.session.execute(text("UPDATE users SET is_onboarded = true"))
        db.session.commit()
        database = db.engine.url.database
    client.set_cookie("__session", make_session_token("user_restart"))
    assert client.get("/dashboard").status_code == 200  # the pool now holds a connection
    assert client.get("/healthz").status_code == 200

    # From outside the app's pool, as a restart would.
    with psycopg.connect(app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", ""), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()[0]
    assert ended >= 1

    assert client.get("/healthz").status_code == 200
    assert client.get("/dashboard").status_code == 200
