"""The Backend API client over real HTTP to the emulator: shapes, errors, timeouts, rate limits."""

from __future__ import annotations

import time

import pytest

from mentorly.clerk.client import ClerkAPIError, ClerkClient, ClerkNotFound, ClerkUnauthorized, ClerkUnavailable
from mentorly.config import DEFAULT_CLERK_API_VERSION

from .browser import LiveServer



@pytest.fixture
def clerk(emulator):
    return ClerkClient(emulator.api_url, emulator.secret_key, DEFAULT_CLERK_API_VERSION, timeout=(1, 1.5))


def test_get_list_count_update(clerk, emulator):
    created = [emulator.create_user(first_name=f"N{i}") for i in range(3)]
    assert clerk.get_user(created[0]["id"])["first_name"] == "N0"
    page = clerk.list_users(limit=2, offset=0, order_by="created_at")
    assert isinstance(page, list) and [u["id"] for u in page] == [u["id"] for u in created[:2]]
    assert clerk.count_users() == 3
    updated = clerk.update_user(created[1]["id"], first_name="Ada", username="ada_lovelace")
    assert (updated["first_name"], updated["username"]) == ("Ada", "ada_lovelace")
    assert updated["updated_at"] > created[1]["updated_at"]


def test_clerk_field_errors_name_the_field(clerk, emulator):
    first = emulator.create_user(username="taken_name")
    other = emulator.create_user()
    with pytest.raises(ClerkAPIError) as taken:
        clerk.update_user(other["id"], username="TAKEN_NAME")
    assert taken.value.codes == ["form_identifier_exists"]
    assert list(taken.value.field_errors) == ["username"]
    assert first["id"] != other["id"]

    with pytest.raises(ClerkAPIError) as digits:
        clerk.update_user(other["id"], username="12345")
    assert digits.value.codes == ["form_username_needs_non_number_char"]
    assert digits.value.field_errors["username"]


def test_unknown_user_is_not_found(clerk):
    with pytest.raises(ClerkNotFound) as missing:
        clerk.get_user("user_doesnotexist")
    assert missing.value.status == 404


def test_wrong_key_is_a_clear_error(emulator):
    client = ClerkClient(emulator.api_url, "sk_test_wrong", DEFAULT_CLERK_API_VERSION)
    assert not client.key_refused
    # A refused key is no request's fault: pages show "Clerk is unavailable", /healthz says why.
    with pytest.raises(ClerkUnauthorized):
        client.count_users()
    assert client.key_refused


def test_timeout_is_a_clear_error(clerk, emulator):
    user = emulator.create_user(first_name="Before")
    emulator.fault("timeout", delay=3, path=f"/v1/users/{user['id']}")
    started = time.monotonic()
    with pytest.raises(ClerkUnavailable, match="did not answer in time"):
        clerk.update_user(user["id"], first_name="After")
    assert time.monotonic() - started < 2.9  # our timeout, not the server's delay


def test_server_error_is_a_clear_error(clerk, emulator):
    user = emulator.create_user()
    emulator.fault("error")
    with pytest.raises(ClerkUnavailable, match="HTTP 500"):
        clerk.get_user(user["id"])


def test_an_answer_that_is_not_json_is_a_clear_error():
    """A proxy or captive portal answering 200 with a page of its own, not Clerk's JSON."""

    def portal(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html><body>Please sign in to the network</body></html>"]

    with LiveServer(portal) as server:
        client = ClerkClient(f"{server.url}/v1", "sk_test_x", DEFAULT_CLERK_API_VERSION)
        with pytest.raises(ClerkUnavailable, match="not Clerk's"):
            client.get_user("user_asked")


def test_rate_limit_waits_for_retry_after_then_succeeds(clerk, emulator):
    user = emulator.create_user(first_name="Before")
    emulator.fault("rate_limit", retry_after=1)
    started = time.monotonic()
    assert clerk.update_user(user["id"], first_name="After")["first_name"] == "After"
    assert time.monotonic() - started >= 1.0


def test_rate_limit_beyond_the_wait_budget_gives_up(emulator):
    client = ClerkClient(emulator.api_url, emulator.secret_key, DEFAULT_CLERK_API_VERSION, max_retry_wait=0.5)
    user = emulator.create_user()
    emulator.fault("rate_limit", retry_after=7)
    with pytest.raises(ClerkUnavailable) as limited:
        client.get_user(user["id"])
    assert limited.value.retry_after == 7


def test_the_emulators_own_rate_limit_per_user(emulator):
    """More than 10 updates of one user in 10 s: 429 with Retry-After, which the client honours."""
    client = ClerkClient(emulator.api_url, emulator.secret_key, DEFAULT_CLERK_API_VERSION, max_retry_wait=0)
    user = emulator.create_user()
    for i in range(10):
        client.update_user(user["id"], first_name=f"N{i}")
    with pytest.raises(ClerkUnavailable) as limited:
        client.update_user(user["id"], first_name="eleventh")
    assert limited.value.retry_after and limited.value.retry_after > 0
