"""The committed migrations: they build, tear down and rebuild the schema, and match the models."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from mentorly import MIGRATIONS, create_app
from mentorly.extensions import db
from mentorly.models import NotificationSettings

from .conftest import base_config, dispose
from .webhook_support import clerk_user, event

APP_TABLES = {"users", "webhook_events", "notification_settings"}
LIVE_UNIQUE_INDEXES = {"uq_users_email_live": "email", "uq_users_username_live": "username"}


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(app) -> str | None:
    with app.app_context():
        with db.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()


def table_names(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def index_definitions(app) -> dict[str, str]:
    """Index name -> its CREATE INDEX statement, as the database itself reports it."""
    with app.app_context():
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'"))
            else:
                rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"))
            return {name: definition or "" for name, definition in rows}


def migrated_app(database_url: str):
    """An app whose empty database the migrations have just built."""
    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
    return app


def test_upgrade_downgrade_upgrade_on_postgresql(empty_postgres_url, svix):
    app = migrated_app(empty_postgres_url)
    try:
        assert current_revision(app) == head_revision()
        assert APP_TABLES <= table_names(app)
        assert svix.post(app.test_client(), event("user.created", clerk_user("user_mig"))).status_code == 200

        with app.app_context():
            downgrade(directory=str(MIGRATIONS), revision="base")
        assert current_revision(app) is None
        assert table_names(app) <= {"alembic_version"}

        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
        assert current_revision(app) == head_revision()
        assert APP_TABLES <= table_names(app)
        assert set(LIVE_UNIQUE_INDEXES) <= set(index_definitions(app))
        # The rebuilt schema works and is empty.
        response = svix.post(app.test_client(), event("user.created", clerk_user("user_mig")))
        assert response.get_json() == {"status": "applied"}
    finally:
        dispose(app)


def test_upgrade_downgrade_upgrade_on_sqlite(tmp_path):
    app = migrated_app(f"sqlite:///{tmp_path / 'mentorly.db'}")
    try:
        with app.app_context():
            downgrade(directory=str(MIGRATIONS), revision="base")
        assert table_names(app) <= {"alembic_version"}
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
        assert APP_TABLES <= table_names(app)
        assert set(LIVE_UNIQUE_INDEXES) <= set(index_definitions(app))
    finally:
        dispose(app)


def test_case_insensitive_partial_unique_indexes(app):
    definitions = index_definitions(app)
    for name, column in LIVE_UNIQUE_INDEXES.items():
        definition = " ".join(definitions[name].lower().replace('"', "").split())
        assert definition.startswith("create unique index"), definition
        # PostgreSQL spells it lower((email)::text), SQLite as written: lower(email).
        assert re.search(rf"lower\(\(?{column}\)?(::text)?\)", definition), definition
        assert "where" in definition and "deleted_at is null" in definition, definition


def test_the_indexes_enforce_uniqueness_among_live_users_only(app):
    insert = text(
        "INSERT INTO users (clerk_id, email, username, deleted_at) VALUES (:clerk_id, :email, :username, :deleted_at)"
    )
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(insert, dict(clerk_id="u1", email="Same@Example.org", username="Same", deleted_at=None))
            # Tombstones and users without email or username never clash.
            conn.execute(insert, dict(clerk_id="u2", email="same@example.org", username="same", deleted_at="2024-01-01 00:00:00+00:00"))
            conn.execute(insert, dict(clerk_id="u3", email=None, username=None, deleted_at=None))
            conn.execute(insert, dict(clerk_id="u4", email=None, username=None, deleted_at=None))
        for clash in (
            dict(clerk_id="u5", email="SAME@example.ORG", username="other", deleted_at=None),
            dict(clerk_id="u6", email="other@example.org", username="sAmE", deleted_at=None),
        ):
            with pytest.raises(IntegrityError):
                with db.engine.begin() as conn:
                    conn.execute(insert, clash)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 4


@pytest.mark.postgres
def test_no_drift_between_models_and_migrations_on_postgresql(app):
    with app.app_context():
        with db.engine.connect() as conn:
            # What `flask db check` compares: tables, columns, types, indexes and constraints.
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        check(directory=str(MIGRATIONS))  # raises if autogenerate would write anything


def test_0002_gives_existing_live_users_their_notification_settings(empty_postgres_url):
    app = create_app(base_config(empty_postgres_url))
    try:
        with app.app_context():
            upgrade(directory=str(MIGRATIONS), revision="0001")
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO users (clerk_id, email) VALUES ('user_live', 'live@example.org')"))
                conn.execute(text("INSERT INTO users (clerk_id, deleted_at) VALUES ('user_gone', now())"))
            upgrade(directory=str(MIGRATIONS))
            with db.engine.connect() as conn:
                owners = conn.execute(
                    text("SELECT u.clerk_id FROM notification_settings n JOIN users u ON u.id = n.user_id")
                ).scalars().all()
            assert owners == ["user_live"]
            settings = db.session.scalars(select(NotificationSettings)).one()
            assert (settings.replies_email, settings.product_updates_email, settings.digest_frequency) == (True, False, "weekly")
            db.session.remove()
    finally:
        dispose(app)


def test_0005_keeps_offering_removal_to_users_stored_with_an_image(empty_postgres_url):
    # Rows stored before has_image cannot tell an upload from Clerk's generated picture.
    app = create_app(base_config(empty_postgres_url))
    try:
        with app.app_context():
            upgrade(directory=str(MIGRATIONS), revision="0004")
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO users (clerk_id, image_url) VALUES ('user_pictured', 'https://img.clerk.com/x')"))
                conn.execute(text("INSERT INTO users (clerk_id) VALUES ('user_plain')"))
            upgrade(directory=str(MIGRATIONS))
            with db.engine.connect() as conn:
                rows = dict(conn.execute(text("SELECT clerk_id, has_image FROM users")).all())
            assert rows == {"user_pictured": True, "user_plain": False}
    finally:
        dispose(app)
