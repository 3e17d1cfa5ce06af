"""Downloading your data and deleting your account, in real Chromium (Playwright).

The app runs on PostgreSQL (built by the migrations) behind a real HTTP server; a dedicated Clerk
emulator knows the app's address, so its ClerkJS stand-in works on the app's pages, its
"verify it's you" page can send the browser back, and its webhooks reach the app.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Iterator

import jwt
import pytest
from sqlalchemy import select

from mentorly.extensions import db
from mentorly.models import WebhookEvent
from mentorly.users import sync_user_to_db, update_user_profile

from .browser import DESKTOP, LiveApp, signed_in_cookies
from .test_browser_sign_in import wait_for
from .webhook_support import user_row, users_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

SECURITY = "/dashboard/settings/security"


@pytest.fixture
def live(postgres_url, tmp_path) -> Iterator[LiveApp]:
    """The app on a real HTTP server with an emulator of its own that delivers its webhooks."""
    with LiveApp(postgres_url, tmp_path / "clerk", deliver_webhooks=True) as server:
        yield server


def delivered(live, clerk_id: str, event_type: str) -> WebhookEvent | None:
    with live.app.app_context():
        found = db.session.execute(
            select(WebhookEvent).where(WebhookEvent.clerk_id == clerk_id, WebhookEvent.type == event_type)
        ).scalar_one_or_none()
        if found is not None:
            db.session.expunge(found)
        return found


@pytest.fixture
def person(live):
    """A Clerk user stored here (its user.created webhook has arrived), onboarded, with a profile."""
    clerk_user = live.emulator.create_user(email="noor@example.test", username="noor_k", first_name="Noor",
                                           last_name="Khalil")
    wait_for(lambda: delivered(live, clerk_user["id"], "user.created"), message="the user.created webhook")
    with live.app.app_context():
        user = sync_user_to_db(live.emulator.api("GET", f"/users/{clerk_user['id']}").json())
        user.is_onboarded, user.onboarding_step = True, 4
        db.session.commit()
        update_user_profile(clerk_user["id"], bio="Ingénieure, mentore ✨", location="Beirut",
                            timezone="Asia/Beirut", website="https://noor.example")
    return clerk_user


def open_security(browser, live, person, **session_options):
    session = live.emulator.create_session(person["id"], lifetime=600, **session_options)
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.add_cookies(signed_in_cookies(live.url, session))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{live.url}{SECURITY}")
    # ClerkJS (the emulator's stand-in) is loaded and keeps the session token fresh.
    page.wait_for_function("window.Clerk && window.Clerk.loaded")
    return context, page, session


def clerk_has(live, clerk_id: str) -> bool:
    return live.emulator.api("GET", f"/users/{clerk_id}").status_code == 200


def submit_deletion(page, typed: str = "DELETE"):
    page.get_by_label("To confirm, type DELETE").fill(typed)
    with page.expect_response(lambda r: r.url.endswith(SECURITY) and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Delete my account").click()
    return answer.value


def test_download_your_data_matches_the_stored_row(browser, live, person, artifacts):
    from playwright.sync_api import expect

    context, page, _ = open_security(browser, live, person)
    wait_for(lambda: delivered(live, person["id"], "session.created"), message="the session.created webhook")
    expect(page.get_by_role("heading", name="Delete account")).to_be_visible()
    page.locator("#your-data").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "security-your-data-and-delete-account.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download your data").click()
    download = info.value

    assert re.fullmatch(r"mentorly-noor_k-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    row = user_row(live.app, person["id"])
    assert data["account"]["clerk_id"] == row.clerk_id
    assert {name: data["clerk"][name] for name in ("email", "username", "first_name", "last_name", "image_url")} == {
        "email": row.email, "username": row.username, "first_name": row.first_name,
        "last_name": row.last_name, "image_url": row.image_url}
    assert data["profile"] == {"bio": row.bio, "website": row.website, "location": row.location,
                               "timezone": row.timezone}
    assert data["profile"]["bio"] == "Ingénieure, mentore ✨"
    assert (data["progress"], data["appearance"]["theme"]) == ({"points": row.points, "level": row.level}, row.theme)
    assert [d["type"] for d in data["webhook_deliveries"]] == ["user.created", "session.created"]
    assert page.url == f"{live.url}{SECURITY}"  # the page stays
    assert page.errors == []
    context.close()


def test_delete_with_a_fresh_verification_lands_home_with_the_account_gone(browser, live, person):
    from playwright.sync_api import expect

    context, page, _ = open_security(browser, live, person)

    submit_deletion(page)

    page.wait_for_url(f"{live.url}/")
    expect(page.get_by_text("Your account has been deleted.")).to_be_visible()
    assert not clerk_has(live, person["id"])
    row = user_row(live.app, person["id"])
    assert row.deleted_at is not None and (row.email, row.username, row.bio) == (None, None, None)
    assert not [c for c in context.cookies(live.url) if c["name"].startswith("__session")]
    # Clerk's user.deleted webhook follows: recorded, and it changes nothing.
    tombstone = users_snapshot(live.app)
    recorded = wait_for(lambda: delivered(live, person["id"], "user.deleted"), message="the user.deleted webhook")
    assert recorded.status == "applied"
    assert users_snapshot(live.app) == tombstone
    # The settings are gone with the account.
    page.goto(f"{live.url}{SECURITY}")
    page.wait_for_url(re.compile(re.escape(live.emulator.url) + r"/sign-in"))
    assert page.errors == []
    context.close()


def test_a_stale_verification_goes_through_clerks_verification_first(browser, live, person, artifacts):
    from playwright.sync_api import expect

    context, page, session = open_security(browser, live, person, factor_verification_age={"first_factor": 15})

    answer = submit_deletion(page)

    assert answer.status == 403
    notice = page.locator("#confirm-identity")
    expect(notice).to_contain_text("Confirm it's you first.")
    assert clerk_has(live, person["id"]) and user_row(live.app, person["id"]).deleted_at is None
    expect(page.locator("#confirm-identity noscript")).to_have_count(1)
    notice.screenshot(path=str(artifacts / "security-confirm-its-you.png"))

    # ClerkJS's user verification: the emulator's page, then back to the deletion.
    notice.get_by_role("button", name="Confirm it's you").click()
    page.wait_for_url(f"{live.emulator.url}/verify*")
    page.get_by_label("Verification code").fill("424242")
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live.url}{SECURITY}#delete-account")
    token = next(c["value"] for c in context.cookies(live.url) if c["name"] == "__session")
    assert jwt.decode(token, options={"verify_signature": False})["fva"][0] == 0
    expect(page.locator("#confirm-identity")).to_have_count(0)

    submit_deletion(page)

    page.wait_for_url(f"{live.url}/")
    expect(page.get_by_text("Your account has been deleted.")).to_be_visible()
    assert not clerk_has(live, person["id"])
    assert user_row(live.app, person["id"]).deleted_at is not None
    assert page.errors == []
    context.close()


def test_a_wrong_confirmation_is_a_422_at_the_field(browser, live, person):
    from playwright.sync_api import expect

    context, page, _ = open_security(browser, live, person)
    before = users_snapshot(live.app)

    answer = submit_deletion(page, "delete")

    assert answer.status == 422
    field = page.get_by_label("To confirm, type DELETE")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.locator("#confirmation-error")).to_have_text("Type DELETE, in capital letters, to confirm.")
    assert page.url == f"{live.url}{SECURITY}"
    assert clerk_has(live, person["id"]) and users_snapshot(live.app) == before
    assert page.errors == []
    context.close()


def test_when_clerk_is_down_nothing_is_deleted(browser, live, person):
    from playwright.sync_api import expect

    context, page, _ = open_security(browser, live, person)
    before = users_snapshot(live.app)
    live.emulator.fault("error", status=503, path="/v1/users", method="DELETE")

    answer = submit_deletion(page)

    assert answer.status == 503
    alert = page.locator("#delete-error")
    expect(alert).to_contain_text("Your account was not deleted.")
    expect(alert).to_contain_text("Clerk had a problem (HTTP 503)")
    assert clerk_has(live, person["id"])
    time.sleep(0.5)  # nothing arrives late either
    assert users_snapshot(live.app) == before
    assert page.errors == []
    context.close()
