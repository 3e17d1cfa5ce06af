"""Session tokens and sessions as a real Clerk instance issues and ends them.

Against the emulator, which behaves as Clerk does here: it stamps session tokens with Clerk's
`cat` header, can mint other categories and malformed claims, issues pending sessions with a
task, sends `session.revoked` / `session.ended` webhooks, and pages `GET /sessions` by 10.
"""

from __future__ import annotations

import time

import pytest
from flask import g
from sqlalchemy import select

from mentorly.auth.session import login_required
from mentorly.clerk.client import ClerkClient, ClerkNotFound
from mentorly.extensions import db
from mentorly.models import EndedSession, User

from .conftest import Svix, csrf_token_in

pytestmark = pytest.mark.postgres


@pytest.fixture
def clerk_app(emulator, make_app):
    """The app on PostgreSQL, trusting the emulator's keys (JWKS) and receiving its webhooks."""
    app = make_app(**emulator.app_config(), CLERK_JWT_KEY=None)

    @login_required
    def whoami():
        return {"clerk_id": g.user.clerk_id, "sid": g.claims["sid"]}

    app.add_url_rule("/probe", "probe", whoami)
    return app


@pytest.fixture
def person(emulator, clerk_app):
    """A Clerk user with a row here, and an active session."""
    emulator.set_webhooks(False)
    user = emulator.create_user(email="ada@example.test", first_name="Ada")
    session = emulator.create_session(user["id"])
    client = clerk_app.test_client()
    assert client.get("/probe", headers={"Authorization": f"Bearer {session.token}"}).status_code == 200
    return user, session


def probe(app, token, **headers):
    return app.test_client().get("/probe", headers={"Authorization": f"Bearer {token}", **headers})


# --- 1. Only session tokens sign anyone in -------------------------------------------------------


@pytest.mark.parametrize("cat,signs_in", [
    ("cl_B7d4PD111AAA", True),   # a session token
    ("cl_I7d4PD111III", True),   # "ignore": stamped on every kind by some instances
    (None, True),                # minted before Clerk stamped categories
    ("cl_B7d4PD222AAA", False),  # a JWT template's token
    ("cl_B7d4PD333AAA", False),  # a machine token
])
def test_only_the_session_category_signs_in(clerk_app, emulator, person, cat, signs_in):
    _, session = person
    token = emulator.mint_token(session.id, header={"cat": cat})
    assert probe(clerk_app, token).status_code == (200 if signs_in else 302)


def test_a_token_without_sid_signs_no_one_in(clerk_app, emulator, person):
    _, session = person
    template_like = emulator.mint_token(session.id, claims={"sid": None})
    assert probe(clerk_app, template_like).status_code == 302


# --- 2. A claim of the wrong type is "not signed in", never a 500 ---------------------------------


@pytest.mark.parametrize("claim,value", [
    ("azp", 5), ("sts", 1), ("sub", 5), ("sid", {"id": "sess_x"}),
    ("fva", "ten"), ("fva", [1]), ("fva", [True, -1]), ("exp", "9999999999"), ("nbf", "1"), ("iat", 1.5),
])
def test_a_claim_of_the_wrong_type_is_not_signed_in(clerk_app, emulator, person, claim, value):
    _, session = person
    token = emulator.mint_token(session.id, claims={claim: value})
    response = probe(clerk_app, token)
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


# --- 3. `sub` is a Clerk user id, and only that ---------------------------------------------------


@pytest.mark.parametrize("sub", ["../users/{other}", "../sessions", "user_a/b", "user_", "sess_abc", "user_ä"])
def test_a_sub_that_is_not_a_user_id_signs_no_one_in(clerk_app, emulator, person, sub):
    _, session = person
    other = emulator.create_user(email="other@example.test")
    token = emulator.mint_token(session.id, claims={"sub": sub.format(other=other["id"])})
    assert probe(clerk_app, token).status_code == 302
    with clerk_app.app_context():
        assert db.session.scalar(select(User).where(User.clerk_id == other["id"])) is None


def test_the_client_quotes_ids_in_paths(emulator):
    client = ClerkClient(emulator.api_url, emulator.secret_key, "2026-05-12")
    user = emulator.create_user(email="quoted@example.test")
    assert client.get_user(user["id"])["id"] == user["id"]
    # Unquoted, "../sessions" would reach GET /sessions and answer a list of sessions.
    with pytest.raises(ClerkNotFound):
        client.get_user("../sessions")
    with pytest.raises(ClerkNotFound):
        client.get_user(f"{user['id']}/../{user['id']}")


# --- 4. Pending sessions ----------------------------------------------------------------------------


def test_a_pending_session_goes_to_sign_in_not_round_the_refresh_page(clerk_app, emulator):
    emulator.set_webhooks(False)
    user = emulator.create_user(email="mfa@example.test")
    session = emulator.create_session(user["id"], task="setup-mfa")
    assert session.session["status"] == "pending"
    client = clerk_app.test_client()
    client.set_cookie("__session", session.token)
    client.set_cookie("__client_uat", str(int(time.time())))  # the browser's Clerk client is signed in

    page = client.get("/dashboard")
    assert page.status_code == 302 and page.headers["Location"].startswith("/sign-in")
    fragment = client.get("/dashboard/settings/profile", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/sign-in")
    sign_in = client.get(page.headers["Location"])
    assert sign_in.status_code == 200 and 'data-clerk-action="sign-in"' in sign_in.get_data(as_text=True)


# --- 5. Sign-out always ends the session at Clerk ----------------------------------------------------


def test_sign_out_with_an_expired_token_still_ends_the_session_at_clerk(clerk_app, emulator, person):
    user, session = person
    expired = emulator.mint_token(session.id, iat=int(time.time()) - 120, exp=int(time.time()) - 60)
    client = clerk_app.test_client()
    client.set_cookie("__session", expired)
    client.set_cookie("__client_uat", str(int(time.time()) - 100))
    page = client.get("/")  # a CSRF token for the form
    token = csrf_token_in(page.get_data(as_text=True))

    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert emulator.api("GET", f"/sessions/{session.id}").json()["status"] == "revoked"
    cookies = response.headers.getlist("Set-Cookie")
    assert not [c for c in cookies if c.startswith("__client_uat")], "Clerk owns __client_uat"
    assert [c for c in cookies if c.startswith("__session=;")]
    # A still-valid token of that session signs no one in any more.
    assert probe(clerk_app, emulator.mint_token(session.id)).status_code == 302


def test_sign_out_with_a_forged_token_revokes_nothing(clerk_app, emulator, person):
    _, session = person
    client = clerk_app.test_client()
    client.set_cookie("__session", emulator.mint_token(session.id)[:-4] + "AAAA")
    page = client.get("/")
    token = csrf_token_in(page.get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert emulator.api("GET", f"/sessions/{session.id}").json()["status"] == "active"


# --- 6. A revoked session stops working at once ------------------------------------------------------


@pytest.mark.parametrize("status", ["revoked", "ended", "removed"])
def test_a_session_ended_elsewhere_is_refused_before_its_token_expires(clerk_app, emulator, person, status):
    _, session = person
    token = emulator.mint_token(session.id, lifetime=600)
    assert probe(clerk_app, token).status_code == 200

    ended = emulator.end_session(session.id, status)
    # The event as Clerk sends it (its shape is checked against Clerk's schema elsewhere).
    answer = Svix(emulator.webhook_secret).post(
        clerk_app.test_client(), {"object": "event", "type": f"session.{status}", "data": ended})
    assert answer.get_json() == {"status": "applied"}

    assert probe(clerk_app, token).status_code == 302
    with clerk_app.app_context():
        assert db.session.get(EndedSession, session.id).status == status


# --- 7. Every active session is listed ----------------------------------------------------------------


def test_every_active_session_is_listed_past_clerks_default_page(clerk_app, emulator, person):
    user, current = person
    others = [emulator.create_session(user["id"]) for _ in range(11)]
    assert len(emulator.api("GET", "/sessions", params={"user_id": user["id"]}).json()) == 10  # Clerk's default
    client = ClerkClient(emulator.api_url, emulator.secret_key, "2026-05-12")
    listed = {s["id"] for s in client.list_sessions(user["id"])}
    assert listed == {current.id, *(s.id for s in others)}

    with clerk_app.app_context():
        db.session.execute(User.__table__.update().values(is_onboarded=True))
        db.session.commit()
    browser = clerk_app.test_client()
    browser.set_cookie("__session", current.token)
    page = browser.get("/dashboard/settings/security").get_data(as_text=True)
    for session in others:
        assert session.id in page


def test_an_answer_about_another_user_is_refused_not_used():
    """A proxy (or anything between us and Clerk) that answers for a different id than the one
    asked for: the client refuses the answer rather than sign in or store the wrong person."""
    import threading

    from flask import Flask, jsonify
    from werkzeug.serving import make_server

    from mentorly.clerk.client import ClerkUnavailable

    confused = Flask("confused_proxy")

    @confused.get("/v1/users/<user_id>")
    def someone_else(user_id: str):
        return jsonify(object="user", id="user_somebodyelse", first_name="Mallory")

    server = make_server("127.0.0.1", 0, confused, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = ClerkClient(f"http://127.0.0.1:{server.server_port}/v1", "sk_test_x", "2026-05-12")
        with pytest.raises(ClerkUnavailable, match="another object"):
            client.get_user("user_asked")
    finally:
        server.shutdown()
        server.server_close()
