"""The settings shell over HTTP: who may see it, page or fragment, Vary, CSRF, the theme."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .settings_support import member  # noqa: F401  (a fixture)
from .settings_support import HTMX, PROFILE, SECTIONS, csrf_token, load_user, profile_data

pytestmark = pytest.mark.postgres

SETTINGS_URLS = ["/dashboard/settings", "/dashboard/settings/"] + [f"/dashboard/settings/{s}" for s in SECTIONS] + [
    "/dashboard/settings/profile/timezones"
]


# --- Who may see it -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", SETTINGS_URLS)
def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["redirect_url"] == [url]


@pytest.mark.parametrize("url", SETTINGS_URLS)
def test_an_htmx_request_that_is_not_signed_in_gets_401_and_hx_redirect(client, url):
    response = client.get(url, headers=HTMX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/sign-in?redirect_url=")
    assert b"<form" not in response.data


def test_a_post_from_a_visitor_who_is_not_signed_in_changes_nothing(client):
    response = client.post(PROFILE, data={"intent": "profile", "bio": "hello"})
    # CSRF is checked before anything else: no token, no entry.
    assert response.status_code == 400


def test_a_user_who_has_not_finished_onboarding_is_sent_there(client, member):
    member(client, onboarded=False)
    response = client.get(PROFILE)
    assert response.status_code == 302
    assert urlsplit(response.location).path.startswith("/onboarding")


def test_settings_redirects_to_profile(client, member):
    member(client)
    for url in ("/dashboard/settings", "/dashboard/settings/"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.location).path == PROFILE


# --- Page or fragment ---------------------------------------------------------------------------


def is_whole_page(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html>") and 'class="settings-nav"' in html


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_is_a_whole_page_without_hx_request_and_a_fragment_with_it(client, member, section):
    member(client, username=f"{section}_viewer")
    url = f"/dashboard/settings/{section}"

    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert is_whole_page(html)
    assert re.search(rf'<a href="{url}"[^>]*aria-current="page"', html), "the current section is marked"
    assert html.count('aria-current="page"') == 2  # the section, and Settings in the header
    assert "HX-Request" in page.headers["Vary"]

    fragment = client.get(url, headers=HTMX)
    assert fragment.status_code == 200
    part = fragment.get_data(as_text=True)
    assert not is_whole_page(part)
    assert "<html" not in part and "settings-nav" not in part and "<body" not in part
    assert part.startswith("<title>") and "Settings · Mentorly</title>" in part
    assert 'id="section-title"' in part
    assert "HX-Request" in fragment.headers["Vary"]
    # The fragment is exactly what the page shows inside its panel.
    assert re.search(r'<h2 id="section-title">([^<]+)</h2>', part).group(1) in html


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
        {"HX-History-Restore-Request": "true"},
    ],
    ids=["boosted", "history-restore", "history-restore-without-hx-request"],
)
def test_boosted_and_history_restore_requests_get_the_whole_page(client, member, headers):
    member(client)
    for section in SECTIONS:
        response = client.get(f"/dashboard/settings/{section}", headers=headers)
        assert response.status_code == 200
        assert is_whole_page(response.get_data(as_text=True)), section


def test_the_fragment_defers_the_long_time_zone_list_and_the_page_carries_it(client, member):
    member(client)
    page = client.get(PROFILE).get_data(as_text=True)
    fragment = client.get(PROFILE, headers=HTMX).get_data(as_text=True)
    assert page.count("<option") > 300
    assert fragment.count("<option") < 20
    assert 'hx-get="/dashboard/settings/profile/timezones"' in fragment

    rest = client.get("/dashboard/settings/profile/timezones", headers=HTMX)
    assert rest.status_code == 200
    assert rest.get_data(as_text=True).startswith('<optgroup label="All time zones">')
    assert rest.get_data(as_text=True).count("<option") > 300
    assert "max-age" in rest.headers["Cache-Control"]


def test_a_non_common_zone_stays_selected_when_the_list_arrives(app, client, member):
    user = member(client)
    token = csrf_token(client)
    client.post(PROFILE, data=profile_data(user, token, timezone="Asia/Kathmandu"))
    fragment = client.get(PROFILE, headers=HTMX).get_data(as_text=True)
    assert '<option value="Asia/Kathmandu" selected>' in fragment
    assert 'hx-get="/dashboard/settings/profile/timezones?selected=Asia%2FKathmandu"' in fragment
    rest = client.get("/dashboard/settings/profile/timezones?selected=Asia%2FKathmandu").get_data(as_text=True)
    assert rest.count(" selected") == 1 and '<option value="Asia/Kathmandu" selected>' in rest
    assert client.get("/dashboard/settings/profile/timezones?selected=Nowhere").get_data(as_text=True).count(
        " selected"
    ) == 0


# --- Base layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "theme, reduced_motion, expected",
    [
        ("dark", False, '<html lang="en" data-theme="dark">'),
        ("light", True, '<html lang="en" data-theme="light" data-reduced-motion="reduce">'),
        ("system", False, '<html lang="en">'),
    ],
)
def test_theme_is_rendered_by_the_server(app, client, member, theme, reduced_motion, expected):
    from mentorly.extensions import db
    from mentorly.users import get_user_by_clerk_id

    user = member(client)
    with app.app_context():
        row = get_user_by_clerk_id(user.clerk_id)
        row.theme, row.reduced_motion = theme, reduced_motion
        db.session.commit()
    html = client.get(PROFILE).get_data(as_text=True)
    assert expected in html
    assert ('name="color-scheme" content="light dark"' in html) is (theme == "system")


def test_header_links_and_sign_out_form(client, member):
    member(client)
    html = client.get(PROFILE).get_data(as_text=True)
    assert '<a href="/dashboard"' in html and '<a href="/dashboard/settings/profile"' in html
    form = re.search(r'<form class="sign-out" method="post" action="/sign-out" data-clerk-sign-out>(.*?)</form>', html, re.S)
    assert form and 'name="csrf_token"' in form.group(1)
    assert "vendor/htmx-2.0.11/htmx.min.js" in html and "//cdn" not in html and "unpkg" not in html


def test_vendored_files_are_served_with_their_licences(client):
    for path in (
        "/static/vendor/htmx-2.0.11/htmx.min.js",
        "/static/vendor/htmx-2.0.11/LICENSE",
        "/static/vendor/pico-2.1.1/pico.min.css",
        "/static/vendor/pico-2.1.1/LICENSE.md",
        "/static/js/app.js",
        "/static/css/app.css",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


# --- CSRF and the subject of a save ---------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(app, client, member):
    user = member(client, username="csrf_target")
    for headers in ({}, HTMX):
        response = client.post(PROFILE, data=profile_data(user, None, bio="forged"), headers=headers)
        assert response.status_code == 400
        # The reason: on the page, or in the toast an htmx request gets.
        assert b"CSRF" in response.data or "CSRF" in response.headers.get("HX-Trigger", "")
    response = client.post(PROFILE, data=profile_data(user, "not-a-real-token", bio="forged"))
    assert response.status_code == 400
    assert load_user(app, user.clerk_id).bio is None


def test_the_csrf_header_alone_is_enough_as_htmx_sends_it(app, client, member):
    user = member(client)
    token = csrf_token(client)
    response = client.post(
        PROFILE, data=profile_data(user, None, bio="via header"), headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert load_user(app, user.clerk_id).bio == "via header"


def test_posting_someone_elses_id_changes_only_the_signed_in_user(app, client, member):
    victim_client = app.test_client()
    victim = member(victim_client, username="victim_user")
    me = member(client, username="attacker_user")
    token = csrf_token(client)
    data = profile_data(me, token, bio="mine")
    data.update(clerk_id=victim.clerk_id, user_id=str(victim.id), id=str(victim.id), user=victim.clerk_id)
    response = client.post(PROFILE, data=data)
    assert response.status_code == 303
    assert load_user(app, victim.clerk_id).bio is None
    assert load_user(app, me.clerk_id).bio == "mine"


def test_an_unknown_form_is_a_400(client, member):
    member(client)
    token = csrf_token(client)
    response = client.post(PROFILE, data={"csrf_token": token, "intent": "delete_everything"})
    assert response.status_code == 400


@pytest.mark.parametrize("section", [s for s in SECTIONS if s != "profile"])
def test_other_sections_refuse_a_forged_post(client, member, section):
    member(client)
    response = client.post(f"/dashboard/settings/{section}", data={})
    assert response.status_code in (400, 405)
