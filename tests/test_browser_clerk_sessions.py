"""In Chromium: a pending session finishes its task at Clerk instead of bouncing, and signing
out ends the session through ClerkJS so the next page does not quietly sign the person back in."""

from __future__ import annotations

import re

import pytest
import requests

from mentorly.config import EMULATOR_SECRET_KEY

from .browser import DESKTOP
from .test_browser_sign_in import dev_server, sign_in_through_the_emulator, wait_for  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_pending_session_shows_its_task_then_lands_signed_in(dev_server, browser):  # noqa: F811
    requests.post(f"{dev_server.emulator_url}/__emulator/settings", json={"session_task": "setup-mfa"}, timeout=10)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))

    page.goto(f"{dev_server.app_url}/dashboard")
    page.wait_for_url(f"{dev_server.emulator_url}/sign-in*")
    page.fill("#email", "pending@example.test")
    page.fill("#first_name", "Pen")
    page.fill("#last_name", "Ding")
    page.click("text=Create account and sign in")

    # Back at the app with a pending token: sent to sign in, where Clerk shows the task.
    page.wait_for_selector("text=Set up two-step verification and continue")
    before = len(navigations)
    page.wait_for_timeout(1500)
    assert len(navigations) == before, f"no bouncing while the task waits: {navigations[before:]}"
    assert page.url.startswith(f"{dev_server.emulator_url}/sign-in")

    page.click("text=Set up two-step verification and continue")
    page.wait_for_url(f"{dev_server.app_url}/onboarding/**")
    assert page.locator("form[action='/sign-out'] button").is_visible()
    context.close()


def test_sign_out_ends_the_session_at_clerk_and_stays_signed_out(dev_server, browser):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_through_the_emulator(page, dev_server, "leaving@example.test", "Lea", "Ving")
    user_id = wait_for(dev_server.users, message="the user.created webhook")[0][0]

    page.click("form[action='/sign-out'] button")
    page.wait_for_url(re.compile(re.escape(dev_server.app_url) + r"/?$"))
    assert page.get_by_text("You have signed out.").is_visible()

    sessions = requests.get(f"{dev_server.emulator_url}/v1/sessions", params={"user_id": user_id},
                            headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"}, timeout=10).json()
    assert [s["status"] for s in sessions] == ["ended"]
    # The next signed-in page asks to sign in again: nothing signs the person back in.
    page.goto(f"{dev_server.app_url}/dashboard")
    page.wait_for_url(f"{dev_server.emulator_url}/sign-in*")
    context.close()
