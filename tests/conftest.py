"""Fixtures: apps on SQLite and on PostgreSQL, each schema built by the migrations.

PostgreSQL tests create a throwaway database on TEST_DATABASE_URL's server. Without a server they
are skipped with the reason shown, unless MENTORLY_REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
pytest_plugins = ["tests.emulator", "tests.browser"]


# The key pair the test apps trust for session tokens (networkless, through CLERK_JWT_KEY).
TEST_SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TEST_JWT_KEY = (
    TEST_SIGNING_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def make_session_token(sub: str, *, sid: str | None = None, lifetime: int = 60, key=None, **claims: Any) -> str:
    """A Clerk-shaped v2 session token signed with the test key (or `key`)."""
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "sub": sub,
        "sid": sid or f"sess_{uuid.uuid4().hex[:24]}",
        "iss": "https://clerk.mentorly.test",
        "azp": "http://localhost",
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex[:20],
        "v": 2,
    }
    payload.update(claims)
    return jwt.encode(payload, key or TEST_SIGNING_KEY, algorithm="RS256", headers={"kid": "ins_test"})


def clerk_user(clerk_id: str | None = None, *, email: str | None = None, updated_at: int | None = None, **fields: Any) -> dict[str, Any]:
    """A Clerk User object as the Backend API or a webhook carries it."""
    clerk_id = clerk_id or f"user_{uuid.uuid4().hex[:24]}"
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    email = email if email is not None else f"{clerk_id}@example.com"
    user: dict[str, Any] = {
        "object": "user",
        "id": clerk_id,
        "username": None,
        "first_name": "Test",
        "last_name": "User",
        "image_url": "https://img.clerk.com/test",
        "primary_email_address_id": "idn_primary" if email else None,
        "email_addresses": [
            {
                "id": "idn_primary",
                "object": "email_address",
                "email_address": email,
                "verification": {"status": "verified", "strategy": "email_code"},
            }
        ]
        if email
        else [],
        "external_accounts": [],
        "password_enabled": True,
        "two_factor_enabled": False,
        "created_at": now_ms,
        "updated_at": updated_at or now_ms,
        "last_sign_in_at": now_ms,
        "last_active_at": now_ms,
        "public_metadata": {},
    }
    user.update(fields)
    return user


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')
CSRF_HX_HEADERS = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_token_in(page: str) -> str:
    """The CSRF token a rendered page carries: its meta tag, a form field, or the htmx headers."""
    match = CSRF_META.search(page) or CSRF_INPUT.search(page) or CSRF_HX_HEADERS.search(page)
    assert match, "no CSRF token in the page"
    return html.unescape(match.group(1))


def require(variable: str) -> bool:
    return os.environ.get(variable) == "1"


def base_config(database_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config = {
        "MENTORLY_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CLERK_WEBHOOK_SIGNING_SECRET": WEBHOOK_SECRET,
        "CLERK_JWT_KEY": TEST_JWT_KEY,
        # Most tests run as an instance that requires usernames; the username modes have their
        # own tests, which learn the setting from the emulator (CLERK_USERNAMES=None).
        "CLERK_USERNAMES": "required",
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


@pytest.fixture
def sign_in(app):
    """`sign_in(client, onboarded=True, **clerk_fields) -> User`: a user row and a valid session cookie.

    The row is stored through `sync_user_to_db`, as the webhook would; the cookie holds a token
    signed with the key the test app trusts. `clerk_fields` override the Clerk User object.
    """
    from mentorly.users import sync_user_to_db

    def sign_in(client, *, onboarded: bool = True, sid: str | None = None, **clerk_fields: Any):
        with app.app_context():
            user = sync_user_to_db(clerk_user(**clerk_fields))
            user.is_onboarded = onboarded
            user.onboarding_step = 4 if onboarded else 0
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        client.set_cookie("__session", make_session_token(user.clerk_id, sid=sid))
        client.set_cookie("__client_uat", str(int(datetime.now(UTC).timestamp())))
        return user

    return sign_in


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
