"""Shared by the tests of the Notifications, Security, Billing, Appearance and Integrations sections.

- `emulator_app`: the app (tests/conftest.py) pointed at the local Clerk emulator, verifying
  tokens with the emulator's JWKS (no test key).
- `EmulatorSignIn.__call__`: a user created in the emulator, stored as the webhook would store it,
  onboarded, and a real emulator session whose token is the client's `__session` cookie.
- readers for the CSRF token and the `<html>` element of a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import sync_user_to_db
from tests.conftest import csrf_token_in as csrf_token
from tests.emulator import EmulatorProcess, EmulatorSession

SETTINGS = "/dashboard/settings"
MY_SECTIONS = ("notifications", "security", "billing", "appearance", "integrations")
HTMX = {"HX-Request": "true"}

HTML_TAG = re.compile(r"<html\b[^>]*>", re.S)


def text(response) -> str:
    return response.get_data(as_text=True)




def page_csrf(client, section: str) -> str:
    response = client.get(f"{SETTINGS}/{section}")
    assert response.status_code == 200, response.status_code
    return csrf_token(text(response))


def html_tag(page: str) -> str:
    match = HTML_TAG.search(page)
    assert match, "no <html> element"
    return match.group(0)


def is_whole_page(page: str) -> bool:
    return page.lstrip().lower().startswith("<!doctype html>") and "<html" in page


@pytest.fixture
def emulator_app(make_app, emulator):
    return make_app(**emulator.app_config(jwks=True))


@dataclass
class SignedIn:
    user_id: int
    clerk_id: str
    session: EmulatorSession


class EmulatorSignIn:
    """`sign_in(client, **user_fields) -> SignedIn` against the emulator."""

    def __init__(self, app, emulator: EmulatorProcess) -> None:
        self.app = app
        self.emulator = emulator

    def user(self, **fields: Any) -> tuple[int, str]:
        """A Clerk user in the emulator and its onboarded row here (as the webhook would store it)."""
        created = self.emulator.create_user(**fields)
        clerk_id = created["id"]
        answer = self.emulator.api("GET", f"/users/{clerk_id}")
        assert answer.status_code == 200, answer.text
        with self.app.app_context():
            user = sync_user_to_db(answer.json())
            user.is_onboarded = True
            user.onboarding_step = 4
            db.session.commit()
            return user.id, clerk_id

    def __call__(self, client, *, lifetime: int = 600, user_agent: str = "", **fields: Any) -> SignedIn:
        user_id, clerk_id = self.user(**fields)
        session = self.emulator.create_session(clerk_id, lifetime=lifetime, user_agent=user_agent or DESKTOP_UA)
        client.set_cookie("__session", session.token)
        return SignedIn(user_id, clerk_id, session)


DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def emulator_sign_in(emulator_app, emulator) -> EmulatorSignIn:
    return EmulatorSignIn(emulator_app, emulator)


def load_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user
