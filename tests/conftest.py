"""Fixtures: apps on SQLite and on PostgreSQL, each schema built by the migrations.

PostgreSQL tests create a throwaway database on TEST_DATABASE_URL's server. Without a server they
are skipped with the reason shown, unless MENTORLY_REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url
from svix.webhooks import Webhook

from mentorly import MIGRATIONS, create_app
from mentorly.extensions import db

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLERK_DIR = SHARED / "clerk"
WEBHOOK_SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNpZ25pbmctc2VjcmV0LW1lbnRvcmx5"
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def require(variable: str) -> bool:
    return os.environ.get(variable) == "1"


def base_config(database_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = {
        "MENTORLY_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": WEBHOOK_SECRET,
        "WTF_CSRF_ENABLED": True,
    }
    config.update(extra)
    return config


# --- PostgreSQL ---------------------------------------------------------------------------------


def _admin_conninfo() -> tuple[str, Any]:
    url = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    admin = url.set(drivername="postgresql")
    return admin.render_as_string(hide_password=False), url


@pytest.fixture(scope="session")
def postgres_server() -> Any:
    """The server's URL, or a skip (a failure when PostgreSQL is required)."""
    conninfo, url = _admin_conninfo()
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        message = f"PostgreSQL not reachable at {url.render_as_string()}: {exc}".strip()
        if require("MENTORLY_REQUIRE_POSTGRES"):
            pytest.fail(message + " (MENTORLY_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_server) -> Any:
    """A fresh, empty database on the test server, dropped afterwards."""
    conninfo, _ = _admin_conninfo()
    name = f"mentorly_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_migrated_app(database_url: str, tmp_path: Path, **extra: Any):
    app = create_app(base_config(database_url, tmp_path, **extra))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
    return app


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_app(postgres_url, tmp_path):
    app = make_migrated_app(postgres_url, tmp_path)
    yield app
    dispose(app)


@pytest.fixture
def sqlite_app(tmp_path):
    app = make_migrated_app(f"sqlite:///{tmp_path / 'mentorly.db'}", tmp_path)
    yield app
    dispose(app)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    """The app on each database the product supports, built by the migrations."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_app")
    else:
        yield request.getfixturevalue("pg_app")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- Webhooks -----------------------------------------------------------------------------------


class Svix:
    """Signs deliveries with the svix library itself, as Clerk's sender does."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        self.webhook = Webhook(secret)

    def headers(self, body: str, msg_id: str | None = None, at: datetime | None = None) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        at = at or datetime.now(UTC)
        return {
            "svix-id": msg_id,
            "svix-timestamp": str(int(at.timestamp())),
            "svix-signature": self.webhook.sign(msg_id, at, body),
            "content-type": "application/json",
        }

    def post(self, client, event: dict[str, Any] | str, msg_id: str | None = None, **kwargs):
        body = event if isinstance(event, str) else json.dumps(event)
        return client.post("/api/webhooks/clerk", data=body, headers=self.headers(body, msg_id, **kwargs))


@pytest.fixture
def svix() -> Svix:
    return Svix()


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((CLERK_DIR / "payloads" / name).read_text())


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


__all__ = ["Svix", "load_payload", "make_migrated_app", "downgrade", "WEBHOOK_SECRET", "CLERK_DIR"]
