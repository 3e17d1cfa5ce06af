"""Usernames as the Clerk instance has them: required, optional or off.

The app learns the setting from the Frontend API's environment (the emulator serves it and can
be set to each mode), or from CLERK_USERNAMES; when it cannot be learned, usernames are optional.
"""

from __future__ import annotations

import pytest
import requests

from mentorly.clerk.instance import username_mode
from mentorly.users import sync_user_to_db

from .conftest import make_session_token
from .settings_support import PROFILE, csrf_token, load_user, profile_data, sign_in_clerk_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def clerk_app(make_app, emulator):
    """An app that asks the emulator's Frontend API which username setting it has."""
    return make_app(**emulator.app_config(), CLERK_USERNAMES=None)


@pytest.mark.parametrize("mode,enabled,required", [("required", True, True), ("optional", True, False),
                                                   ("off", False, False)])
def test_the_emulator_reports_each_mode_as_clerks_environment_does(emulator, mode, enabled, required):
    emulator.settings(usernames=mode)
    environment = requests.get(f"{emulator.url}/v1/environment", timeout=5).json()
    attribute = environment["user_settings"]["attributes"]["username"]
    assert (attribute["enabled"], attribute["required"]) == (enabled, required)


def test_optional_usernames_let_a_person_without_one_save_their_bio(clerk_app, emulator):
    emulator.settings(usernames="optional")
    client = clerk_app.test_client()
    user = sign_in_clerk_user(clerk_app, client, emulator, username=None, first_name="No", last_name="Name")
    page = client.get(PROFILE).get_data(as_text=True)
    assert 'name="username"' in page and 'name="username" required' not in page

    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, bio="Teaches chess"))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert load_user(clerk_app, user.clerk_id).bio == "Teaches chess"


def test_required_usernames_are_asked_for(clerk_app, emulator):
    emulator.settings(usernames="required")
    client = clerk_app.test_client()
    user = sign_in_clerk_user(clerk_app, client, emulator, username="has_one", first_name="Has")
    token = csrf_token(client)
    response = client.post(PROFILE, data=profile_data(user, token, username="", bio="x"))
    assert response.status_code == 422
    assert "Choose a username." in response.get_data(as_text=True)
    assert load_user(clerk_app, user.clerk_id).bio is None


def test_without_usernames_the_field_is_gone_and_onboarding_finishes(clerk_app, emulator):
    emulator.settings(usernames="off")
    client = clerk_app.test_client()
    user = sign_in_clerk_user(clerk_app, client, emulator, first_name="Off")
    assert 'name="username"' not in client.get(PROFILE).get_data(as_text=True)
    token = csrf_token(client)
    data = profile_data(user, token, first_name="Offline", bio="No handle")
    del data["username"]
    assert client.post(PROFILE, data=data).status_code == 303
    assert emulator.api("GET", f"/users/{user.clerk_id}").json()["first_name"] == "Offline"

    # A new person's first onboarding step asks for no username either.
    newcomer = emulator.create_user(first_name="New")
    with clerk_app.app_context():
        sync_user_to_db(newcomer)
    client.set_cookie("__session", make_session_token(newcomer["id"]))
    about = client.get("/onboarding/about").get_data(as_text=True)
    assert 'name="username"' not in about
    answer = client.post("/onboarding/about", data={"csrf_token": csrf_token(client, "/onboarding/about"),
                                                    "first_name": "New", "last_name": "Comer"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/onboarding/profile")
    assert load_user(clerk_app, newcomer["id"]).last_name == "Comer"


def test_clerk_usernames_overrides_and_an_unreachable_instance_means_optional(make_app, emulator):
    emulator.settings(usernames="required")
    for setting, expected in (("off", "off"), (None, "required")):
        app = make_app(**emulator.app_config(), CLERK_USERNAMES=setting)
        with app.test_request_context():
            assert username_mode() == expected
    # A publishable key whose Frontend API host does not answer.
    unreachable = make_app(CLERK_USERNAMES=None, CLERK_PUBLISHABLE_KEY="pk_test_MTI3LjAuMC4xOjkk")
    with unreachable.test_request_context():
        assert username_mode() == "optional"
