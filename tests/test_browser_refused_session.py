"""A session Clerk keeps but this app refuses (ended here, while Clerk's revoke failed): the
browser ends at the sign-in form, signed out of Clerk, instead of bouncing between the sign-in
page and the page it wanted."""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from mentorly.ended_sessions import remember_ended_session
from mentorly.extensions import db
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, LiveApp, signed_in_cookies

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def live(postgres_url, tmp_path) -> Iterator[LiveApp]:
    with LiveApp(postgres_url, tmp_path / "clerk") as server:
        yield server


def test_a_session_refused_here_but_kept_by_clerk_ends_at_the_sign_in_form(browser, live):
    person = live.emulator.create_user(email="kept@example.test", first_name="Kept")
    with live.app.app_context():
        user = sync_user_to_db(person)
        user.is_onboarded, user.onboarding_step = True, 4
        db.session.commit()
    session = live.emulator.create_session(person["id"], lifetime=600)
    with live.app.app_context(), db.engine.begin() as conn:
        remember_ended_session(conn, session.session["id"], person["id"], "revoked")

    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies(signed_in_cookies(live.url, session))
    page = context.new_page()
    visits: list[str] = []
    page.on("request", lambda request: visits.append(request.url)
            if request.is_navigation_request() and request.url.startswith(f"{live.url}/dashboard") else None)
    page.goto(f"{live.url}/dashboard")

    # Clerk's sign-in form (the emulator's stand-in shows it on Clerk's own page), signed out.
    page.wait_for_url(re.compile(re.escape(live.emulator.url) + r"/sign-in"), timeout=20_000)
    sessions = live.emulator.api("GET", "/sessions", params={"user_id": person["id"]}).json()
    assert [s["status"] for s in sessions] == ["ended"]
    assert len(visits) <= 2, visits  # the first visit, and one return with a fresh token at most
    context.close()
