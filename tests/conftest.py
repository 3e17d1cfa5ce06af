"""Fixtures: the app on a migrated database, a client, a signed-in user, svix-signed deliveries.

`app` runs a test on SQLite and on PostgreSQL, or on PostgreSQL alone when the test is marked
`postgres` (pages, htmx and HTTP: PostgreSQL is the product's database). The databases come from
tests/databases.py; `make_app` builds more apps, or apps with other settings, on the same one.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from svix.webhooks import Webhook

from mentorly import create_app
from mentorly.extensions import db

CLERK_DIR = Path(__file__).resolve().parent / "fixtures" / "clerk"
WEBHOOK_SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNpZ25pbmctc2VjcmV0LW1lbnRvcmx5"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytest_plugins = ["tests.databases", "tests.emulator", "tests.browser"]


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


def unavailable(reason: str, variable: str) -> NoReturn:
    """Skip the test for want of something, or fail it when `variable` (MENTORLY_REQUIRE_...) is 1."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason} ({variable}=1)")
    pytest.skip(reason)


def base_config(database_url: str, **extra: Any) -> dict[str, Any]:
    """The settings of a test app: CSRF on, the test signing secret and session-token key."""
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


def dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """`make_app(**settings)`: an app on this test's database, `settings` over the test ones."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app(base_config(database_url, **settings))
        made.append(app)
        return app

    yield make
    for app in made:
        dispose(app)


@pytest.fixture
def app(make_app) -> Flask:
    """The app with the test settings, on a database built by the migrations."""
    return make_app()


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


@pytest.fixture(scope="session")
def artifacts(worker_id: str) -> Path:
    """Where browser tests leave screenshots: test-artifacts/<xdist worker>/, emptied per run."""
    folder = ARTIFACTS / ("main" if worker_id == "master" else worker_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def instance_folder(tmp_path_factory) -> Iterator[Path]:
    """Apps made in tests keep their instance folder (a generated secret key) out of the clone."""
    folder = tmp_path_factory.mktemp("instance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MENTORLY_INSTANCE_PATH", str(folder))
        yield folder
