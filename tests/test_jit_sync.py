"""Just-in-time sync: a signed-in Clerk user with no row yet gets one from `GET /users/{id}`."""

from __future__ import annotations

import threading

import pytest
import requests
from flask import g
from sqlalchemy import func, select
from werkzeug.serving import make_server

from mentorly.auth.session import login_required
from mentorly.extensions import db
from mentorly.models import User


def add_probe(app):
    @login_required
    def whoami():
        return {"clerk_id": g.user.clerk_id, "email": g.user.email, "first_name": g.user.first_name}

    app.add_url_rule("/probe", "probe", whoami)


@pytest.fixture
def jit_app(make_app, emulator):
    """The app with Clerk's emulator, tokens checked against its JWKS, and a page that needs sign-in."""
    app = make_app(**emulator.app_config(jwks=True))
    add_probe(app)
    return app


def count_users(app, clerk_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(User.clerk_id == clerk_id))


def test_a_user_known_only_to_clerk_gets_a_row_at_first_sign_in(jit_app, emulator):
    emulator.set_webhooks(False)
    clerk_user = emulator.create_user(email="late@example.test", first_name="Late")
    token = emulator.sign_in(clerk_user["id"])
    assert count_users(jit_app, clerk_user["id"]) == 0

    client = jit_app.test_client()
    response = client.get("/probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"clerk_id": clerk_user["id"], "email": "late@example.test", "first_name": "Late"}
    assert count_users(jit_app, clerk_user["id"]) == 1


def test_clerk_down_during_just_in_time_sync_is_a_clear_503(jit_app, emulator):
    emulator.set_webhooks(False)
    clerk_user = emulator.create_user()
    token = emulator.sign_in(clerk_user["id"])
    emulator.fault("error", path=f"/v1/users/{clerk_user['id']}")
    response = jit_app.test_client().get("/probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert "Clerk had a problem" in response.get_data(as_text=True)
    assert count_users(jit_app, clerk_user["id"]) == 0

    # From htmx (a section link, a form): a toast, and the panel left as it is.
    emulator.fault("error", path=f"/v1/users/{clerk_user['id']}")
    response = jit_app.test_client().get(
        "/probe", headers={"Authorization": f"Bearer {token}", "HX-Request": "true"}
    )
    assert response.status_code == 503
    assert response.headers["HX-Reswap"] == "none"
    assert "Clerk had a problem" in response.headers["HX-Trigger"]


@pytest.mark.postgres
def test_two_first_requests_at_once_make_one_row(emulator, jit_app):
    emulator.set_webhooks(False)
    clerk_user = emulator.create_user()
    token = emulator.sign_in(clerk_user["id"])

    server = make_server("127.0.0.1", 0, jit_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/probe"
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def first_request():
        barrier.wait()
        answers.append(requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=20).status_code)

    try:
        workers = [threading.Thread(target=first_request) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [200] * 8
    assert count_users(jit_app, clerk_user["id"]) == 1
