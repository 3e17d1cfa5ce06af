"""Notifications, Security, Billing, Appearance and Integrations as pages and as htmx fragments;
the Billing and Integrations sections' content; the rules every section keeps."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from mentorly.extensions import db
from mentorly.models import User
from mentorly.settings.billing import LEVEL_THRESHOLDS, MAX_LEVEL, level_for_points, level_progress
from mentorly.settings.integrations import connected_accounts, provider_name
from tests.sections_support import (
    MY_SECTIONS,
    SETTINGS,
    emulator_app,  # noqa: F401 - fixture
    emulator_sign_in,  # noqa: F401 - fixture
    is_whole_page,
    text,
)

pytestmark = pytest.mark.postgres

HEADINGS = {
    "notifications": "Notifications",
    "security": "Security",
    "billing": "Billing",
    "appearance": "Appearance",
    "integrations": "Integrations",
}
POSTABLE = ("notifications", "security", "appearance")


@pytest.fixture
def client(emulator_app):
    return emulator_app.test_client()


def plain(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# --- Page or fragment --------------------------------------------------------------------------


@pytest.mark.parametrize("section", MY_SECTIONS)
def test_each_section_is_a_whole_page_without_htmx_and_a_fragment_with_it(emulator_app, emulator_sign_in, client, section):
    emulator_sign_in(client)
    url = f"{SETTINGS}/{section}"

    page = client.get(url)
    assert page.status_code == 200
    assert "HX-Request" in page.headers.get("Vary", "")
    body = text(page)
    assert is_whole_page(body)
    assert 'aria-label="Settings sections"' in body  # the shell's navigation
    assert re.search(rf'<a href="{url}"[^>]*aria-current="page"', body)
    assert f'<h2 id="section-title">{HEADINGS[section]}</h2>' in body

    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers.get("Vary", "")
    part = text(fragment)
    assert not is_whole_page(part) and "<html" not in part and "<head" not in part
    assert 'aria-label="Settings sections"' not in part
    assert f'<h2 id="section-title">{HEADINGS[section]}</h2>' in part

    # A boosted link or a history restore needs the whole page.
    for headers in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        again = client.get(url, headers={"HX-Request": "true", **headers})
        assert is_whole_page(text(again)), headers


@pytest.mark.parametrize("section", MY_SECTIONS)
def test_every_section_needs_a_signed_in_onboarded_user(emulator_app, emulator_sign_in, client, section):
    url = f"{SETTINGS}/{section}"
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?redirect_url=")
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/sign-in")

    signed_in = emulator_sign_in(client)
    with emulator_app.app_context():
        db.session.get(User, signed_in.user_id).is_onboarded = False
        db.session.commit()
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/onboarding")


@pytest.mark.parametrize("section", POSTABLE)
def test_signed_out_posts_are_refused(emulator_app, client, section):
    response = client.post(f"{SETTINGS}/{section}", data={}, headers={"HX-Request": "true"})
    assert response.status_code in (400, 401)  # CSRF first, or the sign-in gate: never a change


@pytest.mark.parametrize("section", ("billing", "integrations"))
def test_read_only_sections_do_not_accept_posts(emulator_app, emulator_sign_in, client, section):
    emulator_sign_in(client)
    assert client.post(f"{SETTINGS}/{section}", data={}).status_code in (400, 405)


@pytest.mark.parametrize("section", MY_SECTIONS)
def test_sections_have_no_inline_script_or_style_and_no_field_naming_a_user(emulator_app, emulator_sign_in, client, section):
    """Production sends a strict Content-Security-Policy; the subject is always the signed-in user."""
    emulator_sign_in(client)
    part = text(client.get(f"{SETTINGS}/{section}", headers={"HX-Request": "true"}))
    page = text(client.get(f"{SETTINGS}/{section}"))
    for markup in (part, page):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", markup)
        assert not re.search(r"\sstyle=", markup)
        assert not re.search(r"\son[a-z]+=", markup)
        for name in re.findall(r'\bname="([^"]+)"', markup):
            assert "user" not in name.lower() and "clerk" not in name.lower(), name


# --- Billing -----------------------------------------------------------------------------------


def test_level_thresholds():
    assert LEVEL_THRESHOLDS[0] == 0 and list(LEVEL_THRESHOLDS) == sorted(set(LEVEL_THRESHOLDS))
    assert [level_for_points(p) for p in (-5, 0, 99, 100, 249, 250, 9_999, 10_000, 10**9)] == [1, 1, 1, 2, 2, 3, 9, 10, 10]
    start = level_progress(0)
    assert (start.level, start.next_level, start.next_threshold, start.points_to_next, start.percent) == (1, 2, 100, 100, 0)
    middle = level_progress(175)
    assert (middle.level, middle.level_floor, middle.next_threshold, middle.points_to_next, middle.percent) == (2, 100, 250, 75, 50)
    top = level_progress(12_345)
    assert top.level == MAX_LEVEL and top.is_max and top.points_to_next == 0 and top.percent == 100
    for points in range(0, 11_000, 37):
        progress = level_progress(points)
        assert 0 <= progress.percent <= 100
        assert progress.is_max or progress.level_floor <= points < progress.next_threshold


def test_billing_shows_the_free_plan_membership_and_progress(emulator_app, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    with emulator_app.app_context():
        user = db.session.get(User, signed_in.user_id)
        user.points = 1_234
        user.joined_at = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
        db.session.commit()

    page = text(client.get(f"{SETTINGS}/billing"))
    words = plain(page)

    assert "Plan Free" in words
    assert "Payments are not set up yet" in words
    assert "Member since 5 March 2024" in words
    assert re.search(r'<time[^>]*datetime="2024-03-05"', page)
    assert "Points 1,234" in words and "Level 5" in words
    assert "766 more points to reach level 6 (1,234 of 2,000)." in words
    assert '<progress value="234" max="1000"' in page


def test_billing_without_a_clerk_join_date_uses_ours_and_shows_the_top_level(emulator_app, emulator_sign_in, client):
    signed_in = emulator_sign_in(client)
    with emulator_app.app_context():
        user = db.session.get(User, signed_in.user_id)
        user.joined_at = None
        user.points = 50_000
        db.session.commit()
        created = user.created_at
    words = plain(text(client.get(f"{SETTINGS}/billing")))
    assert f"Member since {created.day} {created.strftime('%B %Y')}" in words
    assert f"Level {MAX_LEVEL}" in words and "You have reached the top level." in words


# --- Integrations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        ("oauth_google", "Google"),
        ("oauth_github", "GitHub"),
        ("oauth_gitlab", "GitLab"),
        ("oauth_linkedin_oidc", "LinkedIn"),
        ("oauth_custom_acme_id", "Acme Id"),
        ("oauth_", "oauth_"),
        ("", "Unknown provider"),
        (None, "Unknown provider"),
    ],
)
def test_provider_names(provider, name):
    assert provider_name(provider) == name


def test_connected_accounts_prefer_the_email_then_the_username():
    accounts = connected_accounts(
        [
            {"provider": "oauth_github", "email_address": None, "username": "octo", "verified": True},
            {"provider": "oauth_google", "email_address": "ada@gmail.test", "username": "ada", "verified": True},
            {"provider": "oauth_discord", "verified": False},
            "not an account",
        ]
    )
    assert [(a.provider_name, a.account, a.verified) for a in accounts] == [
        ("Discord", "", False),
        ("GitHub", "octo", True),
        ("Google", "ada@gmail.test", True),
    ]
    assert connected_accounts(None) == []


def test_integrations_empty_state(emulator_app, emulator, emulator_sign_in, client):
    emulator_sign_in(client)
    page = text(client.get(f"{SETTINGS}/integrations"))
    assert 'id="accounts-empty"' in page and "No accounts connected yet." in page
    assert re.search(rf'<a href="{emulator.url}/user"[^>]*data-clerk-user-profile', page)
    assert "Connect an account" in page


def test_integrations_list_what_clerk_reports_without_calling_clerk(emulator_app, emulator, emulator_sign_in, client):
    signed_in = emulator_sign_in(client, email="lin@example.test", username="lin_dev")
    emulator.update_user(signed_in.clerk_id, connect=["oauth_google", "oauth_github"])
    # The row learns of it as the webhook (or any sync) would tell it.
    with emulator_app.app_context():
        from mentorly.users import sync_user_to_db

        sync_user_to_db(emulator.api("GET", f"/users/{signed_in.clerk_id}").json())

    # Clerk down for every Backend API call: the section needs none.
    emulator.fault("error", count=50, path="/v1/users")
    emulator.fault("error", count=50, path="/v1/sessions")
    response = client.get(f"{SETTINGS}/integrations")

    assert response.status_code == 200
    words = plain(text(response))
    assert "GitHub lin@example.test" in words and "Google lin@example.test" in words
    assert words.index("GitHub") < words.index("Google")
    assert "Connect or disconnect accounts" in words
    assert 'id="accounts-empty"' not in text(response)
