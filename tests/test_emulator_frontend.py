"""Session tokens, the sign-in and account pages, and the endpoints the ClerkJS stand-in calls."""

from __future__ import annotations

import time
from http.cookiejar import Cookie

import jwt
import pytest
import requests

APP = "http://127.0.0.1:5000"
CHROME_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/131.0.0.0 Safari/537.36")


def verify_token(emulator, token: str, **options) -> dict:
    jwks = jwt.PyJWKClient(f"{emulator.api_url}/jwks")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False}, **options)


def browser() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = CHROME_UA
    return session


def set_cookie_headers(response: requests.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name (requests folds them, so read the raw headers)."""
    return {value.split("=", 1)[0]: value for value in response.raw.headers.getlist("Set-Cookie")}


def sign_up(emulator, http: requests.Session, redirect_url: str = f"{APP}/dashboard", **fields) -> requests.Response:
    form = {"action": "create", "email": f"u{time.time_ns()}@example.test", "first_name": "Grace",
            "last_name": "Hopper", "username": "", "redirect_url": redirect_url, **fields}
    return http.post(f"{emulator.url}/sign-in", data=form, allow_redirects=False)


# --- tokens -----------------------------------------------------------------------------------


def test_session_tokens_are_rs256_v2_tokens_the_jwks_verifies(emulator):
    user = emulator.create_user()
    session = emulator.create_session(user["id"])
    header = jwt.get_unverified_header(session.token)
    jwks = emulator.api("GET", "/jwks").json()
    assert header["alg"] == "RS256" and header["kid"] == jwks["keys"][0]["kid"]
    claims = verify_token(emulator, session.token)
    assert (claims["sub"], claims["sid"], claims["iss"], claims["azp"], claims["v"]) == (
        user["id"], session.id, emulator.url, APP, 2)
    assert claims["exp"] - claims["iat"] == 60 and claims["nbf"] <= claims["iat"]
    assert abs(claims["iat"] - time.time()) < 30 and claims["jti"]
    other = emulator.create_session(user["id"])
    assert verify_token(emulator, other.token)["jti"] != claims["jti"]


def test_tokens_can_be_minted_with_a_custom_lifetime_expiry_and_claims(emulator):
    user = emulator.create_user()
    session = emulator.create_session(user["id"], lifetime=5)
    claims = verify_token(emulator, session.token)
    assert claims["exp"] - claims["iat"] == 5
    expired = emulator.mint_token(session.id, exp=int(time.time()) - 60, iat=int(time.time()) - 120)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(emulator, expired)
    pending = verify_token(emulator, emulator.mint_token(session.id, claims={"sts": "pending", "v": None}))
    assert pending["sts"] == "pending" and "v" not in pending
    other_party = verify_token(emulator, emulator.mint_token(session.id, azp="https://evil.example"))
    assert other_party["azp"] == "https://evil.example"
    emulator.settings(token_lifetime=7)
    fresh = verify_token(emulator, emulator.create_session(user["id"]).token)
    assert fresh["exp"] - fresh["iat"] == 7


def test_a_token_from_another_key_is_not_verified_by_the_jwks(emulator, emulator_factory):
    other = emulator_factory()
    user = other.create_user()
    foreign = other.create_session(user["id"]).token
    with pytest.raises(jwt.PyJWTError):
        verify_token(emulator, foreign)


# --- the sign-in page -------------------------------------------------------------------------


def test_the_sign_in_page_offers_create_and_pick(emulator):
    emulator.create_user(first_name="Existing", last_name="Person", email="existing@example.test")
    page = requests.get(f"{emulator.url}/sign-in", params={"redirect_url": f"{APP}/dashboard"}, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for text in ("Create an account", "Email address", "First name", "Last name", "Username",
                 "Existing Person", "existing@example.test", f"{APP}/dashboard"):
        assert text in page.text


def test_signing_up_creates_user_and_session_sets_cookies_and_redirects(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    http = browser()
    response = sign_up(emulator, http, username="Grace_H")
    assert response.status_code == 303 and response.headers["Location"] == f"{APP}/dashboard"
    cookies = set_cookie_headers(response)
    assert "HttpOnly" not in cookies["__session"], "ClerkJS must be able to read __session"
    assert "HttpOnly" in cookies["__client"] and "Max-Age=31536000" in cookies["__client"]
    for name in ("__session", "__client_uat", "__client"):
        assert "Path=/" in cookies[name] and "SameSite=Lax" in cookies[name] and "Domain" not in cookies[name]
    assert abs(int(http.cookies["__client_uat"]) - time.time()) < 30
    claims = verify_token(emulator, http.cookies["__session"])
    user = emulator.api("GET", f"/users/{claims['sub']}").json()
    assert (user["first_name"], user["username"], user["last_sign_in_at"] is not None) == ("Grace", "grace_h", True)
    session = emulator.api("GET", f"/sessions/{claims['sid']}").json()
    assert session["status"] == "active" and session["latest_activity"]["browser_name"] == "Chrome"
    assert [d["type"] for d in emulator.sent_webhooks()] == ["user.created", "session.created"]
    assert [h.json["type"] for h in webhook_receiver.accepted()] == ["user.created", "session.created"]


def test_picking_an_existing_user_signs_them_in(emulator):
    user = emulator.create_user(first_name="Picked")
    http = browser()
    response = http.post(f"{emulator.url}/sign-in", allow_redirects=False,
                         data={"action": "pick", "user_id": user["id"], "redirect_url": f"{APP}/settings"})
    assert response.status_code == 303 and response.headers["Location"] == f"{APP}/settings"
    assert verify_token(emulator, http.cookies["__session"])["sub"] == user["id"]
    assert "You are signed in as" in http.get(f"{emulator.url}/sign-in", timeout=5).text
    missing = http.post(f"{emulator.url}/sign-in", data={"action": "pick", "user_id": "user_gone"},
                        allow_redirects=False)
    assert missing.status_code == 422


def test_sign_up_errors_come_back_on_the_page(emulator):
    emulator.create_user(email="dup@example.test", username="dupe")
    http = browser()
    taken = sign_up(emulator, http, email="dup@example.test", username="DUPE")
    assert taken.status_code == 422
    assert "That email address is taken" in taken.text and "That username is taken" in taken.text
    assert 'value="DUPE"' in taken.text, "the input is kept"
    short = sign_up(emulator, http, username="ab")
    assert short.status_code == 422 and "between 4 and 64" in short.text
    assert sign_up(emulator, http, email="").status_code == 422
    assert "__session" not in http.cookies
    assert emulator.api("GET", "/users/count").json()["total_count"] == 1


@pytest.mark.parametrize("target,expected", [
    (f"{APP}/onboarding?step=2", f"{APP}/onboarding?step=2"),
    ("/dashboard/settings", f"{APP}/dashboard/settings"),
    ("https://evil.example/steal", f"{APP}/"),
    ("//evil.example/steal", f"{APP}/"),
    ("javascript:alert(1)", f"{APP}/"),
    ("http://127.0.0.1:5001/sign-in", f"{APP}/"),
    ("http://127.0.0.1:5000.evil.example/", f"{APP}/"),
    ("", f"{APP}/"),
])
def test_redirects_go_only_to_the_app(emulator, target, expected):
    user = emulator.create_user()
    response = browser().post(f"{emulator.url}/sign-in", allow_redirects=False,
                              data={"action": "pick", "user_id": user["id"], "redirect_url": target})
    assert response.headers["Location"] == expected


def test_form_posts_from_other_origins_are_refused(emulator):
    user = emulator.create_user()
    response = browser().post(f"{emulator.url}/sign-in", headers={"Origin": "https://evil.example"},
                              data={"action": "pick", "user_id": user["id"]}, allow_redirects=False)
    assert response.status_code == 403


# --- the endpoints ClerkJS calls --------------------------------------------------------------


def test_client_endpoint_reports_the_signed_in_session_with_cors_for_the_app_only(emulator):
    http = browser()
    empty = http.get(f"{emulator.url}/v1/client", headers={"Origin": APP}, timeout=5)
    assert empty.json()["response"] is None and empty.json()["client_uat"] == 0
    sign_up(emulator, http)
    answer = http.get(f"{emulator.url}/v1/client", headers={"Origin": APP}, timeout=5)
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    client = answer.json()["response"]
    (session,) = client["sessions"]
    assert client["last_active_session_id"] == session["id"] and session["user"]["first_name"] == "Grace"
    foreign = http.get(f"{emulator.url}/v1/client", headers={"Origin": "https://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    preflight = http.options(f"{emulator.url}/v1/client/sessions/{session['id']}/tokens",
                             headers={"Origin": APP, "Access-Control-Request-Method": "POST"}, timeout=5)
    assert preflight.status_code in (200, 204) and preflight.headers["Access-Control-Allow-Origin"] == APP


def test_token_endpoint_gives_fresh_tokens_to_the_owning_client_only(emulator):
    http = browser()
    sign_up(emulator, http)
    first = verify_token(emulator, http.cookies["__session"])
    time.sleep(1.1)
    answer = http.post(f"{emulator.url}/v1/client/sessions/{first['sid']}/tokens", headers={"Origin": APP}, timeout=5)
    assert answer.status_code == 200 and answer.json()["object"] == "token"
    fresh = verify_token(emulator, answer.json()["jwt"])
    assert (fresh["sid"], fresh["sub"], fresh["azp"]) == (first["sid"], first["sub"], APP)
    assert fresh["iat"] > first["iat"] and fresh["exp"] - fresh["iat"] == 60
    stranger = browser()
    refused = stranger.post(f"{emulator.url}/v1/client/sessions/{first['sid']}/tokens", timeout=5)
    assert refused.status_code == 404


def test_signing_out_ends_the_session_clears_cookies_and_sends_session_ended(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    http = browser()
    sign_up(emulator, http)
    sid = verify_token(emulator, http.cookies["__session"])["sid"]
    ended = http.post(f"{emulator.url}/v1/client/sessions/{sid}/end", headers={"Origin": APP}, timeout=5)
    assert ended.status_code == 200 and ended.json()["response"]["status"] == "ended"
    assert "__session" not in http.cookies and http.cookies["__client_uat"] == "0"
    assert emulator.api("GET", f"/sessions/{sid}").json()["status"] == "ended"
    assert [d["type"] for d in emulator.sent_webhooks()][-1] == "session.ended"
    refused = http.post(f"{emulator.url}/v1/client/sessions/{sid}/tokens", timeout=5)
    assert refused.status_code == 401
    assert http.get(f"{emulator.url}/v1/client", timeout=5).json()["response"]["sessions"] == []


def test_the_sign_out_page_redirects_safely(emulator):
    http = browser()
    sign_up(emulator, http)
    response = http.get(f"{emulator.url}/sign-out", params={"redirect_url": "https://evil.example/"},
                        allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == f"{APP}/"
    assert http.cookies["__client_uat"] == "0"


def test_an_expired_or_revoked_session_is_not_signed_in(emulator):
    http = browser()
    sign_up(emulator, http)
    sid = verify_token(emulator, http.cookies["__session"])["sid"]
    emulator.api("POST", f"/sessions/{sid}/revoke")
    assert http.get(f"{emulator.url}/v1/client", timeout=5).json()["response"]["last_active_session_id"] is None
    assert http.post(f"{emulator.url}/v1/client/sessions/{sid}/tokens", timeout=5).status_code == 401


# --- the account page -------------------------------------------------------------------------


def test_the_account_page_toggles_security_and_connected_accounts(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    http = browser()
    sign_up(emulator, http)
    user_id = verify_token(emulator, http.cookies["__session"])["sub"]
    page = http.get(f"{emulator.url}/user", params={"redirect_url": f"{APP}/dashboard/settings/security"}, timeout=5)
    assert page.status_code == 200 and "Grace Hopper" in page.text and "Connect GitHub" in page.text
    assert f"{APP}/dashboard/settings/security" in page.text
    for action, extra in (("toggle_password", {}), ("toggle_two_factor", {}),
                          ("connect", {"provider": "oauth_github"})):
        answer = http.post(f"{emulator.url}/user", data={"action": action, **extra}, allow_redirects=False)
        assert answer.status_code == 303
    user = emulator.api("GET", f"/users/{user_id}").json()
    assert user["password_enabled"] is False and user["two_factor_enabled"] is True
    assert [a["provider"] for a in user["external_accounts"]] == ["oauth_github"]
    assert "Disconnect GitHub" in http.get(f"{emulator.url}/user", timeout=5).text
    http.post(f"{emulator.url}/user", data={"action": "disconnect", "provider": "oauth_github"})
    assert emulator.api("GET", f"/users/{user_id}").json()["external_accounts"] == []
    emulator.wait_for_webhooks()  # the last change's delivery may still be on its way
    updates = [h.json for h in webhook_receiver.accepted() if h.json["type"] == "user.updated"]
    assert [(u["data"]["password_enabled"], u["data"]["two_factor_enabled"], len(u["data"]["external_accounts"]))
            for u in updates] == [(False, False, 0), (False, True, 0), (False, True, 1), (False, True, 0)]


def test_the_account_page_without_a_session_offers_sign_in(emulator):
    page = requests.get(f"{emulator.url}/user", timeout=5)
    assert page.status_code == 200 and "You are not signed in" in page.text
    assert requests.post(f"{emulator.url}/user", data={"action": "toggle_password"}, timeout=5).status_code == 401


# --- the ClerkJS stand-in ---------------------------------------------------------------------


@pytest.mark.parametrize("path,needles", [
    ("/npm/@clerk/clerk-js@6/dist/clerk.browser.js",
     ["window.Clerk", "load:", "getToken", "mountSignIn", "signOut", "openUserProfile", "mountUserProfile",
      'credentials: "include"', "__client_uat"]),
    ("/npm/@clerk/ui@1/dist/ui.browser.js", ["window.__internal_ClerkUICtor"]),
])
def test_the_scripts_are_served_where_the_publishable_key_points(emulator, path, needles):
    import base64

    host = base64.b64decode(emulator.publishable_key.removeprefix("pk_test_") + "==").decode().rstrip("$")
    response = requests.get(f"http://{host}{path}", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    for needle in needles:
        assert needle in response.text


def test_cookie_jar_sees_emulator_cookies_on_any_port_of_the_host(emulator):
    """Cookies ignore ports: what the emulator sets on 127.0.0.1 goes to the app on 127.0.0.1 too."""
    http = browser()
    sign_up(emulator, http)
    cookie: Cookie = next(c for c in http.cookies if c.name == "__session")
    assert cookie.domain in ("127.0.0.1", "127.0.0.1.local") and cookie.path == "/"
    prepared = requests.Request("GET", f"{APP}/dashboard").prepare()
    prepared.prepare_cookies(http.cookies)
    assert "__session=" in prepared.headers["Cookie"]


def test_signing_in_again_in_the_same_browser_ends_the_previous_session(emulator):
    first_user = emulator.create_user()
    second_user = emulator.create_user()
    http = browser()
    http.post(f"{emulator.url}/sign-in", data={"action": "pick", "user_id": first_user["id"]}, allow_redirects=False)
    first = verify_token(emulator, http.cookies["__session"])
    http.post(f"{emulator.url}/sign-in", data={"action": "pick", "user_id": second_user["id"]}, allow_redirects=False)
    second = verify_token(emulator, http.cookies["__session"])
    assert second["sub"] == second_user["id"] and second["sid"] != first["sid"]
    assert emulator.api("GET", f"/sessions/{first['sid']}").json()["status"] == "ended"
    assert http.get(f"{emulator.url}/v1/client", timeout=5).json()["response"]["last_active_session_id"] == second["sid"]
