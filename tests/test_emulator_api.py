"""The emulator's Backend API: Clerk's rules, errors, limits and faults, against a real process."""

from __future__ import annotations

import base64
import io
import time

import pytest
import requests
from PIL import Image


def image_bytes(image_format: str, size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, format=image_format)
    return buffer.getvalue()


def error_codes(response: requests.Response) -> list[tuple[str, str | None]]:
    return [(error["code"], (error.get("meta") or {}).get("param_name")) for error in response.json()["errors"]]


# --- authentication and unknown objects -------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer sk_test_wrong", "Basic c2tfdGVzdA==", "Bearer "])
def test_the_backend_api_needs_the_secret_key(emulator, header):
    headers = {"Authorization": header} if header is not None else {}
    response = requests.get(f"{emulator.api_url}/users", headers=headers, timeout=5)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["code"] == "authentication_invalid"
    assert body["errors"][0]["long_message"] and body["clerk_trace_id"]


def test_jwks_needs_no_key_and_is_not_rate_limited(emulator):
    for _ in range(30):
        response = requests.get(f"{emulator.api_url}/jwks", timeout=5)
        assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig") and key["kid"].startswith("ins_")


@pytest.mark.parametrize("method,path", [
    ("GET", "/users/user_nobody"), ("PATCH", "/users/user_nobody"), ("DELETE", "/users/user_nobody"),
    ("PATCH", "/users/user_nobody/metadata"), ("DELETE", "/users/user_nobody/profile_image"),
    ("GET", "/sessions/sess_nobody"), ("POST", "/sessions/sess_nobody/revoke"),
])
def test_unknown_users_and_sessions_are_clerk_404s(emulator, method, path):
    response = emulator.api(method, path, json={})
    assert response.status_code == 404
    assert error_codes(response) == [("resource_not_found", None)]


# --- usernames and names ----------------------------------------------------------------------


@pytest.mark.parametrize("username,code", [
    ("abc", "form_username_invalid_length"),
    ("a" * 65, "form_username_invalid_length"),
    ("has space", "form_username_invalid_character"),
    ("dots.not.ok", "form_username_invalid_character"),
    ("émile", "form_username_invalid_character"),
    ("tilde~", "form_username_invalid_character"),
    ("12345678", "form_username_needs_non_number_char"),
])
def test_bad_usernames_get_clerks_codes(emulator, username, code):
    user = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"username": username})
    assert response.status_code == 422
    assert error_codes(response) == [(code, "username")]
    assert emulator.api("GET", f"/users/{user['id']}").json()["username"] is None


@pytest.mark.parametrize("username", ["abcd", "a" * 64, "Mentor_2-go", "1234a", "___-"])
def test_good_usernames_are_saved_lowercased(emulator, username):
    user = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"username": username})
    assert response.status_code == 200, response.text
    assert response.json()["username"] == username.lower()


def test_usernames_are_unique_case_insensitively(emulator):
    emulator.create_user(username="taken_name")
    other = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{other['id']}", json={"username": "Taken_Name"})
    assert response.status_code == 422
    assert error_codes(response) == [("form_identifier_exists", "username")]
    assert response.json()["errors"][0]["long_message"] == "That username is taken. Please try another."
    # A user may keep (or re-case) their own username, and clear it with null or "".
    owner = emulator.api("GET", "/users", params={"username": "taken_name"}).json()[0]
    assert emulator.api("PATCH", f"/users/{owner['id']}", json={"username": "TAKEN_NAME"}).status_code == 200
    cleared = emulator.api("PATCH", f"/users/{owner['id']}", json={"username": ""})
    assert cleared.json()["username"] is None
    assert emulator.api("PATCH", f"/users/{other['id']}", json={"username": "taken_name"}).status_code == 200


def test_names_over_256_characters_are_refused_per_field(emulator):
    user = emulator.create_user(first_name="Ada", last_name="Lovelace")
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "x" * 257, "last_name": "y" * 300})
    assert response.status_code == 422
    assert error_codes(response) == [("form_param_max_length_exceeded", "first_name"),
                                     ("form_param_max_length_exceeded", "last_name")]
    assert emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "x" * 256}).status_code == 200


def test_update_changes_the_user_and_bumps_updated_at(emulator):
    user = emulator.create_user(first_name="Old", last_name="Name")
    time.sleep(0.005)
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "New", "last_name": None})
    changed = response.json()
    assert (changed["first_name"], changed["last_name"]) == ("New", None)
    assert changed["updated_at"] > user["updated_at"]
    assert changed["created_at"] == user["created_at"]
    assert emulator.api("GET", f"/users/{user['id']}").json() == changed


def test_update_refuses_metadata_and_unknown_fields_since_2026_05_12(emulator):
    user = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"public_metadata": {"a": 1}})
    assert response.status_code == 422
    assert error_codes(response) == [("form_param_unknown", "public_metadata")]
    assert emulator.api("PATCH", f"/users/{user['id']}", data="[1, 2]",
                        headers={"Content-Type": "application/json"}).status_code == 400


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_is_deep_merged_and_null_removes_a_key(emulator):
    user = emulator.create_user(public_metadata={"keep": 1, "nested": {"a": 1, "b": {"c": 2}}, "drop": True})
    response = emulator.api("PATCH", f"/users/{user['id']}/metadata", json={
        "public_metadata": {"nested": {"b": {"d": 3}, "a": None}, "drop": None, "new": [1, 2]},
        "private_metadata": {"secret": "s"},
    })
    assert response.status_code == 200
    body = response.json()
    assert body["public_metadata"] == {"keep": 1, "nested": {"b": {"c": 2, "d": 3}}, "new": [1, 2]}
    assert body["private_metadata"] == {"secret": "s"}
    assert body["unsafe_metadata"] == {}
    again = emulator.api("PATCH", f"/users/{user['id']}/metadata", json={"public_metadata": {"nested": None}})
    assert again.json()["public_metadata"] == {"keep": 1, "new": [1, 2]}


def test_metadata_must_be_objects(emulator):
    user = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{user['id']}/metadata",
                            json={"public_metadata": [1], "other_metadata": {}})
    assert response.status_code == 422
    assert sorted(error_codes(response)) == [("form_param_type_invalid", "public_metadata"),
                                             ("form_param_unknown", "other_metadata")]


# --- rate limits ------------------------------------------------------------------------------


def test_more_than_ten_updates_per_user_in_ten_seconds_is_429_with_retry_after(emulator):
    user = emulator.create_user()
    other = emulator.create_user()
    for number in range(10):
        path = f"/users/{user['id']}" if number % 2 else f"/users/{user['id']}/metadata"
        assert emulator.api("PATCH", path, json={}).status_code == 200
    limited = emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "Eleven"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert error_codes(limited) == [("too_many_requests", None)]
    assert emulator.api("GET", f"/users/{user['id']}").json()["first_name"] != "Eleven"
    # Per user: someone else is not limited, and reads are not limited.
    assert emulator.api("PATCH", f"/users/{other['id']}", json={}).status_code == 200
    assert emulator.api("GET", f"/users/{user['id']}").status_code == 200


# --- profile images ---------------------------------------------------------------------------


@pytest.mark.parametrize("image_format,content_type", [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_profile_images_of_each_accepted_type_are_stored_and_served(emulator, image_format, content_type):
    user = emulator.create_user()
    data = image_bytes(image_format)
    response = emulator.api("POST", f"/users/{user['id']}/profile_image",
                            files={"file": ("avatar.bin", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["has_image"] is True and body["image_url"].startswith(emulator.url + "/images/")
    assert body["updated_at"] > user["updated_at"]
    served = requests.get(body["image_url"], timeout=5)
    assert served.status_code == 200 and served.content == data
    assert served.headers["Content-Type"].startswith(content_type)


def test_profile_images_are_checked_by_content_and_size(emulator):
    user = emulator.create_user()
    path = f"/users/{user['id']}/profile_image"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    response = emulator.api("POST", path, files={"file": ("a.png", svg, "image/png")})
    assert response.status_code == 400 and error_codes(response) == [("unsupported_image_type", "file")]
    bmp = image_bytes("BMP")
    assert error_codes(emulator.api("POST", path, files={"file": ("a.bmp", bmp, "image/bmp")})) == [
        ("unsupported_image_type", "file")]
    too_big = image_bytes("PNG") + b"\0" * (10_000_001 - len(image_bytes("PNG")))
    response = emulator.api("POST", path, files={"file": ("big.png", too_big, "image/png")})
    assert response.status_code == 400 and error_codes(response) == [("image_too_large", "file")]
    just_fits = image_bytes("PNG") + b"\0" * (10_000_000 - len(image_bytes("PNG")))
    assert emulator.api("POST", path, files={"file": ("ok.png", just_fits, "image/png")}).status_code == 200
    missing = emulator.api("POST", path, files={"other": ("a.png", image_bytes("PNG"), "image/png")})
    assert missing.status_code == 400 and error_codes(missing) == [("form_param_missing", "file")]


def test_deleting_the_profile_image_goes_back_to_the_default(emulator):
    user = emulator.create_user()
    uploaded = emulator.api("POST", f"/users/{user['id']}/profile_image",
                            files={"file": ("a.png", image_bytes("PNG"), "image/png")}).json()
    response = emulator.api("DELETE", f"/users/{user['id']}/profile_image")
    body = response.json()
    assert response.status_code == 200 and body["has_image"] is False
    assert body["image_url"] != uploaded["image_url"]
    assert requests.get(uploaded["image_url"], timeout=5).status_code == 404
    default = requests.get(body["image_url"], timeout=5)
    assert default.status_code == 200 and default.headers["Content-Type"].startswith("image/svg+xml")


# --- listing ----------------------------------------------------------------------------------


def test_list_limits_offsets_and_orders(emulator):
    ids = []
    for number in range(12):
        ids.append(emulator.create_user(email=f"list{number}@example.test", first_name=f"N{number:02d}")["id"])
        time.sleep(0.002)
    default = emulator.api("GET", "/users").json()
    assert isinstance(default, list) and len(default) == 10
    assert [u["id"] for u in default] == ids[::-1][:10], "newest first by default"
    assert [u["id"] for u in emulator.api("GET", "/users", params={"order_by": "created_at", "limit": 3,
                                                                   "offset": 2}).json()] == ids[2:5]
    assert [u["id"] for u in emulator.api("GET", "/users", params={"limit": 500, "offset": 10}).json()] == ids[1::-1]
    assert emulator.api("GET", "/users", params={"offset": 12}).json() == []
    # updated_at follows the latest change.
    emulator.api("PATCH", f"/users/{ids[3]}", json={"first_name": "Changed"})
    assert emulator.api("GET", "/users", params={"order_by": "-updated_at", "limit": 1}).json()[0]["id"] == ids[3]
    assert emulator.api("GET", "/users", params={"order_by": "updated_at", "limit": 1}).json()[0]["id"] == ids[0]
    # Cursor pagination walks the whole list without repeats.
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"starting_after": cursor} if cursor else {})}
        page = emulator.api("GET", "/users", params=params).json()
        seen += [u["id"] for u in page]
        if len(page) < 5:
            break
        cursor = page[-1]["id"]
    assert seen == ids[::-1]


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1}, {"order_by": "-password"},
    {"order_by": "updated_at", "starting_after": "user_x"}])
def test_bad_list_parameters_are_422(emulator, params):
    response = emulator.api("GET", "/users", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] in ("form_param_value_invalid", "form_param_format_invalid")


def test_count_and_filters(emulator):
    emulator.create_user(email="findme@example.test", username="finder")
    emulator.create_user(email="other@example.test")
    assert emulator.api("GET", "/users/count").json() == {"object": "total_count", "total_count": 2}
    assert emulator.api("GET", "/users/count", params={"query": "findme"}).json()["total_count"] == 1
    found = emulator.api("GET", "/users", params={"email_address": "FindMe@example.test"}).json()
    assert [u["username"] for u in found] == ["finder"]


def test_delete_user_returns_a_deleted_object_and_frees_the_identifiers(emulator):
    user = emulator.create_user(email="gone@example.test", username="gone_user")
    session = emulator.create_session(user["id"])
    response = emulator.api("DELETE", f"/users/{user['id']}")
    assert response.json() == {"object": "user", "id": user["id"], "deleted": True}
    assert emulator.api("GET", f"/users/{user['id']}").status_code == 404
    assert emulator.api("GET", f"/sessions/{session.id}").json()["status"] == "removed"
    again = emulator.create_user(email="gone@example.test", username="gone_user")
    assert again["id"] != user["id"]


def test_full_user_objects(emulator):
    user = emulator.create_user(email="full@example.test", first_name="Full", last_name="User", username="full",
                                email_verified=False, password_enabled=False, external_accounts=["oauth_google"])
    body = emulator.api("GET", f"/users/{user['id']}").json()
    (email,) = body["email_addresses"]
    assert body["primary_email_address_id"] == email["id"] and email["id"].startswith("idn_")
    assert email["verification"]["status"] == "unverified"
    assert body["password_enabled"] is False and body["two_factor_enabled"] is False
    (account,) = body["external_accounts"]
    assert account["provider"] == "oauth_google" and account["email_address"] == "full@example.test"
    assert email["linked_to"] == [{"type": "oauth_google", "id": account["id"]}]
    now_ms = time.time() * 1000
    assert abs(body["created_at"] - now_ms) < 60_000 and body["updated_at"] >= body["created_at"]


# --- sessions ---------------------------------------------------------------------------------


def test_sessions_list_filters_and_revoke(emulator):
    user = emulator.create_user()
    other = emulator.create_user()
    first = emulator.create_session(user["id"], user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/129.0.0.0")
    second = emulator.create_session(user["id"])
    emulator.create_session(other["id"])
    listed = emulator.api("GET", "/sessions", params={"user_id": user["id"]}).json()
    assert [s["id"] for s in listed] == [second.id, first.id]
    activity = listed[1]["latest_activity"]
    assert (activity["browser_name"], activity["browser_version"], activity["device_type"]) == (
        "Chrome", "129.0.0.0", "Windows")
    assert activity["city"] and activity["country"]
    revoked = emulator.api("POST", f"/sessions/{first.id}/revoke").json()
    assert revoked["status"] == "revoked" and revoked["updated_at"] >= revoked["created_at"]
    active = emulator.api("GET", "/sessions", params={"user_id": user["id"], "status": "active"}).json()
    assert [s["id"] for s in active] == [second.id]
    assert [s["id"] for s in emulator.api("GET", "/sessions", params={"user_id": user["id"],
                                                                      "status": "revoked"}).json()] == [first.id]


# --- faults -----------------------------------------------------------------------------------


def test_error_fault_answers_500_then_recovers(emulator):
    emulator.fault("error", count=2)
    assert [emulator.api("GET", "/users").status_code for _ in range(3)] == [500, 500, 200]
    emulator.fault("error", status=503)
    response = emulator.api("GET", "/users/count")
    assert response.status_code == 503 and response.json()["errors"][0]["code"]


def test_rate_limit_fault_answers_429_with_retry_after(emulator):
    user = emulator.create_user(first_name="Before")
    emulator.fault("rate_limit", retry_after=7, path="/v1/users", method="PATCH")
    assert emulator.api("GET", f"/users/{user['id']}").status_code == 200, "other methods are spared"
    response = emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "After"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert emulator.api("GET", f"/users/{user['id']}").json()["first_name"] == "Before", "nothing changed"
    assert emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "After"}).status_code == 200


def test_timeout_fault_outlasts_the_clients_timeout_and_changes_nothing(emulator):
    user = emulator.create_user(first_name="Before")
    emulator.fault("timeout", delay=1.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": "After"}, timeout=0.5)
    assert time.monotonic() - started < 1.4
    time.sleep(1.2)
    assert emulator.api("GET", f"/users/{user['id']}").json()["first_name"] == "Before"


def test_faults_spare_jwks_unless_named(emulator):
    emulator.fault("error", count=1)
    assert requests.get(f"{emulator.api_url}/jwks", timeout=5).status_code == 200
    assert emulator.api("GET", "/users").status_code == 500
    emulator.fault("error", path="/v1/jwks")
    assert requests.get(f"{emulator.api_url}/jwks", timeout=5).status_code == 500


def test_bad_fault_specs_are_refused(emulator):
    response = requests.post(f"{emulator.url}/__emulator/faults", json={"mode": "explode"}, timeout=5)
    assert response.status_code == 422
    assert emulator.control("GET", "/faults")["faults"] == []


# --- control, persistence, production ---------------------------------------------------------


def test_bulk_create_is_fast_and_makes_listable_users_without_webhooks(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    started = time.monotonic()
    result = emulator.bulk_create_users(10_000, prefix="bench")
    elapsed = time.monotonic() - started
    assert result["created"] == 10_000 and result["total_count"] == 10_000
    assert result["seconds"] < 5, f"10,000 users took {result['seconds']} s in the emulator"
    assert elapsed < 10, f"10,000 users took {elapsed:.1f} s end to end"
    assert emulator.api("GET", "/users/count").json()["total_count"] == 10_000
    page = emulator.api("GET", "/users", params={"limit": 500, "offset": 9_800}).json()
    assert len(page) == 200 and len({u["id"] for u in page}) == 200
    assert emulator.sent_webhooks() == [] and webhook_receiver.received == []


def test_state_persists_across_a_restart(emulator_factory, tmp_path):
    first = emulator_factory(state_dir=tmp_path / "state")
    user = first.create_user(email="persist@example.test", username="persist", public_metadata={"a": 1})
    session = first.create_session(user["id"])
    first.api("POST", f"/users/{user['id']}/profile_image",
              files={"file": ("a.png", image_bytes("PNG"), "image/png")})
    jwks = first.api("GET", "/jwks").json()
    before = first.api("GET", f"/users/{user['id']}").json()
    first.restart()
    assert first.api("GET", f"/users/{user['id']}").json() == before
    assert first.api("GET", f"/sessions/{session.id}").json()["status"] == "active"
    assert first.api("GET", "/jwks").json() == jwks, "the signing key is generated once"
    assert requests.get(before["image_url"], timeout=5).status_code == 200
    taken = first.api("PATCH", f"/users/{first.create_user()['id']}", json={"username": "PERSIST"})
    assert error_codes(taken) == [("form_identifier_exists", "username")]


def test_reset_forgets_everything_but_the_key(emulator):
    jwks = emulator.api("GET", "/jwks").json()
    emulator.create_user()
    emulator.fault("error", count=5)
    emulator.reset()
    assert emulator.api("GET", "/users/count").json()["total_count"] == 0
    assert emulator.sent_webhooks(wait=0) == [] and emulator.control("GET", "/faults")["faults"] == []
    assert emulator.api("GET", "/jwks").json() == jwks


def test_the_publishable_key_names_the_emulators_own_host(emulator):
    key = emulator.control("GET", "/health")["publishable_key"]
    assert base64.b64decode(key.removeprefix("pk_test_") + "==").decode() == f"127.0.0.1:{emulator.port}$"


def test_the_default_port_gives_the_configured_publishable_key():
    from mentorly.config import EMULATOR_PORT, EMULATOR_PUBLISHABLE_KEY
    from mentorly.emulator import publishable_key_for

    assert publishable_key_for(f"http://127.0.0.1:{EMULATOR_PORT}") == EMULATOR_PUBLISHABLE_KEY


def test_the_emulator_refuses_to_start_in_production(tmp_path, monkeypatch):
    import subprocess
    import sys

    from mentorly.emulator import ProductionRefused, create_emulator_app

    from .emulator import PROJECT_ROOT

    monkeypatch.setenv("MENTORLY_ENV", "production")
    with pytest.raises(ProductionRefused):
        create_emulator_app(tmp_path / "state")
    result = subprocess.run([sys.executable, "-m", "mentorly.emulator", "--port", "1", "--state-dir",
                             str(tmp_path / "state")], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "production" in result.stderr
    assert not (tmp_path / "state").exists()


def test_production_in_a_dotenv_file_also_stops_the_emulator(tmp_path, monkeypatch):
    from mentorly.emulator import ProductionRefused, refuse_production

    monkeypatch.delenv("MENTORLY_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    refuse_production()  # no .env: development
    (tmp_path / ".env").write_text("MENTORLY_ENV=production\n")
    with pytest.raises(ProductionRefused):
        refuse_production()
    refuse_production({"MENTORLY_ENV": "testing"})


def test_update_accepts_form_encoded_parameters_too(emulator):
    user = emulator.create_user()
    response = emulator.api("PATCH", f"/users/{user['id']}", data={"first_name": "Formed"})
    assert response.status_code == 200 and response.json()["first_name"] == "Formed"
