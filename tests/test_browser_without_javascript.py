"""Pages as a person without JavaScript, or still onboarding, meets them (Chromium)."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from mentorly.extensions import db
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, LiveServer, signed_in_cookies

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def live(make_app, emulator) -> Iterator[LiveServer]:
    app = make_app(**emulator.app_config(jwks=True))
    with LiveServer(app) as server:
        server.emulator = emulator
        yield server


def person(live, *, onboarded: bool) -> dict:
    clerk_user = live.emulator.create_user(username=f"nojs_{int(onboarded)}", first_name="Nora")
    with live.app.app_context():
        user = sync_user_to_db(clerk_user)
        user.is_onboarded, user.onboarding_step = onboarded, 4 if onboarded else 0
        db.session.commit()
    return clerk_user


def signed_in_page(browser, live, clerk_user: dict):
    """A browser context signed in as `clerk_user` (JavaScript on), and a page in it."""
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(clerk_user["id"], lifetime=3600)))
    return context, context.new_page()


def visible_text(page) -> str:
    return page.locator("body").inner_text()


def test_without_javascript_no_page_promises_what_only_javascript_does(browser, live):
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{live.url}/sign-in")
    text = visible_text(page)
    assert "Signing in needs JavaScript" in text and "Loading the sign-in form" not in text

    member = person(live, onboarded=True)
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(member["id"], lifetime=3600)))
    page.goto(f"{live.url}/dashboard/settings/notifications")
    text = visible_text(page)
    assert "saved as you make them" not in text
    assert page.get_by_role("button", name="Save notification settings").is_visible()

    # An expired token (the browser's Clerk client still signed in): the refresh page says what to do.
    session = live.emulator.create_session(member["id"])
    now = int(time.time())
    expired = live.emulator.mint_token(session.id, iat=now - 120, nbf=now - 120, exp=now - 60)
    context.add_cookies([{**cookie, "value": expired} for cookie in signed_in_cookies(live.url, session)
                         if cookie["name"].startswith("__session")])
    page.goto(f"{live.url}/dashboard")
    text = visible_text(page)
    assert "needs JavaScript" in text and "reloads by itself" not in text
    assert page.get_by_role("link", name="sign in again").is_visible()
    context.close()


def test_during_onboarding_the_header_offers_no_dashboard_or_settings(browser, live):
    newcomer = person(live, onboarded=False)
    context, page = signed_in_page(browser, live, newcomer)
    page.goto(f"{live.url}/onboarding")
    page.wait_for_url(f"{live.url}/onboarding/**")
    header = page.locator("header.site-header")
    assert header.get_by_role("link", name="Dashboard").count() == 0
    assert header.get_by_role("link", name="Settings").count() == 0
    assert header.get_by_role("button", name="Sign out").is_visible()
    context.close()


def test_an_htmx_request_for_an_unknown_page_shows_one_toast(browser, live):
    member = person(live, onboarded=True)
    context, page = signed_in_page(browser, live, member)
    page.goto(f"{live.url}/dashboard/settings/billing")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("htmx.ajax('GET', '/no-such-page', {target: '#main', swap: 'none'})")
    page.wait_for_selector("#toasts .toast")
    page.wait_for_timeout(500)
    assert page.locator("#toasts .toast").count() == 1
    assert page.locator("h1, h2").first.inner_text() != "Page not found"  # nothing was swapped in
    context.close()
