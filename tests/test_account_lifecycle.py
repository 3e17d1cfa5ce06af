"""Settings → Security: "Download your data" and "Delete account", on SQLite and PostgreSQL (built by
the migrations), against the local Clerk emulator over HTTP.

The emulator's webhooks go to a small receiver and are then delivered to the app exactly as
sent (Svix-signed), so the deliveries in the export and the `user.deleted` that follows a deletion
are the ones Clerk's stand-in really sent.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime

import pytest

from mentorly.account_lifecycle import CLERK_FIELDS
from mentorly.clerk.reverification import verified_recently
from mentorly.extensions import db
from mentorly.models import WebhookEvent
from mentorly.settings.notifications import save_notification_settings
from mentorly.users import get_user_by_clerk_id, save_onboarding_step, update_appearance, update_user_profile
from tests.emulator import WebhookReceiver
from tests.sections_support import (
    HTMX,
    SETTINGS,
    emulator_app,  # noqa: F401 - fixture
    emulator_sign_in,  # noqa: F401 - fixture
    page_csrf,
    text,
)
from tests.webhook_support import as_utc, user_row, users_snapshot

URL = f"{SETTINGS}/security"
DATA_URL = f"{SETTINGS}/security/your-data"
PERSONAL = ("email", "username", "first_name", "last_name", "image_url", "bio", "website", "location", "goal")


@pytest.fixture
def client(emulator_app):
    return emulator_app.test_client()


@pytest.fixture
def webhooks(emulator, webhook_receiver):
    """The emulator's webhooks, held by the receiver until `deliver` posts them to the app."""
    emulator.set_webhooks(True, url=webhook_receiver.url)
    return webhook_receiver


def deliver(emulator, receiver: WebhookReceiver, client, event_type: str | None = None) -> list:
    """Post each delivery the emulator sent (of `event_type`, or all) to the app, as sent."""
    emulator.wait_for_webhooks()
    answers = []
    for hook in receiver.accepted():
        if event_type and hook.json["type"] != event_type:
            continue
        headers = {name: hook.headers[name] for name in ("svix-id", "svix-timestamp", "svix-signature")}
        answers.append(client.post("/api/webhooks/clerk", data=hook.body, headers=headers,
                                   content_type="application/json"))
    return answers


def delete(client, token: str, confirmation: str = "DELETE", headers=None):
    data = {"intent": "delete_account", "confirmation": confirmation}
    if token is not None:
        data["csrf_token"] = token
    return client.post(URL, data=data, headers=headers or {})


def verified_minutes_ago(emulator, client, signed_in, minutes: int | None) -> None:
    """The session's first factor was last verified `minutes` ago (None: never); the browser's
    token says so, as ClerkJS's next refresh would."""
    emulator.set_verification_age(signed_in.session.id, first_factor=minutes)
    client.set_cookie("__session", emulator.mint_token(signed_in.session.id, lifetime=600))


def clerk_has(emulator, clerk_id: str) -> bool:
    status = emulator.api("GET", f"/users/{clerk_id}").status_code
    assert status in (200, 404), status
    return status == 200


def plain(page: str) -> str:
    return re.sub(r"\s+", " ", page)


def words(page: str) -> str:
    """The text a person reads: no tags, spaces collapsed."""
    return plain(html.unescape(re.sub(r"<[^>]+>", "", page)))


def parsed_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# --- Download your data -----------------------------------------------------------------------


def test_the_download_holds_everything_mentorly_has_about_the_person(emulator_app, emulator, emulator_sign_in,
                                                                     client, webhooks):
    signed_in = emulator_sign_in(client, email="ada@example.test", username="ada_l", first_name="Ada",
                                 last_name="Lovelace")
    stranger = emulator.create_user(email="stranger@example.test")
    deliver(emulator, webhooks, client)
    with emulator_app.app_context():
        update_user_profile(signed_in.clerk_id, bio="Mentor à Paris ☕ – ask me anything", website="ada.example",
                            location="Paris", timezone="Europe/Paris")
        save_onboarding_step(signed_in.clerk_id, 3, goal="both", interests=["leadership", "design"])
        update_appearance(signed_in.clerk_id, theme="dark", reduced_motion=True)
        user = get_user_by_clerk_id(signed_in.clerk_id)
        user.points, user.level = 120, 3
        db.session.commit()
        save_notification_settings(user.id, {"mentions_email": False, "digest_frequency": "daily"})

    response = client.get(DATA_URL)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r'attachment; filename="mentorly-ada_l-\d{4}-\d{2}-\d{2}\.json"',
                        response.headers["Content-Disposition"])
    raw = response.get_data()
    assert "Mentor à Paris ☕".encode() in raw  # UTF-8, as written, not \u escapes
    data = json.loads(raw.decode("utf-8"))

    row = user_row(emulator_app, signed_in.clerk_id)
    assert (data["format"], data["version"]) == ("mentorly.account-export", 1)
    assert response.headers["Content-Disposition"].endswith(f'-{data["generated_at"][:10]}.json"')
    assert abs((parsed_time(data["generated_at"]) - as_utc(row.updated_at)).total_seconds()) < 60
    assert data["sources"]["clerk_fields"] == list(CLERK_FIELDS) == list(data["clerk"])
    for name in CLERK_FIELDS:
        stored = getattr(row, name)
        if isinstance(stored, datetime):
            assert parsed_time(data["clerk"][name]) == as_utc(stored), name
        else:
            assert data["clerk"][name] == stored, name
    assert (data["clerk"]["email"], data["clerk"]["first_name"]) == ("ada@example.test", "Ada")
    assert data["account"] == {
        "clerk_id": signed_in.clerk_id,
        "created_at": data["account"]["created_at"],
        "updated_at": data["account"]["updated_at"],
        "deleted_at": None,
    }
    assert parsed_time(data["account"]["created_at"]) == as_utc(row.created_at)
    assert data["profile"] == {"bio": "Mentor à Paris ☕ – ask me anything", "website": "https://ada.example",
                               "location": "Paris", "timezone": "Europe/Paris"}
    assert data["onboarding"] == {"completed": True, "steps_completed": 4, "goal": "both",
                                  "interests": ["design", "leadership"]}
    assert data["appearance"] == {"theme": "dark", "reduced_motion": True}
    assert data["progress"] == {"points": 120, "level": 3}
    assert data["notifications"]["digest_frequency"] == "daily"
    assert data["notifications"]["events"]["mentions"] == {"email": False, "in_app": True}
    assert data["notifications"]["events"]["replies"] == {"email": True, "in_app": True}
    # The deliveries about this person, and nothing about anyone else.
    assert [(d["type"], d["status"]) for d in data["webhook_deliveries"]] == [
        ("user.created", "applied"), ("session.created", "applied")]
    assert set(data["webhook_deliveries"][0]) == {"type", "received_at", "status"}
    assert stranger["id"] not in raw.decode() and "stranger@example.test" not in raw.decode()


def test_a_person_without_username_or_saved_settings_gets_the_defaults_named_by_id(emulator_app, emulator,
                                                                                  emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    response = client.get(DATA_URL)
    assert response.status_code == 200
    assert f'filename="mentorly-{signed_in.clerk_id}-' in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["clerk"]["username"] is None
    assert data["notifications"]["digest_frequency"] == "weekly"
    assert data["notifications"]["events"]["product_updates"] == {"email": False, "in_app": True}
    assert data["notifications"]["updated_at"] is None
    assert data["webhook_deliveries"] == []
    assert data["appearance"] == {"theme": "system", "reduced_motion": False}


def test_the_download_needs_a_signed_in_person(emulator_app, client):
    response = client.get(DATA_URL)
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert client.get(DATA_URL, headers=HTMX).status_code == 401


def test_security_offers_the_download_and_the_deletion(emulator_app, emulator, emulator_sign_in, client):
    emulator_sign_in(client)
    for headers in ({}, HTMX):
        page = plain(text(client.get(URL, headers=headers)))
        # A plain link: it works without JavaScript.
        assert re.search(rf'<a href="{DATA_URL}" role="button" class="secondary" download id="download-data">'
                         r"Download your data</a>", page)
        delete_area = page[page.index('id="delete-account"'):]
        assert page.index('id="sessions"') < page.index('id="delete-account"')  # at the end, set apart
        assert 'class="section-card danger-zone"' in page
        for words in ("cannot be undone", "signs you out on every device", "erases your Mentorly profile",
                      "To confirm, type DELETE", "Delete my account", "needs JavaScript"):
            assert words in delete_area, words
        assert 'name="intent" value="delete_account"' in delete_area and 'name="csrf_token"' in delete_area
        assert 'id="confirm-identity"' not in delete_area


# --- Delete my account --------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "delete", "Delete", "DELETE ME", "DELET"])
def test_anything_but_delete_is_refused_at_the_field(emulator_app, emulator, emulator_sign_in, client, typed):
    signed_in = emulator_sign_in(client)
    token = page_csrf(client, "security")
    before = users_snapshot(emulator_app)

    for headers in (HTMX, {}):
        response = delete(client, token, typed, headers=headers)
        assert response.status_code == 422
        page = plain(text(response))
        field = page[page.index('id="confirmation-field"'):]
        field = field[:field.index("</div>")]
        assert 'aria-invalid="true"' in field and "autofocus" in field
        assert "Type DELETE, in capital letters, to confirm." in field
    assert clerk_has(emulator, signed_in.clerk_id)
    assert users_snapshot(emulator_app) == before


def test_deleting_needs_a_csrf_token(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    assert delete(client, None, headers=HTMX).status_code == 400
    assert clerk_has(emulator, signed_in.clerk_id)
    assert user_row(emulator_app, signed_in.clerk_id).deleted_at is None


def test_an_unknown_form_is_refused(emulator_app, emulator, emulator_sign_in, client):
    emulator_sign_in(client)
    token = page_csrf(client, "security")
    assert client.post(URL, data={"csrf_token": token, "intent": "delete_everyone"}).status_code == 400


@pytest.mark.parametrize("minutes", [10, 45, None], ids=["10-minutes", "45-minutes", "never"])
def test_a_stale_verification_is_sent_to_confirm_its_them_first(emulator_app, emulator, emulator_sign_in, client,
                                                                minutes):
    signed_in = emulator_sign_in(client)
    verified_minutes_ago(emulator, client, signed_in, minutes)
    token = page_csrf(client, "security")
    before = users_snapshot(emulator_app)

    response = delete(client, token, headers=HTMX)

    assert response.status_code == 403
    page = plain(text(response))
    assert not page.lstrip().lower().startswith("<!doctype")  # the section, for htmx to swap in
    notice = page[page.index('id="confirm-identity"'):]
    assert "Confirm it's you first." in notice and "was not deleted" in notice
    assert re.search(r'<p class="reverify-action" hidden><button type="button" class="secondary" '
                     rf'data-clerk-reverify data-return-to="{URL}#delete-account">Confirm it\'s you</button>',
                     notice)
    assert "<noscript><p>Confirming it's you needs JavaScript" in notice
    assert clerk_has(emulator, signed_in.clerk_id)
    assert users_snapshot(emulator_app) == before
    # Without JavaScript: the same, as a whole page.
    page = text(delete(client, token))
    assert page.lstrip().lower().startswith("<!doctype") and 'id="confirm-identity"' in page


def test_a_token_that_does_not_say_when_it_was_verified_is_stale(emulator_app, emulator, emulator_sign_in, client):
    # Tokens from before `fva` existed. (A malformed `fva` signs no one in at all.)
    signed_in = emulator_sign_in(client)
    client.set_cookie("__session", emulator.mint_token(signed_in.session.id, lifetime=600, claims={"fva": None}))
    response = delete(client, page_csrf(client, "security"), headers=HTMX)
    assert response.status_code == 403
    assert clerk_has(emulator, signed_in.clerk_id)


def test_deleting_with_a_fresh_verification_ends_the_account_everywhere(emulator_app, emulator, emulator_sign_in,
                                                                        client, webhooks):
    signed_in = emulator_sign_in(client, email="leaving@example.test", username="leaving_user")
    other_device = emulator.create_session(signed_in.clerk_id)
    verified_minutes_ago(emulator, client, signed_in, 9)
    with emulator_app.app_context():
        update_user_profile(signed_in.clerk_id, bio="Soon gone", location="Lisbon")
    token = page_csrf(client, "security")

    response = delete(client, token)

    assert response.status_code == 303 and response.headers["Location"] == "/"
    cleared = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__session")]
    assert cleared and all("Expires=Thu, 01 Jan 1970" in c for c in cleared)
    assert "Your account has been deleted." in text(client.get("/"))
    # At Clerk: the user is gone, and every session with it.
    assert not clerk_has(emulator, signed_in.clerk_id)
    for session_id in (signed_in.session.id, other_device.id):
        assert emulator.api("GET", f"/sessions/{session_id}").json()["status"] == "removed"
    # Here: a tombstone, exactly as the user.deleted webhook leaves one.
    row = user_row(emulator_app, signed_in.clerk_id)
    assert row.deleted_at is not None
    assert all(getattr(row, name) is None for name in PERSONAL), {name: getattr(row, name) for name in PERSONAL}
    assert (row.email_verified, row.external_accounts, row.interests) == (False, [], [])

    # The webhook that follows is recorded and changes nothing.
    tombstone = users_snapshot(emulator_app)
    answers = deliver(emulator, webhooks, client, "user.deleted")
    assert [answer.status_code for answer in answers] == [200]
    with emulator_app.app_context():
        recorded = db.session.query(WebhookEvent).filter_by(type="user.deleted").one()
        assert (recorded.clerk_id, recorded.status) == (signed_in.clerk_id, "applied")
    assert users_snapshot(emulator_app) == tombstone

    # The old session token signs no one in; a replayed form changes nothing.
    client.set_cookie("__session", emulator.mint_token(signed_in.session.id, lifetime=600))
    replay = delete(client, token)
    assert replay.status_code == 302 and "/sign-in" in replay.headers["Location"]
    assert delete(client, token, headers=HTMX).status_code == 401
    assert users_snapshot(emulator_app) == tombstone


def test_with_htmx_the_deletion_sends_the_browser_home(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    response = delete(client, page_csrf(client, "security"), headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"
    assert not clerk_has(emulator, signed_in.clerk_id)
    assert user_row(emulator_app, signed_in.clerk_id).deleted_at is not None
    assert "Your account has been deleted." in text(client.get("/"))


def test_an_account_clerk_has_deleted_already_is_tombstoned_here_too(emulator_app, emulator, emulator_sign_in,
                                                                     client):
    # A second click whose first one Clerk answered, or a deletion in Clerk's dashboard whose
    # webhook has not arrived yet: Clerk answers 404, which is the outcome asked for.
    signed_in = emulator_sign_in(client)
    token = page_csrf(client, "security")
    assert emulator.api("DELETE", f"/users/{signed_in.clerk_id}").status_code == 200

    response = delete(client, token)

    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert user_row(emulator_app, signed_in.clerk_id).deleted_at is not None


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"mode": "error", "status": 500}, "Clerk had a problem (HTTP 500)"),
        ({"mode": "error", "status": 503}, "Clerk had a problem (HTTP 503)"),
        ({"mode": "rate_limit", "retry_after": 30}, "Clerk is receiving too many requests"),
    ],
    ids=["500", "503", "429"],
)
def test_when_clerk_is_down_nothing_is_deleted_and_the_page_says_so(emulator_app, emulator, emulator_sign_in,
                                                                    client, fault, message):
    signed_in = emulator_sign_in(client)
    token = page_csrf(client, "security")
    before = users_snapshot(emulator_app)
    emulator.fault(count=2, path="/v1/users", method="DELETE", **fault)

    for headers in (HTMX, {}):
        response = delete(client, token, headers=headers)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        alert = plain(text(response))
        alert = alert[alert.index('id="delete-error"'):]
        assert "Your account was not deleted." in alert and message in alert
    assert clerk_has(emulator, signed_in.clerk_id)
    assert users_snapshot(emulator_app) == before


def test_when_clerk_refuses_nothing_is_deleted_and_the_page_says_so(emulator_app, emulator, emulator_sign_in,
                                                                    client):
    signed_in = emulator_sign_in(client)
    token = page_csrf(client, "security")
    before = users_snapshot(emulator_app)
    emulator.fault("error", status=400, path="/v1/users", method="DELETE")

    response = delete(client, token, headers=HTMX)

    assert response.status_code == 422
    assert "Your account was not deleted. Clerk refused to delete the account" in words(text(response))
    assert clerk_has(emulator, signed_in.clerk_id)
    assert users_snapshot(emulator_app) == before


# --- The verification rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "recent"),
    [
        ({"fva": [0, -1]}, True),
        ({"fva": [9, -1]}, True),
        ({"fva": [9, 300]}, True),
        ({"fva": [10, -1]}, False),  # Clerk's window: an age below the limit
        ({"fva": [-1, 0]}, False),  # the second factor alone does not count
        ({"fva": [0]}, False),
        ({"fva": [0, -1, 3]}, False),
        ({"fva": [False, -1]}, False),
        ({"fva": [1.5, -1]}, False),
        ({"fva": None}, False),
        ({}, False),
        (None, False),
    ],
)
def test_a_recent_verification_is_a_first_factor_under_ten_minutes_old(claims, recent):
    assert verified_recently(claims) is recent
