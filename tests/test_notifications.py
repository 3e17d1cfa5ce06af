"""The Notifications section: defaults, toggles, the digest, the whole form, and refusals."""

from __future__ import annotations

import json
import re
import threading

import pytest
from sqlalchemy import func, select, text as sql

from mentorly.extensions import db
from mentorly.models import DIGEST_FREQUENCIES, NOTIFICATION_CHANNELS, NOTIFICATION_DEFAULTS, NOTIFICATION_EVENTS, NotificationSettings
from mentorly.settings.notifications import SWITCHES, notification_settings_for
from mentorly.users import sync_user_to_db
from tests.conftest import clerk_user
from tests.sections_support import HTMX, SETTINGS, page_csrf, text

pytestmark = pytest.mark.postgres

URL = f"{SETTINGS}/notifications"


def stored(app, user_id: int) -> dict:
    with app.app_context():
        row = db.session.get(NotificationSettings, user_id)
        assert row is not None
        return {column: getattr(row, column) for column in (*SWITCHES, "digest_frequency")}


def row_count(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(NotificationSettings).where(NotificationSettings.user_id == user_id)
        )


def checked_switches(page: str) -> set[str]:
    names = set()
    for tag in re.findall(r'<input type="checkbox" role="switch"[^>]*>', page):
        if re.search(r"\bchecked\b", tag):
            names.add(re.search(r'name="([^"]+)"', tag).group(1))
    return names


def toast_of(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def toggle(client, token: str, event: str, channel: str, on: bool, **extra):
    data = {"csrf_token": token, "scope": "switch", "event": event, "channel": channel, **extra}
    if on:
        data[f"{event}_{channel}"] = "y"
    return client.post(URL, data=data, headers=HTMX)


DEFAULTS = {**NOTIFICATION_DEFAULTS, "digest_frequency": "weekly"}


def test_a_new_user_gets_the_defaults_the_first_time_the_section_is_read(app, client, sign_in):
    user = sign_in(client)
    assert row_count(app, user.id) == 0

    page = text(client.get(URL))

    assert stored(app, user.id) == DEFAULTS
    assert row_count(app, user.id) == 1
    assert checked_switches(page) == {name for name, on in NOTIFICATION_DEFAULTS.items() if on}
    assert re.search(r'<option value="weekly" selected>', page)
    # Reading again creates nothing more.
    client.get(URL)
    assert row_count(app, user.id) == 1


def test_the_model_defaults_match_the_migrations_server_defaults(app, sign_in, client):
    """Users who existed before the table got their row from the server defaults: the same values."""
    user = sign_in(client)
    with app.app_context():
        db.session.execute(sql("INSERT INTO notification_settings (user_id) VALUES (:id)"), {"id": user.id})
        db.session.commit()
    assert stored(app, user.id) == DEFAULTS


def test_every_event_and_channel_has_a_labelled_switch(app, client, sign_in):
    sign_in(client)
    page = text(client.get(URL))
    for event, event_label in NOTIFICATION_EVENTS.items():
        assert event_label in page
        for channel, channel_label in NOTIFICATION_CHANNELS.items():
            name = f"{event}_{channel}"
            assert re.search(rf'<label for="{name}"', page), name
            assert f"{channel_label}: {event_label}" in page
    for label in DIGEST_FREQUENCIES.values():
        assert f">{label}</option>" in page


def test_a_toggle_is_saved_alone_and_persists_across_a_reload(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    assert NOTIFICATION_DEFAULTS["replies_email"] is True

    response = toggle(client, token, "replies", "email", on=False)

    assert response.status_code == 200
    assert toast_of(response) == {"message": "Email notifications for replies to my posts turned off.", "level": "success"}
    assert stored(app, user.id) == {**DEFAULTS, "replies_email": False}
    reloaded = text(client.get(URL))
    assert "replies_email" not in checked_switches(reloaded)
    assert "replies_in_app" in checked_switches(reloaded)

    response = toggle(client, token, "product_updates", "email", on=True)
    assert response.status_code == 200
    assert "turned on" in toast_of(response)["message"]
    assert stored(app, user.id) == {**DEFAULTS, "replies_email": False, "product_updates_email": True}


def test_the_digest_frequency_is_saved_on_its_own(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    response = client.post(URL, data={"csrf_token": token, "scope": "digest", "digest_frequency": "daily"}, headers=HTMX)
    assert response.status_code == 200
    assert toast_of(response)["message"] == "Digest email set to daily."
    assert stored(app, user.id) == {**DEFAULTS, "digest_frequency": "daily"}
    assert '<option value="daily" selected>' in text(client.get(URL))


def test_without_javascript_the_whole_form_is_saved_then_redirected(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    data = {"csrf_token": token, "scope": "all", "digest_frequency": "off", "mentions_in_app": "y", "announcements_email": "y"}

    response = client.post(URL, data=data)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    expected = {column: False for column in SWITCHES} | {"mentions_in_app": True, "announcements_email": True}
    assert stored(app, user.id) == {**expected, "digest_frequency": "off"}
    page = text(client.get(URL))
    assert "Notification settings saved." in page  # the flashed message, shown once
    assert checked_switches(page) == {"mentions_in_app", "announcements_email"}


REFUSALS = [
    pytest.param({"scope": "switch", "event": "birthdays", "channel": "email", "birthdays_email": "y"},
                 "Unknown notification event 'birthdays'", id="unknown-event"),
    pytest.param({"scope": "switch", "event": "replies", "channel": "sms", "replies_sms": "y"},
                 "Unknown notification channel 'sms'", id="unknown-channel"),
    pytest.param({"scope": "switch", "event": "", "channel": "email"}, "Unknown notification event ''", id="no-event"),
    pytest.param({"scope": "digest", "digest_frequency": "hourly"}, "Unknown digest frequency 'hourly'", id="unknown-frequency"),
    pytest.param({"scope": "all", "digest_frequency": "monthly", "replies_email": "y"},
                 "Unknown digest frequency 'monthly'", id="unknown-frequency-whole-form"),
    pytest.param({"scope": "all", "digest_frequency": "daily", "birthdays_email": "y"},
                 "Unknown notification event 'birthdays'", id="unknown-event-whole-form"),
    pytest.param({"scope": "all", "digest_frequency": "daily", "replies_pigeon": "y"},
                 "Unknown notification channel 'pigeon'", id="unknown-channel-whole-form"),
    pytest.param({"scope": "all", "digest_frequency": "daily", "user_id": "1"},
                 "Unknown notification setting 'user_id'", id="a-user-id-is-never-taken"),
    pytest.param({"scope": "everything", "digest_frequency": "daily"}, "Unknown kind of change 'everything'", id="unknown-scope"),
]


@pytest.mark.parametrize(("data", "reason"), REFUSALS)
def test_unknown_events_channels_and_frequencies_are_refused_and_nothing_changes(app, client, sign_in, data, reason):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    before = stored(app, user.id)

    response = client.post(URL, data={"csrf_token": token, **data})

    assert response.status_code == 422
    page = text(response)
    assert "Nothing was saved." in page
    assert reason in page.replace("&#39;", "'")
    assert stored(app, user.id) == before


def test_a_refused_toggle_says_why_in_a_toast(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    before = stored(app, user.id)

    response = toggle(client, token, "birthdays", "email", on=True)

    assert response.status_code == 422
    message = toast_of(response)
    assert message["level"] == "error"
    assert "Unknown notification event 'birthdays'" in message["message"]
    assert stored(app, user.id) == before


def test_a_post_without_a_csrf_token_is_refused(app, client, sign_in):
    user = sign_in(client)
    before = stored(app, user.id) if client.get(URL).status_code == 200 else None

    response = client.post(URL, data={"scope": "switch", "event": "replies", "channel": "email"}, headers=HTMX)
    assert response.status_code == 400
    response = client.post(URL, data={"csrf_token": "forged", "scope": "digest", "digest_frequency": "off"})
    assert response.status_code == 400
    assert stored(app, user.id) == before


def test_htmx_may_send_the_token_as_a_header(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "notifications")
    response = client.post(
        URL, data={"scope": "digest", "digest_frequency": "off"}, headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert stored(app, user.id)["digest_frequency"] == "off"


def test_signed_out_posts_change_nothing(app, client):
    response = client.post(URL, data={"scope": "digest", "digest_frequency": "off"})
    assert response.status_code in (302, 400)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(NotificationSettings)) == 0


@pytest.mark.postgres
def test_concurrent_first_reads_create_one_row_on_postgresql(app):
    """Several first requests at once: every one gets the row, none fails, one row exists."""
    with app.app_context():
        user_id = sync_user_to_db(clerk_user()).id
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    seen: list[str] = []

    def first_read() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                seen.append(notification_settings_for(user_id).digest_frequency)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert seen == ["weekly"] * 8
    assert row_count(app, user_id) == 1
