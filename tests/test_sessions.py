"""Session tokens on cookie and Bearer: what signs a user in and what is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import g

from mentorly.auth.session import REFRESH_GUARD_COOKIE, login_required, safe_return_path
from mentorly.clerk import sessions
from mentorly.clerk.sessions import SessionTokenError, SessionVerifier, cookie_suffix, frontend_api_host
from mentorly.users import delete_user_from_db

from .conftest import TEST_JWT_KEY, TEST_SIGNING_KEY, clerk_user, make_session_token

pytestmark = pytest.mark.postgres

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def probe(app):
    """A protected view answering with the signed-in user's Clerk id."""

    @login_required
    def whoami():
        return {"clerk_id": g.user.clerk_id, "sid": g.claims["sid"]}

    app.add_url_rule("/probe", "probe", whoami)
    return app


@pytest.fixture
def user(app):
    from mentorly.users import sync_user_to_db

    with app.app_context():
        row = sync_user_to_db(clerk_user())
        return row.clerk_id


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict, payload: dict, signature: bytes = b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}"


def claims_for(sub: str, **overrides):
    now = int(time.time())
    claims = {"sub": sub, "sid": "sess_x", "iat": now, "nbf": now - 5, "exp": now + 60, "azp": "http://localhost"}
    claims.update(overrides)
    return claims


def get(client, token=None, *, bearer=False, cookie="__session", headers=None, client_uat=None):
    headers = dict(headers or {})
    if token and bearer:
        headers["Authorization"] = f"Bearer {token}"
    elif token:
        client.set_cookie(cookie, token)
    if client_uat is not None:
        client.set_cookie("__client_uat", str(client_uat))
    return client.get("/probe", headers=headers)


@pytest.mark.parametrize("bearer", [False, True], ids=["cookie", "bearer"])
def test_a_valid_token_signs_the_user_in(probe, client, user, bearer):
    response = get(client, make_session_token(user, sid="sess_valid"), bearer=bearer)
    assert response.status_code == 200
    assert response.get_json() == {"clerk_id": user, "sid": "sess_valid"}


def test_the_suffixed_cookie_is_read_and_preferred(probe, client, user):
    suffix = cookie_suffix(probe.config["CLERK_PUBLISHABLE_KEY"])
    client.set_cookie("__session", "not-a-token")
    response = get(client, make_session_token(user, sid="sess_suffixed"), cookie=f"__session_{suffix}")
    assert response.get_json()["sid"] == "sess_suffixed"


def test_clock_skew_within_five_seconds_is_allowed(probe, client, user):
    token = jwt.encode(claims_for(user, exp=int(time.time()) - 3), TEST_SIGNING_KEY, algorithm="RS256")
    assert get(client, token).status_code == 200


REFUSED = {
    "expired": lambda sub: jwt.encode(claims_for(sub, exp=int(time.time()) - 30), TEST_SIGNING_KEY, algorithm="RS256"),
    "not yet valid": lambda sub: jwt.encode(
        claims_for(sub, nbf=int(time.time()) + 60, iat=int(time.time()) + 60), TEST_SIGNING_KEY, algorithm="RS256"
    ),
    "another key": lambda sub: jwt.encode(claims_for(sub), OTHER_KEY, algorithm="RS256"),
    "alg none": lambda sub: forged({"alg": "none", "typ": "JWT"}, claims_for(sub)),
    "HS256 with the public key": lambda sub: (
        lambda header, payload: forged(
            header,
            payload,
            hmac.new(
                TEST_JWT_KEY.encode(),
                f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode(),
                hashlib.sha256,
            ).digest(),
        )
    )({"alg": "HS256", "typ": "JWT"}, claims_for(sub)),
    "pending session": lambda sub: jwt.encode(claims_for(sub, sts="pending"), TEST_SIGNING_KEY, algorithm="RS256"),
    "no sub": lambda sub: jwt.encode(
        {k: v for k, v in claims_for(sub).items() if k != "sub"}, TEST_SIGNING_KEY, algorithm="RS256"
    ),
    "garbage": lambda sub: "not.a.jwt",
}


@pytest.mark.parametrize("bearer", [False, True], ids=["cookie", "bearer"])
@pytest.mark.parametrize("kind", list(REFUSED))
def test_bad_tokens_are_refused(probe, client, user, kind, bearer):
    response = get(client, REFUSED[kind](user), bearer=bearer)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?redirect_url=")


def test_azp_is_checked_when_authorized_parties_are_set(probe, client, user):
    probe.config["CLERK_AUTHORIZED_PARTIES"] = ("https://mentorly.example",)
    assert get(client, make_session_token(user, azp="https://evil.example")).status_code == 302
    assert get(client, make_session_token(user, azp="https://mentorly.example/")).status_code == 200


def test_a_deleted_user_is_not_signed_in(probe, client, user):
    with probe.app_context():
        delete_user_from_db(user)
    assert get(client, make_session_token(user)).status_code == 302


def test_an_expired_token_with_client_uat_gets_the_refresh_page(probe, client, user):
    response = get(client, REFUSED["expired"](user), client_uat=int(time.time()))
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert 'data-clerk-action="refresh"' in page
    assert "/npm/@clerk/clerk-js@6/dist/clerk.browser.js" in page
    assert REFRESH_GUARD_COOKIE in response.headers["Set-Cookie"]

    # Back again still without a valid token: no second refresh page (no loop), sign in instead.
    again = client.get("/probe")
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/sign-in")


def test_signed_out_client_uat_zero_goes_to_sign_in(probe, client, user):
    response = get(client, REFUSED["expired"](user), client_uat=0)
    assert response.status_code == 302


def test_htmx_requests_get_401_with_refresh_or_redirect(probe, client, user):
    refresh = get(client, REFUSED["expired"](user), client_uat=int(time.time()), headers={"HX-Request": "true"})
    assert refresh.status_code == 401 and refresh.headers["HX-Refresh"] == "true"
    client.delete_cookie("__client_uat")
    client.delete_cookie("__session")
    redirect = client.get("/probe", headers={"HX-Request": "true"})
    assert redirect.status_code == 401
    assert redirect.headers["HX-Redirect"] == "/sign-in?redirect_url=%2Fprobe"


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/dashboard/settings/profile?x=1", "/dashboard/settings/profile?x=1"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/path", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("", "/dashboard"),
    ],
)
def test_return_paths_are_same_origin_only(target, expected):
    assert safe_return_path(target) == expected


def test_sign_in_page_loads_clerkjs_from_the_publishable_keys_host(app, client):
    app.config["CLERK_PUBLISHABLE_KEY"] = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"
    page = client.get("/sign-in?redirect_url=https://evil.example").get_data(as_text=True)
    assert 'src="https://clerk.example.com/npm/@clerk/ui@1/dist/ui.browser.js"' in page
    assert 'src="https://clerk.example.com/npm/@clerk/clerk-js@6/dist/clerk.browser.js"' in page
    assert 'data-clerk-publishable-key="pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"' in page
    assert 'data-return-to="/dashboard"' in page


def test_frontend_api_host_from_publishable_key():
    assert frontend_api_host("pk_test_Y2xlcmsuZXhhbXBsZS5jb20k") == "clerk.example.com"
    with pytest.raises(ValueError):
        frontend_api_host("pk_test_bm90LWEta2V5")


def test_the_first_token_fetches_the_jwks_on_a_host_booted_seconds_ago(monkeypatch):
    # time.monotonic() counts from boot on Linux: a few seconds on a freshly started machine.
    monkeypatch.setattr(sessions, "time", SimpleNamespace(monotonic=lambda: 5.0))
    jwks = {"keys": [dict(jwt.algorithms.RSAAlgorithm.to_jwk(TEST_SIGNING_KEY.public_key(), as_dict=True), kid="k1")]}
    verifier = SessionVerifier(jwt_key=None, fetch_jwks=lambda: jwks)
    token = jwt.encode(claims_for("user_1"), TEST_SIGNING_KEY, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(token)["sub"] == "user_1"


def test_jwks_is_cached_and_refetched_once_for_an_unknown_kid():
    fetches = []
    current = {"keys": [dict(jwt.algorithms.RSAAlgorithm.to_jwk(TEST_SIGNING_KEY.public_key(), as_dict=True), kid="k1")]}

    def fetch():
        fetches.append(1)
        return current

    verifier = SessionVerifier(jwt_key=None, fetch_jwks=fetch)
    token = jwt.encode(claims_for("user_1"), TEST_SIGNING_KEY, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(token)["sub"] == "user_1"
    assert verifier.verify(token)["sub"] == "user_1"
    assert len(fetches) == 1

    # A rotated key: the unknown kid triggers exactly one refetch, which finds it.
    current = {"keys": [dict(jwt.algorithms.RSAAlgorithm.to_jwk(OTHER_KEY.public_key(), as_dict=True), kid="k2")]}
    verifier._fetched_at -= 60  # past the refetch interval
    rotated = jwt.encode(claims_for("user_2"), OTHER_KEY, algorithm="RS256", headers={"kid": "k2"})
    assert verifier.verify(rotated)["sub"] == "user_2"
    assert len(fetches) == 2

    # A kid nobody published: refused, without hammering the JWKS endpoint again.
    stranger = jwt.encode(claims_for("user_3"), OTHER_KEY, algorithm="RS256", headers={"kid": "k3"})
    with pytest.raises(SessionTokenError):
        verifier.verify(stranger)
    assert len(fetches) == 2
