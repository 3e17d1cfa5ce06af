"""The Security section against the local Clerk emulator (a real HTTP service).

Sessions are listed from the emulator, revoked there, and the emulator's fault injection stands in
for Clerk being slow, failing or rate limiting.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from mentorly.clerk.client import ClerkClient
from mentorly.settings.security import ActiveSession, clerk_profile_url
from tests.sections_support import (
    DESKTOP_UA,
    HTMX,
    PHONE_UA,
    SETTINGS,
    emulator_app,  # noqa: F401 - fixture
    emulator_sign_in,  # noqa: F401 - fixture
    page_csrf,
    text,
)

pytestmark = pytest.mark.postgres

URL = f"{SETTINGS}/security"


@pytest.fixture
def client(emulator_app):
    return emulator_app.test_client()


def session_status(emulator, session_id: str) -> str:
    response = emulator.api("GET", f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["status"]


def session_block(page: str, session_id: str) -> str:
    start = page.find(f'id="session-{session_id}"')
    assert start != -1, f"session {session_id} is not listed"
    return page[start:page.find("</li>", start)]


def plain(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", page))


def revoke(client, token: str, session_id: str, headers=None):
    return client.post(URL, data={"csrf_token": token, "session_id": session_id}, headers=headers or {})


def test_the_sign_in_facts_come_from_the_users_row(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client, email="ada@example.test")
    page = plain(text(client.get(URL)))
    assert "ada@example.test" in page
    assert re.search(r"Password</dt>\s*<dd><span class=\"badge[^\"]*\">(On|Not set)", page)

    # Clerk reports a change (as its webhook would): the section shows it.
    changed = emulator.update_user(signed_in.clerk_id, two_factor_enabled=True, password_enabled=True, email_verified=False)
    with emulator_app.app_context():
        from mentorly.users import sync_user_to_db

        sync_user_to_db(emulator.api("GET", f"/users/{changed['id']}").json())
    page = plain(text(client.get(URL)))
    assert re.search(r"Two-factor authentication</dt> <dd><span class=\"badge badge-ok\">On", page)
    assert re.search(r"Password</dt> <dd><span class=\"badge badge-ok\">On", page)
    assert "Not verified" in page
    assert f'href="{emulator.url}/user"' in page  # Clerk's own profile UI, also without JavaScript
    assert "data-clerk-user-profile" in page


def test_active_sessions_are_listed_with_this_device_marked(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    phone = emulator.create_session(signed_in.clerk_id, user_agent=PHONE_UA, city="Lisbon", country="PT",
                                    ip_address="203.0.113.7")
    ended = emulator.create_session(signed_in.clerk_id)
    emulator.end_session(ended.id)

    page = text(client.get(URL))

    assert page.index(f'id="session-{signed_in.session.id}"') < page.index(f'id="session-{phone.id}"')
    current = plain(session_block(page, signed_in.session.id))
    assert "This device" in current
    assert "Chrome 131" in current and "Linux" in current
    assert "Sign out this device" not in current  # the current session has no revoke button
    other = plain(session_block(page, phone.id))
    assert "This device" not in other
    assert "iPhone" in other and "(mobile)" in other and "Safari 18" in other
    assert "Lisbon, PT" in other and "203.0.113.7" in other
    assert "Last active" in other and "UTC" in other
    assert "Sign out this device" in other
    assert f'id="session-{ended.id}"' not in page  # only active sessions


def test_revoking_a_session_ends_it_in_clerk(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    phone = emulator.create_session(signed_in.clerk_id, user_agent=PHONE_UA)
    token = page_csrf(client, "security")

    response = revoke(client, token, phone.id, headers=HTMX)

    assert response.status_code == 200
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "Signed out of Safari 18 on iPhone.", "level": "success"}
    assert session_status(emulator, phone.id) == "revoked"
    assert session_status(emulator, signed_in.session.id) == "active"
    assert f'id="session-{phone.id}"' not in text(response)  # the section comes back without it
    assert f'id="session-{signed_in.session.id}"' in text(response)


def test_without_javascript_a_revoke_redirects_back_to_the_section(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id, user_agent=DESKTOP_UA)
    token = page_csrf(client, "security")

    response = revoke(client, token, other.id)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    assert session_status(emulator, other.id) == "revoked"
    page = text(client.get(URL))
    assert "Signed out of Chrome 131 on Linux." in page
    assert f'id="session-{other.id}"' not in page


def test_the_current_session_cannot_be_revoked(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    token = page_csrf(client, "security")

    response = revoke(client, token, signed_in.session.id, headers=HTMX)

    assert response.status_code == 422
    assert "That is the session you are using now. To end it, sign out." in plain(text(response))
    assert session_status(emulator, signed_in.session.id) == "active"


def test_another_users_session_is_refused(emulator_app, emulator, emulator_sign_in, client):
    emulator_sign_in(client)
    stranger = emulator.create_user()
    their_session = emulator.create_session(stranger["id"])
    token = page_csrf(client, "security")

    response = revoke(client, token, their_session.id)

    assert response.status_code == 422
    assert "That session is not one of your active sessions, so it was not ended." in plain(text(response))
    assert session_status(emulator, their_session.id) == "active"


@pytest.mark.parametrize("session_id", ["sess_doesnotexist", "", "x" * 500])
def test_unknown_or_malformed_session_ids_are_refused(emulator_app, emulator, emulator_sign_in, client, session_id):
    emulator_sign_in(client)
    token = page_csrf(client, "security")
    response = revoke(client, token, session_id)
    assert response.status_code == 422
    assert 'id="revoke-error"' in text(response)


def test_an_ended_session_cannot_be_revoked_again(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id)
    token = page_csrf(client, "security")
    emulator.end_session(other.id)
    response = revoke(client, token, other.id)
    assert response.status_code == 422
    assert session_status(emulator, other.id) == "ended"


def test_revoking_needs_a_csrf_token(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id)
    response = client.post(URL, data={"session_id": other.id}, headers=HTMX)
    assert response.status_code == 400
    assert session_status(emulator, other.id) == "active"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"mode": "error", "status": 500}, "Clerk had a problem (HTTP 500)"),
        ({"mode": "error", "status": 503}, "Clerk had a problem (HTTP 503)"),
        ({"mode": "rate_limit", "retry_after": 30}, "Clerk is receiving too many requests"),
    ],
    ids=["500", "503", "429"],
)
def test_clerk_down_shows_a_message_inside_the_section(emulator_app, emulator, emulator_sign_in, client, fault, message):
    emulator_sign_in(client, email="grace@example.test")
    emulator.fault(count=10, path="/v1/sessions", **fault)

    for headers in ({}, HTMX):
        response = client.get(URL, headers=headers)
        assert response.status_code == 200
        page = plain(text(response))
        assert "Your sessions cannot be shown right now." in page
        assert message in page
        assert "grace@example.test" in page  # the rest of the section still renders
    assert 'aria-label="Settings sections"' in plain(text(client.get(URL)))  # and the whole page around it


def test_clerk_too_slow_shows_a_message_inside_the_section(emulator_app, emulator, emulator_sign_in, client):
    emulator_sign_in(client)
    with emulator_app.app_context():
        config = emulator_app.config
        # A short read timeout, so the emulator's slow answer is a real client-side timeout.
        emulator_app.extensions["mentorly.clerk_client"] = ClerkClient(
            config["CLERK_API_URL"], config["CLERK_SECRET_KEY"], config["CLERK_API_VERSION"], timeout=(2, 0.5)
        )
    emulator.fault("timeout", count=3, delay=2, path="/v1/sessions")

    response = client.get(URL)

    assert response.status_code == 200
    assert "Clerk did not answer in time." in plain(text(response))


def test_a_revoke_while_clerk_is_down_changes_nothing_and_says_so(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id)
    token = page_csrf(client, "security")
    emulator.fault("error", count=1, status=502, path="/v1/sessions", method="POST")

    response = revoke(client, token, other.id, headers=HTMX)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "The session was not ended. Clerk had a problem (HTTP 502)." in plain(text(response))
    assert session_status(emulator, other.id) == "active"


def test_session_activity_with_missing_details_still_reads_well():
    session = ActiveSession.from_clerk({"id": "sess_1", "status": "active", "latest_activity": None}, "sess_2")
    assert (session.device, session.browser, session.location, session.last_active_at) == (
        "Unknown device", "Unknown browser", "Unknown location", None)
    assert not session.is_current
    assert ActiveSession.from_clerk({"id": "sess_2"}, "sess_2").is_current
    assert not ActiveSession.from_clerk({"id": "sess_2"}, None).is_current


@pytest.mark.parametrize(
    ("publishable_key", "expected"),
    [
        ("pk_live_Y2xlcmsubWVudG9ybHkuZXhhbXBsZSQ", "https://accounts.mentorly.example/user"),
        ("pk_test_aGFwcHktb3R0ZXItMTIuY2xlcmsuYWNjb3VudHMuZGV2JA", "https://happy-otter-12.accounts.dev/user"),
        ("pk_test_MTI3LjAuMC4xOjUwMDEk", "http://127.0.0.1:5001/user"),
    ],
)
def test_the_hosted_profile_page_is_next_to_the_frontend_api(app, publishable_key, expected):
    app.config["CLERK_PUBLISHABLE_KEY"] = publishable_key
    with app.test_request_context():
        assert clerk_profile_url() == expected


def test_a_session_that_ended_just_before_the_revoke_counts_as_revoked(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id, user_agent=DESKTOP_UA)
    token = page_csrf(client, "security")
    emulator.fault("error", count=1, status=404, path="/v1/sessions", method="POST")

    response = revoke(client, token, other.id, headers=HTMX)

    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "Signed out of Chrome 131 on Linux."


def test_any_other_refusal_from_clerk_is_shown(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    other = emulator.create_session(signed_in.clerk_id)
    token = page_csrf(client, "security")
    emulator.fault("error", count=1, status=403, path="/v1/sessions", method="POST")

    response = revoke(client, token, other.id, headers=HTMX)

    assert response.status_code == 422
    assert "Clerk would not end that session" in plain(text(response))
    assert session_status(emulator, other.id) == "active"


def test_last_active_is_shown_in_the_profiles_time_zone(emulator_app, emulator, emulator_sign_in, client):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from mentorly.extensions import db
    from mentorly.models import User

    signed_in = emulator_sign_in(client)
    phone = emulator.create_session(signed_in.clerk_id, user_agent=PHONE_UA)
    with emulator_app.app_context():
        db.session.execute(db.update(User).where(User.clerk_id == signed_in.clerk_id).values(timezone="Pacific/Auckland"))
        db.session.commit()
    block = session_block(text(client.get(URL)), phone.id)
    moment = datetime.fromisoformat(re.search(r'<time datetime="([^"]+)">', block).group(1))
    expected = moment.astimezone(ZoneInfo("Pacific/Auckland")).strftime("%-d %b %Y, %H:%M %Z")
    assert expected.endswith(("NZDT", "NZST"))
    assert f">{expected}</time>" in block
    assert "UTC" not in plain(block)
