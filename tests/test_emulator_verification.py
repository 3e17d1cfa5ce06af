"""The emulator's side of Clerk's "verify it's you": `fva` in session tokens, the verification page
the ClerkJS stand-in opens, and what stays private to the emulator."""

from __future__ import annotations

import time

import pytest
import requests

from .test_emulator_frontend import APP, browser, verify_token


def signed_in_browser(emulator, user_id: str, **options) -> tuple[requests.Session, object]:
    """A browser whose Clerk client holds a new session of `user_id` (as after signing in)."""
    session = emulator.create_session(user_id, **options)
    http = browser()
    http.cookies.set("__client", session.session["client_id"])
    return http, session


def fresh_token_claims(emulator, http: requests.Session, session_id: str) -> dict:
    """What ClerkJS gets when it renews the session token."""
    response = http.post(f"{emulator.url}/v1/client/sessions/{session_id}/tokens", headers={"Origin": APP})
    assert response.status_code == 200, response.text
    return verify_token(emulator, response.json()["jwt"])


def test_a_new_session_has_its_first_factor_just_verified(emulator):
    plain = emulator.create_user()
    assert verify_token(emulator, emulator.create_session(plain["id"]).token)["fva"] == [0, -1]
    # A user with two-factor on passes both factors to sign in.
    two_factor = emulator.create_user(two_factor_enabled=True)
    assert verify_token(emulator, emulator.create_session(two_factor["id"]).token)["fva"] == [0, 0]


def test_tokens_carry_the_age_of_the_last_verification_in_minutes(emulator):
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])

    assert emulator.set_verification_age(session.id, first_factor=15) == [15, -1]

    # Every way a token is minted for the session says the same.
    assert fresh_token_claims(emulator, http, session.id)["fva"] == [15, -1]
    assert verify_token(emulator, emulator.mint_token(session.id))["fva"] == [15, -1]
    # A test can still say anything it likes.
    assert verify_token(emulator, emulator.mint_token(session.id, claims={"fva": [3, 2]}))["fva"] == [3, 2]

    assert emulator.set_verification_age(session.id, first_factor=None, second_factor=4) == [-1, 4]
    assert fresh_token_claims(emulator, http, session.id)["fva"] == [-1, 4]


def test_a_session_can_be_created_with_an_old_verification(emulator):
    user = emulator.create_user()
    session = emulator.create_session(user["id"], factor_verification_age={"first_factor": 11})
    assert verify_token(emulator, session.token)["fva"] == [11, -1]


@pytest.mark.parametrize("ages", [{}, {"third_factor": 1}, {"first_factor": -1}, {"first_factor": "10"},
                                  {"first_factor": True}])
def test_verification_ages_are_checked(emulator, ages):
    user = emulator.create_user()
    session = emulator.create_session(user["id"])
    response = requests.post(f"{emulator.url}/__emulator/sessions/{session.id}/verification", json=ages, timeout=10)
    assert response.status_code == 422, response.text


def test_the_verification_dates_never_leave_the_emulator(emulator):
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])
    listed = emulator.api("GET", "/sessions", params={"user_id": user["id"]}).json()
    fetched = emulator.api("GET", f"/sessions/{session.id}").json()
    client = http.get(f"{emulator.url}/v1/client").json()["response"]["sessions"][0]
    revoked = emulator.api("POST", f"/sessions/{session.id}/revoke").json()
    for shown in (session.session, listed[0], fetched, client, revoked):
        assert not [key for key in shown if key.startswith("_")], shown
    # The Frontend API's session tells ClerkJS the ages, as Clerk's does.
    assert client["factor_verification_age"] == [0, -1]


def test_the_verify_page_asks_the_signed_in_person_for_a_code(emulator):
    user = emulator.create_user(first_name="Vera", last_name="Fied", email="vera@example.test")
    http, _ = signed_in_browser(emulator, user["id"])
    page = http.get(f"{emulator.url}/verify", params={"redirect_url": f"{APP}/dashboard/settings/security"})
    assert page.status_code == 200
    for text in ("Verify it's you", "Vera Fied", "vera@example.test", "Verification code", "424242",
                 f"{APP}/dashboard/settings/security"):
        assert text in page.text


def test_verifying_refreshes_the_first_factor_and_returns_with_a_fresh_token(emulator):
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])
    emulator.set_verification_age(session.id, first_factor=42)
    target = f"{APP}/dashboard/settings/security#delete-account"

    response = http.post(f"{emulator.url}/verify", data={"code": "424242", "redirect_url": target},
                         allow_redirects=False)

    assert response.status_code == 303 and response.headers["Location"] == target
    assert verify_token(emulator, http.cookies["__session"])["fva"] == [0, -1]
    assert abs(int(http.cookies["__client_uat"]) - time.time()) < 30
    assert fresh_token_claims(emulator, http, session.id)["fva"] == [0, -1]


def test_a_wrong_code_verifies_nothing(emulator):
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])
    emulator.set_verification_age(session.id, first_factor=42)

    response = http.post(f"{emulator.url}/verify", data={"code": "000000", "redirect_url": APP},
                         allow_redirects=False)

    assert response.status_code == 422
    assert "Incorrect code" in response.text and 'aria-invalid="true"' in response.text
    assert "__session" not in http.cookies
    assert fresh_token_claims(emulator, http, session.id)["fva"] == [42, -1]


def test_without_a_signed_in_session_there_is_nothing_to_verify(emulator):
    http = browser()
    assert "You are not signed in" in http.get(f"{emulator.url}/verify").text
    response = http.post(f"{emulator.url}/verify", data={"code": "424242"}, allow_redirects=False)
    assert response.status_code == 401 and "__session" not in http.cookies

    # An ended session cannot be verified either.
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])
    emulator.end_session(session.id)
    response = http.post(f"{emulator.url}/verify", data={"code": "424242"}, allow_redirects=False)
    assert response.status_code == 401


def test_the_verify_form_only_accepts_posts_from_the_emulators_pages(emulator):
    user = emulator.create_user()
    http, session = signed_in_browser(emulator, user["id"])
    emulator.set_verification_age(session.id, first_factor=42)
    response = http.post(f"{emulator.url}/verify", data={"code": "424242"}, headers={"Origin": "https://evil.example"},
                         allow_redirects=False)
    assert response.status_code == 403
    assert fresh_token_claims(emulator, http, session.id)["fva"] == [42, -1]


def test_verify_never_sends_the_browser_off_the_app(emulator):
    user = emulator.create_user()
    http, _ = signed_in_browser(emulator, user["id"])
    response = http.post(f"{emulator.url}/verify", data={"code": "424242", "redirect_url": "https://evil.example/"},
                         allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == f"{APP}/"

