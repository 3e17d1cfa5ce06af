"""The wizard against the local Clerk emulator (a real HTTP service): names and username go to
Clerk first, Clerk's verdicts reach the fields, finishing writes Clerk's public metadata, and a
new sign-in (a new session token) resumes where the person stopped.
"""

from __future__ import annotations

import pytest

from tests.onboarding_support import (
    checked_values,
    field_block,
    input_value,
    load_user,
    location_path,
    post_step,
    selected_option,
    text,
    textarea_value,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def clerk_app(make_app, emulator):
    """The app with Clerk = the emulator (its JWKS verifies the tokens)."""
    return make_app(**emulator.app_config(jwks=True))


def clerk_user(emulator, user_id: str) -> dict:
    response = emulator.api("GET", f"/users/{user_id}")
    assert response.status_code == 200
    return response.json()


def signed_in_client(app, emulator, user_id: str):
    """A browser of its own (another device) with a fresh Clerk session for the user."""
    client = app.test_client()
    client.set_cookie("__session", emulator.sign_in(user_id))
    return client


def test_the_whole_wizard_stores_everything_in_clerk_and_locally(clerk_app, emulator):
    person = emulator.create_user(email="ada@example.test", first_name="Ada", last_name=None, username=None)
    client = signed_in_client(clerk_app, emulator, person["id"])

    # The first request syncs the user from Clerk just in time; the wizard starts at step 1.
    assert location_path(client.get("/onboarding")) == "/onboarding/about"
    about = text(client.get("/onboarding/about"))
    assert input_value(about, "first_name") == "Ada"  # what Clerk knows
    assert input_value(about, "username") == ""

    response = post_step(client, "about", {"first_name": "Ada", "last_name": "Lovelace", "username": "Ada_L"},
                         page=about)
    assert response.status_code == 303
    assert location_path(response) == "/onboarding/profile"
    at_clerk = clerk_user(emulator, person["id"])
    assert (at_clerk["first_name"], at_clerk["last_name"], at_clerk["username"]) == ("Ada", "Lovelace", "ada_l")
    stored = load_user(clerk_app, person["id"])
    assert (stored.first_name, stored.last_name, stored.username) == ("Ada", "Lovelace", "ada_l")
    assert stored.clerk_updated_at == at_clerk["updated_at"]  # written from Clerk's answer

    response = post_step(client, "profile", {"bio": "Analyst.", "location": "London", "timezone": "Europe/London",
                                             "website": "https://ada.example"})
    assert location_path(response) == "/onboarding/goals"
    response = post_step(client, "goals", {"goal": "mentor", "interests": ["software-engineering", "leadership"]})
    assert location_path(response) == "/onboarding/review"
    review = text(client.get("/onboarding/review"))
    assert "Ada Lovelace" in review and "ada_l" in review and "Mentor others" in review
    assert "onboardingComplete" not in str(clerk_user(emulator, person["id"])["public_metadata"])

    response = post_step(client, "review", {}, page=review)
    assert response.status_code == 303
    assert location_path(response) == "/dashboard"
    at_clerk = clerk_user(emulator, person["id"])
    assert at_clerk["public_metadata"]["onboardingComplete"] is True
    assert (at_clerk["first_name"], at_clerk["last_name"], at_clerk["username"]) == ("Ada", "Lovelace", "ada_l")
    stored = load_user(clerk_app, person["id"])
    assert (stored.is_onboarded, stored.onboarding_step) == (True, 4)
    assert (stored.bio, stored.location, stored.goal) == ("Analyst.", "London", "mentor")

    dashboard = text(client.get("/dashboard"))
    assert "Welcome to Mentorly, Ada!" in dashboard
    assert "@ada_l" in dashboard
    assert "Welcome to Mentorly" not in text(client.get("/dashboard"))  # shown once
    assert location_path(client.get("/onboarding/about")) == "/dashboard"


def test_clerks_verdict_on_the_username_is_shown_at_the_field(clerk_app, emulator):
    # Clerk knows a user this app has not heard of yet (its webhook has not arrived).
    emulator.create_user(first_name="Someone", username="taken_name")
    person = emulator.create_user(first_name="Ada", last_name="Lovelace", username=None)
    client = signed_in_client(clerk_app, emulator, person["id"])

    response = post_step(client, "about", {"first_name": "Ada", "last_name": "Lovelace", "username": "taken_name"})
    assert response.status_code == 422
    page = text(response)
    username = field_block(page, "username")
    assert "taken" in username.lower()
    assert 'aria-invalid="true"' in username
    assert input_value(page, "username") == "taken_name"
    assert 'id="step-problems"' not in page  # the verdict is at the field, not above the form
    assert clerk_user(emulator, person["id"])["username"] is None
    stored = load_user(clerk_app, person["id"])
    assert (stored.username, stored.onboarding_step) == (None, 0)


def test_a_new_sign_in_on_another_device_resumes_with_the_saved_values(clerk_app, emulator):
    person = emulator.create_user(first_name="Grace", last_name="Hopper", username="ghopper")
    laptop = signed_in_client(clerk_app, emulator, person["id"])
    post_step(laptop, "about", {"first_name": "Grace", "last_name": "Hopper", "username": "grace_h"})
    post_step(laptop, "profile", {"bio": "COBOL.", "location": "Arlington", "timezone": "America/New_York",
                                  "website": ""})

    phone = signed_in_client(clerk_app, emulator, person["id"])  # a new session, a new token
    assert location_path(phone.get("/onboarding")) == "/onboarding/goals"
    assert location_path(phone.get("/onboarding/review")) == "/onboarding/goals"
    about = text(phone.get("/onboarding/about"))  # back
    assert input_value(about, "username") == "grace_h"
    profile = text(phone.get("/onboarding/profile"))
    assert textarea_value(profile, "bio") == "COBOL."
    assert selected_option(profile, "timezone") == "America/New_York"
    post_step(phone, "goals", {"goal": "learn", "interests": ["leadership"]})
    assert checked_values(text(laptop.get("/onboarding/goals")), "goal") == {"learn"}
    assert location_path(laptop.get("/onboarding")) == "/onboarding/review"


def test_clerk_failing_on_the_last_step_loses_nothing_and_a_retry_finishes(clerk_app, emulator):
    person = emulator.create_user(first_name="Ada", last_name="Lovelace", username="ada_l")
    client = signed_in_client(clerk_app, emulator, person["id"])
    post_step(client, "about", {"first_name": "Ada", "last_name": "Lovelace", "username": "ada_l"})
    post_step(client, "profile", {"timezone": "UTC"})
    post_step(client, "goals", {"goal": "both", "interests": ["design"]})

    emulator.fault("error", status=502, path="/v1/users")
    response = post_step(client, "review", {})
    assert response.status_code == 503
    assert "Clerk had a problem" in text(response)
    assert clerk_user(emulator, person["id"])["public_metadata"].get("onboardingComplete") is None
    stored = load_user(clerk_app, person["id"])
    assert (stored.is_onboarded, stored.onboarding_step, stored.goal) == (False, 3, "both")

    response = post_step(client, "review", {})
    assert location_path(response) == "/dashboard"
    assert clerk_user(emulator, person["id"])["public_metadata"]["onboardingComplete"] is True


def test_clerk_failing_on_the_names_keeps_the_input(clerk_app, emulator):
    person = emulator.create_user(first_name="Ada", last_name=None, username=None)
    client = signed_in_client(clerk_app, emulator, person["id"])
    page = text(client.get("/onboarding/about"))
    emulator.fault("error", status=500, path="/v1/users", method="PATCH")
    response = post_step(client, "about", {"first_name": "Ada", "last_name": "Byron", "username": "ada_b"}, page=page)
    assert response.status_code == 503
    page = text(response)
    assert "Clerk had a problem" in page
    assert (input_value(page, "last_name"), input_value(page, "username")) == ("Byron", "ada_b")
    assert clerk_user(emulator, person["id"])["last_name"] is None
    stored = load_user(clerk_app, person["id"])
    assert (stored.last_name, stored.username, stored.onboarding_step) == (None, None, 0)
