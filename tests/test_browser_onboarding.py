"""The onboarding wizard in Chromium, against the app served from a real server thread on
PostgreSQL (built by the migrations) and the local Clerk emulator, whose webhooks reach that
server. A new user signs in through the emulator's sign-in page (loaded by the app's /sign-in
through the ClerkJS stand-in), completes the wizard with one invalid entry corrected on the
way and lands on the dashboard; a second run reloads mid-way, signs in again on another
device and resumes. Every step is captured at desktop and phone widths in test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import DESKTOP, PHONE, LiveApp
from tests.onboarding_support import load_user

# One xdist worker runs the module, so it starts the module's servers once.
pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.xdist_group("browser-onboarding")]

BROWSER_TIMEZONE = "Europe/Lisbon"


@pytest.fixture(scope="module")
def site(reused_postgres_database, tmp_path_factory) -> Iterator[LiveApp]:
    # Tokens live long enough for a slow machine: renewal is not what these tests are about.
    with LiveApp(reused_postgres_database.url, tmp_path_factory.mktemp("emulator"), deliver_webhooks=True,
                 token_lifetime=600) as site:
        yield site


@pytest.fixture
def live(site, reused_postgres_database) -> LiveApp:
    return site.fresh(reused_postgres_database)


def capture(page, artifacts: Path, name: str) -> None:
    """The page at desktop width, then at phone width (and back to desktop)."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(artifacts / f"onboarding-{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(artifacts / f"onboarding-{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def sign_in_through_emulator(page, live: LiveApp, *, email: str, first_name: str) -> None:
    """From the landing page: the app's /sign-in, the emulator's page, and back with a session."""
    page.goto(live.url + "/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.emulator.url}/sign-in?*")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("First name").fill(first_name)
    page.get_by_role("button", name="Create account and sign in").click()
    # Back at the app, which sends a new user from the dashboard to the wizard's first step.
    page.wait_for_url(f"{live.url}/onboarding/about")


def user_id_of(live: LiveApp, email: str) -> str:
    users = live.emulator.api("GET", "/users", params={"limit": 100}).json()
    return next(user["id"] for user in users if user["email_addresses"][0]["email_address"] == email)


def save_and_wait(page, live: LiveApp, next_slug: str) -> None:
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(f"{live.url}/onboarding/{next_slug}")
    page.locator("#step-heading:focus").wait_for()


def test_a_new_user_signs_in_completes_the_wizard_and_lands_on_the_dashboard(browser, live, artifacts):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP, timezone_id=BROWSER_TIMEZONE)
    page = context.new_page()
    page.goto(live.url + "/")
    capture(page, artifacts, "0-landing")
    sign_in_through_emulator(page, live, email="ada@example.test", first_name="Ada")

    # Step 1: prefilled from Clerk; an invalid username is refused at its field, then corrected.
    assert page.get_by_label("First name").input_value() == "Ada"
    capture(page, artifacts, "1-about")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Username").fill("ada!")
    page.get_by_role("button", name="Save and continue").click()
    error = page.locator("#username-error")
    error.wait_for()
    assert "letters a–z" in error.inner_text()
    assert page.get_by_label("Username").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Last name").input_value() == "Lovelace"  # input kept
    assert page.url == f"{live.url}/onboarding/about"
    capture(page, artifacts, "1-about-invalid")
    page.get_by_label("Username").fill("ada_lovelace")
    save_and_wait(page, live, "profile")

    # Step 2: the time zone comes preselected from the browser.
    assert page.get_by_label("Time zone").input_value() == BROWSER_TIMEZONE
    page.get_by_label("Bio").fill("First programmer.\nPoet of science.")
    assert page.locator("#bio-counter").inner_text().strip() == "34 / 160"
    page.get_by_label("Location").fill("London")
    page.get_by_label("Website").fill("ada.example")
    capture(page, artifacts, "2-profile")
    save_and_wait(page, live, "goals")

    # Step 3; then the browser's back, the wizard's Back link and forward again: each step
    # shows the saved values.
    capture(page, artifacts, "3-goals")
    page.get_by_label("Mentor others").check()
    page.get_by_label("Software engineering").check()
    page.get_by_label("Leadership & management").check()
    save_and_wait(page, live, "review")
    page.go_back()
    # htmx asks the server for the step (no snapshots are kept), so the saved answers show.
    expect(page).to_have_url(f"{live.url}/onboarding/goals")
    expect(page.locator("#step-heading")).to_have_text("Your goals")
    expect(page.get_by_label("Mentor others")).to_be_checked()
    expect(page.get_by_label("Leadership & management")).to_be_checked()
    page.get_by_role("button", name="Back").click()
    page.wait_for_url(f"{live.url}/onboarding/profile")
    assert page.get_by_label("Website").input_value() == "https://ada.example"
    assert page.get_by_label("Time zone").input_value() == BROWSER_TIMEZONE
    page.go_back()
    expect(page.locator("#step-heading")).to_have_text("Your goals")
    page.go_forward()
    expect(page).to_have_url(f"{live.url}/onboarding/profile")
    expect(page.get_by_label("Location")).to_have_value("London")
    save_and_wait(page, live, "goals")
    save_and_wait(page, live, "review")

    # Step 4: the summary, then finish.
    summary = page.locator(".review").inner_text()
    for expected in ("Ada Lovelace", "ada_lovelace", "London", "Europe/Lisbon", "https://ada.example",
                     "Mentor others", "Software engineering, Leadership & management"):
        assert expected in summary, expected
    capture(page, artifacts, "4-review")
    page.get_by_role("button", name="Finish and go to your dashboard").click()
    page.wait_for_url(f"{live.url}/dashboard")
    assert "Welcome to Mentorly, Ada!" in page.locator(".welcome-banner").inner_text()
    assert "@ada_lovelace" in page.locator(".profile-summary").inner_text()
    capture(page, artifacts, "5-dashboard")

    # Clerk holds what was entered, and the finished flag.
    user_id = user_id_of(live, "ada@example.test")
    at_clerk = live.emulator.api("GET", f"/users/{user_id}").json()
    assert at_clerk["public_metadata"]["onboardingComplete"] is True
    assert (at_clerk["first_name"], at_clerk["last_name"], at_clerk["username"]) == ("Ada", "Lovelace", "ada_lovelace")
    stored = load_user(live.app, user_id)
    assert (stored.is_onboarded, stored.onboarding_step, stored.timezone) == (True, 4, BROWSER_TIMEZONE)
    # Clerk's webhooks reached the server and were accepted.
    deliveries = live.emulator.sent_webhooks()
    assert {"user.created", "user.updated", "session.created"} <= {d["payload"]["type"] for d in deliveries}
    assert all(d["status"] == "delivered" for d in deliveries), deliveries

    # Signed in, the landing page leads to the dashboard; and the wizard is closed.
    page.goto(live.url + "/")
    page.get_by_role("button", name="Go to your dashboard").wait_for()
    capture(page, artifacts, "5-landing-signed-in")
    page.goto(live.url + "/onboarding/about")
    page.wait_for_url(f"{live.url}/dashboard")
    context.close()


def test_a_reload_or_a_new_sign_in_resumes_at_the_first_unfinished_step(browser, live, artifacts):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP, timezone_id="America/New_York")
    page = context.new_page()
    sign_in_through_emulator(page, live, email="grace@example.test", first_name="Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Username").fill("grace_h")
    save_and_wait(page, live, "profile")
    page.get_by_label("Location").fill("Arlington")
    save_and_wait(page, live, "goals")
    page.get_by_label("Learn from a mentor").check()

    # A reload mid-way: the same step, and nothing saved that was not submitted.
    page.reload()
    assert page.url == f"{live.url}/onboarding/goals"
    assert page.locator("#step-heading").inner_text() == "Your goals"
    assert not page.get_by_label("Learn from a mentor").is_checked()
    capture(page, artifacts, "6-resumed-after-reload")

    # Typing a later step's URL lands on the first unfinished one.
    page.goto(live.url + "/onboarding/review")
    page.wait_for_url(f"{live.url}/onboarding/goals")

    # Too many interests is refused at the field (the browser itself insists on a goal), the
    # choices stay as they were, and nothing moves on.
    page.get_by_label("Learn from a mentor").check()
    for interest in ("Design & UX", "Entrepreneurship", "Changing careers", "Public speaking",
                     "Marketing & growth", "Data science & AI"):
        page.get_by_label(interest).check()
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#interests-errors")).to_contain_text("Pick at most 5 interests.")
    assert page.url == f"{live.url}/onboarding/goals"
    assert page.get_by_label("Learn from a mentor").is_checked()
    assert page.get_by_label("Data science & AI").is_checked()
    capture(page, artifacts, "3-goals-invalid")

    # Another device: a new browser signs in again as the same user and resumes at goals.
    other = browser.new_context(viewport=PHONE, timezone_id="Asia/Tokyo")
    phone = other.new_page()
    phone.goto(live.url + "/sign-in")
    phone.wait_for_url(f"{live.emulator.url}/sign-in?*")
    phone.get_by_role("button", name="Sign in as Grace Hopper").click()
    phone.wait_for_url(f"{live.url}/onboarding/goals")
    phone.get_by_role("button", name="Back").click()
    phone.wait_for_url(f"{live.url}/onboarding/profile")
    assert phone.get_by_label("Location").input_value() == "Arlington"
    # The saved time zone (from the first browser) is kept, not replaced by this one's.
    assert phone.get_by_label("Time zone").input_value() == "America/New_York"
    phone.screenshot(path=str(artifacts / "onboarding-7-other-device-phone.png"), full_page=True)
    save_and_wait(phone, live, "goals")
    phone.get_by_label("Both: learn and mentor").check()
    phone.get_by_label("Public speaking").check()
    save_and_wait(phone, live, "review")
    phone.get_by_role("button", name="Finish and go to your dashboard").click()
    phone.wait_for_url(f"{live.url}/dashboard")
    other.close()

    # The first browser, reloaded, is past the wizard too.
    page.reload()
    page.wait_for_url(f"{live.url}/dashboard")
    assert "Grace Hopper" in page.locator(".profile-summary").inner_text()
    context.close()


def test_the_wizard_works_without_javascript(browser, live, artifacts):  # noqa: F811
    # Clerk's sign-in page needs JavaScript, so this browser gets its session the way ClerkJS
    # would leave it: a token from the emulator in the `__session` cookie.
    person = live.emulator.create_user(email="nojs@example.test", first_name="Alan", last_name=None)
    token = live.emulator.sign_in(person["id"])
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    context.add_cookies([{"name": "__session", "value": token, "url": live.url}])
    page = context.new_page()
    page.goto(live.url + "/dashboard")
    page.wait_for_url(f"{live.url}/onboarding/about")

    page.get_by_label("Last name").fill("Turing")
    page.get_by_label("Username").fill("al")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_load_state()
    assert page.url == f"{live.url}/onboarding/about"  # the 422 page itself
    assert "Username must be 4 to 64 characters long." in page.locator("#username-error").inner_text()
    assert page.get_by_label("Last name").input_value() == "Turing"
    page.screenshot(path=str(artifacts / "onboarding-nojs-about-invalid-phone.png"), full_page=True)
    page.get_by_label("Username").fill("alan_t")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(f"{live.url}/onboarding/profile")
    assert page.get_by_label("Time zone").input_value() == "UTC"  # no script to suggest one
    page.get_by_label("Time zone").select_option("Europe/London")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(f"{live.url}/onboarding/goals")
    page.get_by_label("Both: learn and mentor").check()
    page.get_by_label("Public speaking").check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(f"{live.url}/onboarding/review")
    page.get_by_role("button", name="Finish and go to your dashboard").click()
    page.wait_for_url(f"{live.url}/dashboard")
    assert "Welcome to Mentorly, Alan!" in page.locator(".welcome-banner").inner_text()
    page.screenshot(path=str(artifacts / "onboarding-nojs-dashboard-phone.png"), full_page=True)
    at_clerk = live.emulator.api("GET", f"/users/{person['id']}").json()
    assert at_clerk["public_metadata"]["onboardingComplete"] is True
    assert (at_clerk["last_name"], at_clerk["username"]) == ("Turing", "alan_t")
    context.close()


def test_a_browser_reporting_a_legacy_zone_name_is_offered_the_current_one(browser, live):  # noqa: F811
    # Chromium reports India's zone by its legacy name, Asia/Calcutta; the list has Asia/Kolkata.
    context = browser.new_context(viewport=DESKTOP, timezone_id="Asia/Calcutta")
    page = context.new_page()
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Calcutta"
    sign_in_through_emulator(page, live, email="ada.india@example.test", first_name="Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Username").fill("ada_in")
    save_and_wait(page, live, "profile")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")
    assert page.locator("#timezone option[value='Asia/Calcutta']").count() == 0
    # Back to the first step and forward again: the step comes back with the suggestion.
    page.go_back()
    page.wait_for_url(f"{live.url}/onboarding/about")
    expect(page.get_by_label("Username")).to_be_visible()
    page.go_forward()
    page.wait_for_url(f"{live.url}/onboarding/profile")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")
    context.close()
