"""Accessibility in Chromium: axe-core on every page, in both themes, at desktop and phone widths,
and the settings area driven with the keyboard only.

Every page the product shows (landing, sign-in, each onboarding step, the dashboard, the six
settings sections, their error states and an error page) must have no violation that axe-core
rates serious or critical. One browser context per theme and width visits the pages in turn, so
that the checks stay few; every violation found on the way is reported at once, with its rule
and the elements concerned.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mentorly.extensions import db
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, PHONE
from .onboarding_support import SETTINGS_SECTIONS, STEP_SLUGS, set_progress
from .test_browser_settings import live, open_page, person  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

BLOCKING = ("serious", "critical")
LOOKS = [
    pytest.param("light", DESKTOP, id="light-desktop"),
    pytest.param("dark", DESKTOP, id="dark-desktop"),
    pytest.param("light", PHONE, id="light-phone"),
    pytest.param("dark", PHONE, id="dark-phone"),
]


class Audit:
    """axe-core run on page after page; the serious and critical violations, by page."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.problems: list[str] = []
        self.pages: list[str] = []

    def check(self, page, name: str) -> None:
        # Fonts and styles settle before the colours are measured.
        page.wait_for_load_state("load")
        page.evaluate("document.fonts.ready")
        results = self.axe.run(page)
        self.pages.append(name)
        for violation in results.response["violations"]:
            if violation["impact"] not in BLOCKING:
                continue
            targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"])
            self.problems.append(f"{name}: {violation['id']} ({violation['impact']}) at {targets}")

    def assert_clean(self) -> None:
        assert self.problems == [], "serious or critical accessibility violations:\n" + "\n".join(self.problems)


def set_look(live, clerk_id: str, theme: str) -> None:
    """The person's Appearance choice, which the server applies from the first paint."""
    from sqlalchemy import select

    from mentorly.models import User

    with live.app.app_context():
        user = db.session.execute(select(User).where(User.clerk_id == clerk_id)).scalar_one()
        user.theme = theme
        db.session.commit()


def expect_theme(page, theme: str) -> None:
    """Pico's palette in use is the one asked for: its background is dark or light."""
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", background)[:3])
    is_dark = red + green + blue < 3 * 128
    assert is_dark == (theme == "dark"), (theme, background)


@pytest.mark.parametrize("theme, viewport", LOOKS)
def test_signed_out_pages_have_no_serious_violation(browser, live, theme, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport, color_scheme=theme)
    page = context.new_page()
    audit = Audit()

    page.goto(f"{live.url}/")
    expect_theme(page, theme)
    audit.check(page, "landing")
    page.goto(f"{live.url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in to Mentorly")).to_be_visible()
    audit.check(page, "sign-in")
    response = page.goto(f"{live.url}/no-such-page")
    assert response.status == 404
    audit.check(page, "not found")

    assert len(audit.pages) == 3
    audit.assert_clean()
    context.close()


@pytest.mark.parametrize("theme, viewport", LOOKS)
def test_onboarding_steps_and_their_errors_have_no_serious_violation(browser, live, emulator, theme,  # noqa: F811
                                                                     viewport):
    newcomer = emulator.create_user(username="new_person", first_name="Nia", last_name="Newcomer")
    with live.app.app_context():
        sync_user_to_db(newcomer)
    # Three steps saved, so that every step (the review too) can be opened.
    set_progress(live.app, newcomer["id"], 3, theme=theme, goal="grow", interests=["python"])
    context, page = open_page(browser, live, newcomer, viewport=viewport, color_scheme=theme)
    audit = Audit()

    for slug in STEP_SLUGS:
        page.goto(f"{live.url}/onboarding/{slug}")
        expect(page).to_have_url(f"{live.url}/onboarding/{slug}")
        expect_theme(page, theme)
        audit.check(page, f"onboarding {slug}")

    # A username Clerk would refuse: the step comes back with the error at its field.
    page.goto(f"{live.url}/onboarding/about")
    page.get_by_label("Username").fill("no spaces allowed")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "onboarding about, with an error")

    assert len(audit.pages) == len(STEP_SLUGS) + 1
    audit.assert_clean()
    assert page.errors == []
    context.close()


@pytest.mark.parametrize("theme, viewport", LOOKS)
def test_dashboard_settings_and_their_errors_have_no_serious_violation(browser, live, person, theme,  # noqa: F811
                                                                       viewport):
    set_look(live, person["id"], theme)
    context, page = open_page(browser, live, person, viewport=viewport, color_scheme=theme)
    audit = Audit()

    page.goto(f"{live.url}/dashboard")
    expect_theme(page, theme)
    audit.check(page, "dashboard")
    for slug in SETTINGS_SECTIONS:
        page.goto(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_be_visible()
        audit.check(page, f"settings {slug}")

    # Profile, refused: a bio over its limit and a username with spaces.
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_label("Username").fill("not valid here")
    page.get_by_label("Bio").fill("x" * 161)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#bio-error")).to_be_visible()
    audit.check(page, "settings profile, with errors")

    # Security: deleting the account with the wrong confirmation word (422).
    page.goto(f"{live.url}/dashboard/settings/security")
    page.get_by_label("To confirm, type DELETE").fill("delete")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_label("To confirm, type DELETE")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "settings security, delete refused")

    response = page.goto(f"{live.url}/dashboard/settings/no-such-section")
    assert response.status == 404
    audit.check(page, "not found, signed in")

    assert len(audit.pages) == 1 + len(SETTINGS_SECTIONS) + 3
    audit.assert_clean()
    context.close()
