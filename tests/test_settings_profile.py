"""Saving the Profile section over HTTP (CSRF on): errors at their fields with the input kept,
422 for invalid input, a toast for htmx, redirect-after-POST without JavaScript.

Only app-owned fields change here, so Clerk is never called (see test_profile_clerk.py for
names, username and the avatar, which go through the emulator).
"""

from __future__ import annotations

import html as htmllib
import json
import re

import pytest

from .settings_support import member  # noqa: F401  (a fixture)
from .settings_support import HTMX, PROFILE, csrf_token, load_user, profile_data

pytestmark = pytest.mark.postgres


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<small class="field-error" id="{field}-error">(.*?)</small>', page, re.S)
    return htmllib.unescape(match.group(1)) if match else None


def control(page: str, field: str) -> str:
    match = re.search(rf'<(input|textarea|select)[^>]*\bid="{field}"[^>]*>', page)
    assert match, f"no control for {field}"
    return match.group(0)


def test_saving_app_owned_fields_with_htmx_returns_the_section_and_a_toast(app, client, member):
    user = member(client)
    token = csrf_token(client)
    response = client.post(
        PROFILE,
        data=profile_data(user, token, bio="Hello\r\nworld", website="mentorly.example", location="Lagos",
                          timezone="Africa/Lagos"),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]) == {"toast": {"message": "Profile saved.", "level": "success"}}
    page = response.get_data(as_text=True)
    assert "<html" not in page and 'id="section-title"' in page
    assert 'value="https://mentorly.example"' in page
    saved = load_user(app, user.clerk_id)
    assert (saved.bio, saved.website, saved.location, saved.timezone) == (
        "Hello\nworld", "https://mentorly.example", "Lagos", "Africa/Lagos"
    )
    # Clerk's fields did not change, so nothing was sent to Clerk (which these tests do not run).
    assert saved.first_name == user.first_name and saved.clerk_updated_at == user.clerk_updated_at


def test_saving_without_javascript_redirects_and_flashes(app, client, member):
    user = member(client)
    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, location="Nairobi"))
    assert response.status_code == 303
    assert response.location.endswith(PROFILE)
    page = client.get(PROFILE).get_data(as_text=True)
    assert '<p class="toast toast-success" data-autohide>Profile saved.</p>' in page
    assert 'value="Nairobi"' in page
    # The message is shown once.
    assert "Profile saved." not in client.get(PROFILE).get_data(as_text=True)


def test_clearing_optional_fields_stores_null(app, client, member):
    user = member(client)
    token = csrf_token(client)
    client.post(PROFILE, data=profile_data(user, token, bio="something", location="Here"))
    client.post(PROFILE, data=profile_data(user, token, bio="   ", location=""))
    saved = load_user(app, user.clerk_id)
    assert saved.bio is None and saved.location is None


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "plain"])
def test_a_bio_of_161_characters_is_a_422_with_the_error_at_the_field_and_the_text_kept(app, client, member, headers):
    user = member(client)
    token = csrf_token(client)
    bio = "\U0001f600" * 100 + "x" * 61  # 161 characters as a person counts them
    response = client.post(PROFILE, data=profile_data(user, token, bio=bio, location="Kept"), headers=headers)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "bio") == "Bio can be at most 160 characters (it has 161)."
    textarea = control(page, "bio")
    assert 'aria-invalid="true"' in textarea
    assert "bio-error" in re.search(r'aria-describedby="([^"]+)"', textarea).group(1)
    assert bio in page  # the text is kept...
    assert 'value="Kept"' in page  # ...and so is the rest of the input
    assert '<small class="field-counter over"' in page or "161 / 160" in page
    assert ("<html" in page) is (headers == {})
    assert load_user(app, user.clerk_id).bio is None  # nothing saved


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("website", "javascript:alert(1)", "Website must be an http:// or https:// address."),
        ("website", "data:text/html,hi", "Website must be an http:// or https:// address."),
        ("website", "ftp://example.com", "Website must be an http:// or https:// address."),
        ("timezone", "Mars/Olympus_Mons", "Choose a time zone from the list."),
        ("location", "x" * 101, "Field cannot be longer than 100 characters."),
        ("username", "abc", "Username must be 4 to 64 characters long."),
        ("username", "a" * 65, "Username must be 4 to 64 characters long."),
        ("username", "bad name!", "Username can use only letters a–z, digits 0–9, underscores and hyphens."),
        ("username", "1234567", "Username must contain at least one letter, underscore or hyphen."),
        ("first_name", "n" * 257, "Field cannot be longer than 256 characters."),
    ],
)
def test_each_rule_reports_at_its_field(app, client, member, field, value, message):
    user = member(client, username="rule_checker")
    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, **{field: value}), headers=HTMX)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, field) == message
    assert 'aria-invalid="true"' in control(page, field)
    assert page.count('class="field-error"') == 1
    saved = load_user(app, user.clerk_id)
    assert getattr(saved, field) == getattr(user, field)


def test_a_bare_domain_is_saved_with_https(app, client, member):
    user = member(client)
    token = csrf_token(client)
    assert client.post(PROFILE, data=profile_data(user, token, website="example.org/me")).status_code == 303
    assert load_user(app, user.clerk_id).website == "https://example.org/me"


def test_a_username_taken_locally_is_refused_before_clerk_is_asked(app, client, member):
    member(app.test_client(), username="already_here")
    user = member(client, username="newcomer")
    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, username="Already_Here"), headers=HTMX)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "username") == "That username is taken. Please try another."
    assert load_user(app, user.clerk_id).username == "newcomer"


def test_user_text_is_escaped(app, client, member):
    user = member(client)
    token = csrf_token(client)
    client.post(PROFILE, data=profile_data(user, token, bio="<script>alert(1)</script>", location='"><b>x'))
    page = client.get(PROFILE).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"><b>x' not in page


def test_a_file_that_is_not_an_image_is_refused_at_the_avatar_field(app, client, member):
    import io

    user = member(client)
    token = csrf_token(client)
    response = client.post(
        PROFILE,
        data={"csrf_token": token, "intent": "avatar", "avatar": (io.BytesIO(b"plain text\n"), "photo.png", "image/png")},
        headers=HTMX,
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert field_error(page, "avatar") == "Upload a PNG, JPEG, GIF or WebP image."
    assert load_user(app, user.clerk_id).image_url == user.image_url


def test_a_save_while_clerk_cannot_be_reached_is_a_clear_message_not_a_500(app, client, member):
    """No emulator runs here: the Clerk URL answers nothing, as when Clerk is down."""
    app.config["CLERK_API_URL"] = "http://127.0.0.1:9/v1"
    app.extensions.pop("mentorly.clerk_client", None)
    user = member(client, username="offline_user")
    token = csrf_token(client)
    response = client.post(
        PROFILE, data=profile_data(user, token, first_name="Changed", bio="also changed"), headers=HTMX
    )
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Your profile was not saved. Clerk cannot be reached right now." in page
    assert 'role="alert"' in page and 'value="Changed"' in page
    saved = load_user(app, user.clerk_id)
    assert (saved.first_name, saved.bio) == (user.first_name, None)


# --- Time zone list -----------------------------------------------------------------------------


def option_values(page: str) -> list[str]:
    start = re.search(r'<select[^>]*name="timezone"', page).start()
    select = page[start:page.index("</select>", start)]
    return re.findall(r'<option value="([^"]+)"', select)


def selected_timezone(page: str) -> list[str]:
    return re.findall(r'<option value="([^"]+)" selected>', page)


def test_the_time_zone_list_offers_canonical_zones_only(client, member):
    member(client)
    page = client.get(PROFILE).get_data(as_text=True)
    values = option_values(page)
    assert len(values) == len(set(values))
    for alias in ("Factory", "localtime", "US/Pacific", "GB", "Etc/GMT+5", "Asia/Calcutta", "Europe/Kiev"):
        assert alias not in values, alias
    for zone in ("UTC", "Europe/Lisbon", "Asia/Kolkata", "Europe/Kyiv", "Pacific/Auckland", "Europe/Oslo"):
        assert zone in values, zone
    assert re.search(r'<label[^>]*for="timezone"[^>]*>\s*Time zone\b', page)
    assert "Timezone" not in page


def test_a_saved_alias_still_shows_selected_and_validates(app, client, member):
    from mentorly.extensions import db
    from mentorly.models import User

    user = member(client)
    with app.app_context():
        db.session.get(User, user.id).timezone = "US/Pacific"
        db.session.commit()
    page = client.get(PROFILE).get_data(as_text=True)
    assert selected_timezone(page) == ["US/Pacific"]
    fragment = client.get(PROFILE, headers=HTMX).get_data(as_text=True)
    assert selected_timezone(fragment) == ["US/Pacific"]  # sent inline with the deferred list
    deferred = client.get(f"{PROFILE}/timezones?selected=US/Pacific").get_data(as_text=True)
    assert selected_timezone(deferred) == ["US/Pacific"]

    user = load_user(app, user.clerk_id)
    response = client.post(PROFILE, data=profile_data(user, csrf_token(client), location="Portland"), headers=HTMX)
    assert response.status_code == 200
    assert load_user(app, user.clerk_id).timezone == "US/Pacific"
