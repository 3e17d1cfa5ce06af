"""The five sections in Chromium (Playwright): htmx saves without reloads, the theme, layouts.

The app runs in a real werkzeug server thread on a free port, on a PostgreSQL database built by
the migrations, with a local Clerk emulator of its own as Clerk. Chromium is the suite's one
session-wide browser (tests/browser.py: Debian's, skipped with the reason when it is missing unless
MENTORLY_REQUIRE_BROWSER=1). Screenshots go to test-artifacts/.

The module shares the server and the emulator (tests/browser.py `LiveApp`); each test starts
from an emptied database and a reset emulator.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from mentorly.extensions import db
from mentorly.models import NotificationSettings, User
from tests.browser import DESKTOP, PHONE, LiveApp, signed_in_cookies
from tests.sections_support import DESKTOP_UA, PHONE_UA, EmulatorSignIn

# One xdist worker runs the module, so it starts the module's servers once.
pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.xdist_group("browser-sections")]

SETTINGS = "/dashboard/settings"


class SettingsSite(LiveApp):
    def __init__(self, database_url: str, state_dir: Path, artifacts: Path) -> None:
        super().__init__(database_url, state_dir)
        self.artifacts = artifacts

    def page(self, browser, *, viewport=DESKTOP, color_scheme: str = "light", **fields: Any):
        """A new browser context signed in as a new user (an emulator session), and its page."""
        user_id, clerk_id = EmulatorSignIn(self.app, self.emulator).user(**fields)
        user_agent = PHONE_UA if viewport == PHONE else DESKTOP_UA
        session = self.emulator.create_session(clerk_id, lifetime=3600, user_agent=user_agent)
        context = browser.new_context(viewport=viewport, color_scheme=color_scheme, base_url=self.url)
        context.add_cookies(signed_in_cookies(self.url, session))
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page, user_id, clerk_id, session

    def screenshot(self, page, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def user(self, user_id: int) -> User:
        with self.app.app_context():
            user = db.session.get(User, user_id)
            db.session.expunge(user)
            return user

    def notifications(self, user_id: int) -> NotificationSettings:
        with self.app.app_context():
            row = db.session.get(NotificationSettings, user_id)
            db.session.expunge(row)
            return row

    def update_user(self, user_id: int, **values: Any) -> None:
        with self.app.app_context():
            user = db.session.get(User, user_id)
            for name, value in values.items():
                setattr(user, name, value)
            db.session.commit()


@pytest.fixture(scope="module")
def site(reused_postgres_database, tmp_path_factory, artifacts) -> Iterator[SettingsSite]:
    with SettingsSite(reused_postgres_database.url, tmp_path_factory.mktemp("emulator"), artifacts) as site:
        yield site


@pytest.fixture
def live(site, reused_postgres_database) -> SettingsSite:
    return site.fresh(reused_postgres_database)


def mark_window(page) -> None:
    page.evaluate("window.__notReloaded = 'still here'")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded") == "still here"


def html_attribute(page, name: str) -> str | None:
    return page.evaluate(f"document.documentElement.getAttribute({name!r})")


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


# --- Notifications -----------------------------------------------------------------------------


def test_toggles_save_without_a_page_reload(browser, live):
    page, user_id, _, _ = live.page(browser)
    page.goto(f"{SETTINGS}/notifications")
    mark_window(page)
    replies_email = page.locator("#replies_email")
    assert replies_email.is_checked()

    page.locator('label[for="replies_email"]').click()
    page.locator(".toast", has_text="Email notifications for replies to my posts turned off.").wait_for()
    assert not replies_email.is_checked()
    assert live.notifications(user_id).replies_email is False

    page.locator('label[for="product_updates_email"]').click()
    page.locator(".toast", has_text="Email notifications for product updates turned on.").wait_for()
    page.select_option("#digest_frequency", "daily")
    page.locator(".toast", has_text="Digest email set to daily.").wait_for()
    assert not_reloaded(page)
    stored = live.notifications(user_id)
    assert (stored.replies_email, stored.product_updates_email, stored.digest_frequency) == (False, True, "daily")
    assert page.errors == []

    page.reload()
    assert not page.locator("#replies_email").is_checked()
    assert page.locator("#product_updates_email").is_checked()
    assert page.locator("#digest_frequency").input_value() == "daily"
    page.context.close()


def test_quick_toggles_of_one_switch_end_in_the_last_state(browser, live):
    page, user_id, _, _ = live.page(browser)
    page.goto(f"{SETTINGS}/notifications")
    switch = page.locator('label[for="mentions_in_app"]')
    for _ in range(5):
        switch.click()
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.wait_for_timeout(300)
    assert page.locator("#mentions_in_app").is_checked() is False
    assert live.notifications(user_id).mentions_in_app is False
    page.context.close()


# --- Appearance --------------------------------------------------------------------------------


def background(page) -> str:
    # Pico paints the page background on the root element.
    return page.evaluate("getComputedStyle(document.documentElement).backgroundColor")


def is_dark(rgb: str) -> bool:
    red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return red + green + blue < 3 * 100


def test_the_theme_switches_at_once_and_survives_a_reload(browser, live):
    page, user_id, _, _ = live.page(browser, color_scheme="light")
    page.goto(f"{SETTINGS}/appearance")
    mark_window(page)
    assert html_attribute(page, "data-theme") is None
    assert not is_dark(background(page))

    page.get_by_label("Dark").check()
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    assert is_dark(background(page))
    page.locator(".toast", has_text="Appearance saved: dark theme").wait_for()
    assert not_reloaded(page)
    assert live.user(user_id).theme == "dark"
    live.screenshot(page, "appearance-dark-desktop")

    page.get_by_label("Reduce motion").check()
    page.wait_for_function("document.documentElement.dataset.reducedMotion === 'reduce'")
    assert live.user(user_id).reduced_motion is True

    page.reload()
    assert html_attribute(page, "data-theme") == "dark"
    assert html_attribute(page, "data-reduced-motion") == "reduce"
    assert is_dark(background(page))
    assert page.get_by_label("Dark").is_checked()

    # Another page (not settings-specific) is dark from its first paint too.
    page.goto("/dashboard/settings/profile")
    assert html_attribute(page, "data-theme") == "dark"

    page.goto(f"{SETTINGS}/appearance")
    page.get_by_label("System (follow this device)").check()
    page.wait_for_function("document.documentElement.dataset.theme === undefined")
    page.locator(".toast", has_text="Appearance saved: system theme").wait_for()
    assert not is_dark(background(page))  # the device (emulated) prefers light
    assert live.user(user_id).theme == "system"
    assert page.errors == []
    page.context.close()


def test_the_system_theme_follows_a_dark_device(browser, live):
    page, user_id, _, _ = live.page(browser, color_scheme="dark")
    page.goto(f"{SETTINGS}/appearance")
    assert html_attribute(page, "data-theme") is None
    assert is_dark(background(page))
    page.get_by_label("Light").check()
    page.wait_for_function("document.documentElement.dataset.theme === 'light'")
    assert not is_dark(background(page))
    page.context.close()


def test_the_theme_applies_after_arriving_by_htmx_navigation(browser, live):
    """From a page whose layout did not load the appearance script, the save still shows at once:
    in place when the script is there, else by a reload the server asks for."""
    page, user_id, _, _ = live.page(browser)
    page.goto(f"{SETTINGS}/profile")
    page.locator(".settings-nav a", has_text="Appearance").click()
    page.wait_for_url(f"**{SETTINGS}/appearance")
    page.locator("#section-title", has_text="Appearance").wait_for()
    page.get_by_label("Dark").check()
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    page.locator(".toast", has_text="Appearance saved: dark theme").wait_for()
    assert page.get_by_label("Dark").is_checked()
    assert live.user(user_id).theme == "dark"
    assert page.errors == []
    page.context.close()


# --- Security ----------------------------------------------------------------------------------


def test_revoking_a_session_in_the_browser(browser, live):
    page, _, clerk_id, session = live.page(browser)
    phone = live.emulator.create_session(clerk_id, user_agent=PHONE_UA, city="Lisbon", country="PT")
    page.goto(f"{SETTINGS}/security")
    mark_window(page)
    current = page.locator(f"#session-{session.id}")
    assert "This device" in current.inner_text()
    assert current.locator("button").count() == 0

    page.locator(f"#session-{phone.id} button", has_text="Sign out this device").click()
    page.locator(".toast", has_text="Signed out of Safari 18 on iPhone.").wait_for()
    page.locator(f"#session-{phone.id}").wait_for(state="detached")
    assert not_reloaded(page)
    assert live.emulator.api("GET", f"/sessions/{phone.id}").json()["status"] == "revoked"
    assert page.errors == []
    page.context.close()


def test_manage_opens_clerks_profile_ui(browser, live):
    page, _, _, _ = live.page(browser)
    page.goto(f"{SETTINGS}/security")
    page.wait_for_function("() => window.Clerk !== undefined")
    page.evaluate("() => { window.__profileOpened = 0; Clerk.openUserProfile = () => { window.__profileOpened += 1; }; }")
    page.get_by_role("button", name="Manage password and two-factor").click()
    page.wait_for_function("window.__profileOpened === 1")
    assert page.url.endswith(f"{SETTINGS}/security")
    page.context.close()


def test_clerk_down_leaves_the_rest_of_the_security_section_usable(browser, live):
    page, _, _, _ = live.page(browser, viewport=PHONE, email=f"kim-{uuid.uuid4().hex[:6]}@example.test")
    live.emulator.fault("error", count=3, status=503, path="/v1/sessions")
    try:
        response = page.goto(f"{SETTINGS}/security")
    finally:
        live.emulator.clear_faults()
    assert response.status == 200
    assert page.locator("#sessions-unavailable").is_visible()
    assert "Clerk had a problem (HTTP 503)" in page.locator("#sessions-unavailable").inner_text()
    assert page.get_by_role("button", name="Manage password and two-factor").is_visible()
    live.screenshot(page, "section-security-clerk-down-390")
    page.context.close()


def test_integrations_empty_state(browser, live):
    page, _, _, _ = live.page(browser, viewport=PHONE)
    page.goto(f"{SETTINGS}/integrations")
    assert page.locator("#accounts-empty").is_visible()
    assert page.get_by_role("button", name="Connect an account").is_visible()
    live.screenshot(page, "section-integrations-empty-390")
    page.context.close()


# --- Every section at desktop and phone widths -------------------------------------------------

SECTIONS = ("notifications", "security", "billing", "appearance", "integrations")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop-1280", "phone-390"])
@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_renders_at_desktop_and_phone_widths(browser, live, section, viewport):
    page, user_id, clerk_id, _ = live.page(browser, viewport=viewport, email=f"sam-{uuid.uuid4().hex[:6]}@example.test")
    live.update_user(user_id, points=1_234)
    other_agent = DESKTOP_UA if viewport == PHONE else PHONE_UA
    live.emulator.create_session(clerk_id, user_agent=other_agent, city="Lisbon", country="PT", ip_address="203.0.113.7")
    if section == "integrations":
        live.emulator.update_user(clerk_id, connect=["oauth_google", "oauth_github"])
        with live.app.app_context():
            from mentorly.users import sync_user_to_db

            sync_user_to_db(live.emulator.api("GET", f"/users/{clerk_id}").json())

    response = page.goto(f"{SETTINGS}/{section}")
    assert response.status == 200
    heading = page.locator("#section-title")
    assert heading.is_visible()
    assert no_horizontal_overflow(page), f"{section} scrolls sideways at {viewport['width']} px"
    live.screenshot(page, f"section-{section}-{viewport['width']}")
    assert page.errors == []
    page.context.close()


# --- No console errors (issue #15) ---------------------------------------------------------------

SECTION_LABELS = [
    ("profile", "Profile"),
    ("notifications", "Notifications"),
    ("security", "Security"),
    ("billing", "Billing"),
    ("appearance", "Appearance"),
    ("integrations", "Integrations"),
]


def collect_console_errors(page) -> list[str]:
    errors: list[str] = []

    def on_console(message) -> None:
        # The favicon is another change's; until it lands its 404 is not this page's error.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_no_console_errors_on_profile_each_section_and_the_onboarding_review(browser, live):
    from playwright.sync_api import expect

    page, user_id, _, _ = live.page(browser, first_name="Cora", last_name="Console")
    errors = collect_console_errors(page)
    page.goto(f"{SETTINGS}/profile")
    expect(page.locator("#section-title")).to_have_text("Profile")
    page.wait_for_load_state("networkidle")
    nav = page.locator(".settings-nav")
    for slug, label in SECTION_LABELS[1:] + SECTION_LABELS[:1]:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"**{SETTINGS}/{slug}")
        expect(page.locator("#section-title")).to_have_text(label)
        page.wait_for_load_state("networkidle")
    for slug, label in SECTION_LABELS:
        page.goto(f"{SETTINGS}/{slug}")
        expect(page.locator("#section-title")).to_have_text(label)
        page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    assert errors == []

    # At the wizard's last step: the review, Back to the goals, and the browser's Back.
    live.update_user(user_id, is_onboarded=False, onboarding_step=3)
    page.goto("/onboarding/review")
    page.wait_for_load_state("networkidle")
    page.locator(".wizard-actions").get_by_role("button", name="Back").click()
    page.wait_for_url("**/onboarding/goals")
    page.wait_for_load_state("networkidle")
    page.go_back()
    page.wait_for_url("**/onboarding/review")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    assert errors == []
    page.context.close()
