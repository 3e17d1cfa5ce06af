"""The onboarding wizard on both databases: steps in order, validation at the fields, resume,
back, htmx fragments and the gate. Steps that need Clerk are in test_onboarding_clerk.py; here
Clerk is either not called (the values it already holds are unchanged) or unreachable.
"""

from __future__ import annotations

import pytest

from tests.emulator import free_port
from tests.onboarding_support import (
    HTMX,
    SETTINGS_SECTIONS,
    STEP_SLUGS,
    checked_values,
    csrf_token,
    field_block,
    input_value,
    load_user,
    location_path,
    post_step,
    selected_option,
    set_progress,
    text,
    textarea_value,
)

pytestmark = pytest.mark.postgres

ONBOARDING_URLS = ["/onboarding"] + [f"/onboarding/{slug}" for slug in STEP_SLUGS]
DASHBOARD_URLS = ["/dashboard", "/dashboard/settings"] + [f"/dashboard/settings/{s}" for s in SETTINGS_SECTIONS]

VALID_PROFILE = {
    "bio": "I build compilers.\r\nAnd I teach.",
    "location": "Lisbon",
    "timezone": "Europe/Lisbon",
    "website": "example.com/ada",
}


@pytest.fixture
def clerk_down(app):
    """Clerk at an address where nothing listens: every call fails to connect."""
    app.config["CLERK_API_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    app.extensions.pop("mentorly.clerk_client", None)
    return app


# --- Resume and order -------------------------------------------------------------------------


@pytest.mark.parametrize("completed, expected", [(0, "about"), (1, "profile"), (2, "goals"), (3, "review")])
def test_onboarding_resumes_at_the_first_unfinished_step(app, client, sign_in, completed, expected):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, completed)
    response = client.get("/onboarding")
    assert response.status_code == 302
    assert location_path(response) == f"/onboarding/{expected}"
    assert client.get(location_path(response)).status_code == 200


@pytest.mark.parametrize("completed", [0, 1, 2])
def test_a_later_step_cannot_be_reached_by_typing_its_url(app, client, sign_in, completed):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, completed)
    first_unfinished = STEP_SLUGS[completed]
    for slug in STEP_SLUGS[completed + 1:]:
        response = client.get(f"/onboarding/{slug}")
        assert response.status_code == 302, slug
        assert location_path(response) == f"/onboarding/{first_unfinished}"
        htmx = client.get(f"/onboarding/{slug}", headers=HTMX)
        assert htmx.headers["HX-Redirect"] == f"/onboarding/{first_unfinished}"
    # Posting the last step directly does not finish onboarding either.
    token = csrf_token(text(client.get(f"/onboarding/{first_unfinished}")))
    response = client.post("/onboarding/review", data={"csrf_token": token})
    assert response.status_code == 303
    assert location_path(response) == f"/onboarding/{first_unfinished}"
    stored = load_user(app, user.clerk_id)
    assert stored.is_onboarded is False
    assert stored.onboarding_step == completed


def test_earlier_steps_stay_open_for_back(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 3)
    for slug in STEP_SLUGS:
        assert client.get(f"/onboarding/{slug}").status_code == 200, slug


def test_an_unknown_step_is_not_found(client, sign_in):
    sign_in(client, onboarded=False)
    assert client.get("/onboarding/payment").status_code == 404


def test_each_step_links_back_to_the_previous_one(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 3)
    assert "Back</a>" not in text(client.get("/onboarding/about"))
    for previous, slug in zip(STEP_SLUGS, STEP_SLUGS[1:]):
        page = text(client.get(f"/onboarding/{slug}"))
        assert f'href="/onboarding/{previous}" class="secondary outline" role="button"' in page
        assert f'hx-get="/onboarding/{previous}"' in page


# --- About you ----------------------------------------------------------------------------------


def test_about_is_prefilled_from_what_clerk_knows(client, sign_in):
    sign_in(client, onboarded=False, first_name="Grace", last_name="Hopper", username="ghopper")
    page = text(client.get("/onboarding/about"))
    assert input_value(page, "first_name") == "Grace"
    assert input_value(page, "last_name") == "Hopper"
    assert input_value(page, "username") == "ghopper"
    assert "Step 1 of 4" in page


def test_about_errors_are_at_their_fields_and_the_input_is_kept(app, client, sign_in):
    user = sign_in(client, onboarded=False, first_name="Grace", username=None)
    long_name = "L" * 257
    response = post_step(client, "about", {"first_name": "Grace <b>", "last_name": long_name, "username": "ab"})
    assert response.status_code == 422
    page = text(response)
    assert "Username must be 4 to 64 characters long." in field_block(page, "username")
    assert 'aria-invalid="true"' in field_block(page, "username")
    assert "256" in field_block(page, "last_name")
    assert "field-error" not in field_block(page, "first_name")
    assert input_value(page, "username") == "ab"
    assert input_value(page, "last_name") == long_name
    assert input_value(page, "first_name") == "Grace <b>"
    assert "Grace <b>" not in page  # escaped, not markup
    stored = load_user(app, user.clerk_id)
    assert (stored.first_name, stored.last_name, stored.username, stored.onboarding_step) == ("Grace", "User", None, 0)


def test_about_without_changes_completes_the_step_without_calling_clerk(app, client, sign_in, clerk_down):
    user = sign_in(client, onboarded=False, first_name="Grace", last_name="Hopper", username="ghopper")
    response = post_step(client, "about", {"first_name": "Grace", "last_name": "Hopper", "username": "ghopper"})
    assert response.status_code == 303
    assert location_path(response) == "/onboarding/profile"
    assert load_user(app, user.clerk_id).onboarding_step == 1


def test_about_when_clerk_is_unreachable_keeps_everything(app, client, sign_in, clerk_down):
    user = sign_in(client, onboarded=False, first_name="Grace", last_name="Hopper", username=None)
    response = post_step(client, "about", {"first_name": "Amazing", "last_name": "Grace", "username": "amazing_grace"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = text(response)
    assert "Clerk cannot be reached right now" in page
    assert 'role="alert"' in page
    assert input_value(page, "first_name") == "Amazing"
    assert input_value(page, "username") == "amazing_grace"
    stored = load_user(app, user.clerk_id)
    assert (stored.first_name, stored.last_name, stored.username) == ("Grace", "Hopper", None)
    assert stored.onboarding_step == 0


# --- Your profile -------------------------------------------------------------------------------


def test_profile_errors_are_at_their_fields_and_the_input_is_kept(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    bio = "x" * 161
    response = post_step(
        client,
        "profile",
        {"bio": bio, "location": "Lisbon", "timezone": "Mars/Olympus_Mons", "website": "javascript:alert(1)"},
    )
    assert response.status_code == 422
    page = text(response)
    assert "at most 160 characters" in field_block(page, "bio")
    assert "http:// or https://" in field_block(page, "website")
    assert "Choose a time zone from the list." in field_block(page, "timezone")
    assert "field-error" not in field_block(page, "location")
    assert textarea_value(page, "bio") == bio
    assert input_value(page, "website") == "javascript:alert(1)"
    assert input_value(page, "location") == "Lisbon"
    stored = load_user(app, user.clerk_id)
    assert (stored.bio, stored.location, stored.website, stored.timezone, stored.onboarding_step) == (
        None, None, None, "UTC", 1,
    )


def test_profile_is_saved_and_back_shows_the_saved_values(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    response = post_step(client, "profile", VALID_PROFILE)
    assert response.status_code == 303
    assert location_path(response) == "/onboarding/goals"
    stored = load_user(app, user.clerk_id)
    assert stored.bio == "I build compilers.\nAnd I teach."
    assert stored.website == "https://example.com/ada"
    assert (stored.location, stored.timezone, stored.onboarding_step) == ("Lisbon", "Europe/Lisbon", 2)

    page = text(client.get("/onboarding/profile"))  # back
    assert textarea_value(page, "bio") == "I build compilers.\nAnd I teach."
    assert input_value(page, "website") == "https://example.com/ada"
    assert input_value(page, "location") == "Lisbon"
    assert selected_option(page, "timezone") == "Europe/Lisbon"


def test_going_back_and_saving_an_earlier_step_keeps_later_progress(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 3)
    response = post_step(client, "profile", {**VALID_PROFILE, "location": "Porto"})
    assert response.status_code == 303
    stored = load_user(app, user.clerk_id)
    assert (stored.location, stored.onboarding_step) == ("Porto", 3)
    assert location_path(client.get("/onboarding")) == "/onboarding/review"


def test_the_browser_time_zone_is_suggested_only_until_one_is_saved(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    first_visit = text(client.get("/onboarding/profile"))
    assert "data-suggest-browser-timezone" in first_visit
    assert "js/onboarding.js" in first_visit
    assert selected_option(first_visit, "timezone") == "UTC"  # without JavaScript
    post_step(client, "profile", VALID_PROFILE, page=first_visit)
    assert "data-suggest-browser-timezone" not in text(client.get("/onboarding/profile"))


# --- Your goals ---------------------------------------------------------------------------------


def test_goals_errors_are_at_their_fields_and_the_input_is_kept(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 2)
    response = post_step(client, "goals", {})
    assert response.status_code == 422
    page = text(response)
    assert "Choose whether you want to learn, mentor or both." in field_block_goals(page, "goal")
    assert "Pick at least one interest." in field_block_goals(page, "interests")

    too_many = ["design", "leadership", "marketing", "interviewing", "data-science", "public-speaking"]
    response = post_step(client, "goals", {"goal": "mentor", "interests": too_many})
    assert response.status_code == 422
    page = text(response)
    assert "Pick at most 5 interests." in field_block_goals(page, "interests")
    assert checked_values(page, "goal") == {"mentor"}
    assert checked_values(page, "interests") == set(too_many)

    response = post_step(client, "goals", {"goal": "boss", "interests": ["design", "hacking"]})
    assert response.status_code == 422
    page = text(response)
    assert "Not a valid choice" in field_block_goals(page, "goal")
    assert "not a valid choice" in field_block_goals(page, "interests")
    stored = load_user(app, user.clerk_id)
    assert (stored.goal, stored.interests, stored.onboarding_step) == (None, [], 2)


def test_the_interests_hint_states_the_rule_the_server_applies(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 2)
    hint = field_block_goals(text(client.get("/onboarding/goals")), "interests")
    assert "Pick 1 to 5:" in hint
    assert "up to" not in hint


def field_block_goals(page: str, name: str) -> str:
    start = page.index(f'id="{name}-group"')
    return page[start:page.index("</fieldset>", start)]


def test_goals_are_saved_and_back_shows_them(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 2)
    response = post_step(client, "goals", {"goal": "both", "interests": ["leadership", "design"]})
    assert response.status_code == 303
    assert location_path(response) == "/onboarding/review"
    stored = load_user(app, user.clerk_id)
    assert (stored.goal, stored.interests, stored.onboarding_step) == ("both", ["design", "leadership"], 3)
    page = text(client.get("/onboarding/goals"))
    assert checked_values(page, "goal") == {"both"}
    assert checked_values(page, "interests") == {"design", "leadership"}


# --- Review -------------------------------------------------------------------------------------


def test_review_summarises_every_step_escaped(app, client, sign_in):
    user = sign_in(client, onboarded=False, first_name="Ada", last_name="Lovelace", username="ada_l")
    set_progress(
        app, user.clerk_id, 3,
        bio="<script>alert(1)</script>", location="London", timezone="Europe/London",
        website="https://ada.example", goal="mentor", interests=["software-engineering"],
    )
    page = text(client.get("/onboarding/review"))
    for expected in ("Ada Lovelace", "ada_l", "London", "Europe/London", "https://ada.example",
                     "Mentor others", "Software engineering", "Finish and go to your dashboard"):
        assert expected in page, expected
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for slug in ("about", "profile", "goals"):
        assert f'href="/onboarding/{slug}" hx-get="/onboarding/{slug}"' in page


def test_finishing_when_clerk_is_unreachable_keeps_the_user_on_review(app, client, sign_in, clerk_down):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 3, goal="learn", interests=["design"])
    response = post_step(client, "review", {})
    assert response.status_code == 503
    assert "Clerk cannot be reached right now" in text(response)
    stored = load_user(app, user.clerk_id)
    assert (stored.is_onboarded, stored.onboarding_step) == (False, 3)
    assert location_path(client.get("/dashboard")) == "/onboarding"


# --- htmx: fragments and pushed URLs -----------------------------------------------------------


def test_a_step_is_a_whole_page_or_the_wizard_panel(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    page = client.get("/onboarding/profile")
    assert "<html" in text(page) and 'id="wizard"' in text(page)
    assert "HX-Request" in page.headers.get("Vary", "")

    fragment = client.get("/onboarding/profile", headers=HTMX)
    body = text(fragment)
    assert fragment.status_code == 200
    assert "<html" not in body and 'id="wizard"' not in body
    assert 'id="step-heading"' in body and "<title>Your profile · Welcome to Mentorly</title>" in body
    assert "HX-Request" in fragment.headers.get("Vary", "")

    # Boosted links and history restores need the whole page.
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        assert "<html" in text(client.get("/onboarding/profile", headers={**HTMX, **extra}))


def test_saving_a_step_over_htmx_swaps_in_the_next_step_and_pushes_its_url(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    response = post_step(client, "profile", VALID_PROFILE, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/onboarding/goals"
    body = text(response)
    assert "<html" not in body
    assert "Your goals" in body and 'name="goal"' in body
    assert csrf_token(body)  # the next step's form can be posted as it is


def test_invalid_input_over_htmx_is_a_422_panel(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    response = post_step(client, "profile", {**VALID_PROFILE, "website": "ftp://example.com"}, headers=HTMX)
    assert response.status_code == 422
    assert "HX-Push-Url" not in response.headers
    body = text(response)
    assert "<html" not in body
    assert "http:// or https://" in field_block(body, "website")


def test_a_post_without_the_csrf_token_is_refused(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    response = client.post("/onboarding/profile", data=VALID_PROFILE)
    assert response.status_code == 400
    assert load_user(app, user.clerk_id).location is None


def test_the_subject_is_the_signed_in_user_whatever_the_form_says(app, client, sign_in):
    other_client = app.test_client()
    other = sign_in(other_client, onboarded=False)
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)
    response = post_step(client, "profile", {**VALID_PROFILE, "clerk_id": other.clerk_id, "user_id": str(other.id)})
    assert response.status_code == 303
    assert load_user(app, user.clerk_id).location == "Lisbon"
    assert load_user(app, other.clerk_id).location is None


# --- The gate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", DASHBOARD_URLS)
def test_a_user_still_onboarding_is_sent_to_the_wizard_from_every_dashboard_url(client, sign_in, url):
    sign_in(client, onboarded=False)
    response = client.get(url)
    assert response.status_code == 302
    assert location_path(response) in ("/onboarding", "/dashboard/settings/profile")
    # /dashboard/settings first redirects to its profile section, which then redirects here.
    if location_path(response) != "/onboarding":
        response = client.get(location_path(response))
        assert location_path(response) == "/onboarding"
    htmx = client.get(url, headers=HTMX)
    if htmx.status_code != 302:
        assert htmx.headers["HX-Redirect"] == "/onboarding"


@pytest.mark.parametrize("section", SETTINGS_SECTIONS)
def test_a_user_still_onboarding_cannot_post_to_settings(app, client, sign_in, section):
    user = sign_in(client, onboarded=False, first_name="Grace", username="ghopper")
    token = csrf_token(text(client.get("/onboarding/about")))
    response = client.post(f"/dashboard/settings/{section}", data={
        "csrf_token": token, "first_name": "Changed", "username": "changed", "bio": "Changed", "theme": "dark",
        "timezone": "Asia/Tokyo",
    })
    if "POST" in app.url_map.bind("localhost").allowed_methods(f"/dashboard/settings/{section}"):
        assert response.status_code == 302
        assert location_path(response) == "/onboarding"
    else:
        assert response.status_code == 405  # a read-only section
    stored = load_user(app, user.clerk_id)
    assert (stored.first_name, stored.username, stored.bio, stored.theme, stored.timezone) == (
        "Grace", "ghopper", None, "system", "UTC",
    )


@pytest.mark.parametrize("url", ONBOARDING_URLS)
def test_an_onboarded_user_is_sent_to_the_dashboard_from_every_onboarding_url(client, sign_in, url):
    sign_in(client, onboarded=True)
    response = client.get(url)
    assert response.status_code == 302
    assert location_path(response) == "/dashboard"
    htmx = client.get(url, headers=HTMX)
    assert htmx.headers["HX-Redirect"] == "/dashboard"


@pytest.mark.parametrize("slug", STEP_SLUGS)
def test_an_onboarded_user_cannot_post_a_step(app, client, sign_in, slug):
    user = sign_in(client, onboarded=True, first_name="Grace", username="ghopper")
    token = csrf_token(text(client.get("/dashboard")))
    response = client.post(f"/onboarding/{slug}", data={"csrf_token": token, "first_name": "Changed",
                                                        "username": "changed", "goal": "learn"})
    assert response.status_code == 303
    assert location_path(response) == "/dashboard"
    stored = load_user(app, user.clerk_id)
    assert (stored.first_name, stored.username, stored.goal) == ("Grace", "ghopper", None)


@pytest.mark.parametrize("url", ONBOARDING_URLS)
def test_onboarding_needs_a_signed_in_user(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert location_path(response).startswith("/sign-in?redirect_url=")
    htmx = client.get(url, headers=HTMX)
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"].startswith("/sign-in")
