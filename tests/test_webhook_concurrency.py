"""Repeated and simultaneous deliveries: one record per svix-id, one effect.

The concurrent tests run the app in a real threaded HTTP server on PostgreSQL. A gate in front
of the view holds every request until all of them have arrived, so they really do reach the
database at the same moment.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy import update
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import sync_user_to_db

from .webhook_support import BASE_MS, all_events, all_users, clerk_user, event, event_row, user_row

N = 10


def test_the_same_delivery_ten_times_in_a_row(app, client, svix):
    delivery = event("user.created", clerk_user("user_rep", email="rep@example.org", first_name="Original"))
    first = svix.post(client, delivery, msg_id="msg_repeat")
    assert first.get_json() == {"status": "applied"}
    # Change the row behind the webhook's back: a second application would overwrite this.
    with app.app_context():
        db.session.execute(update(User).where(User.clerk_id == "user_rep").values(first_name="Local"))
        db.session.commit()
    before = user_row(app, "user_rep")
    for _ in range(N - 1):
        response = svix.post(client, delivery, msg_id="msg_repeat")
        assert response.status_code == 200
        assert response.get_json() == {"status": "duplicate"}
    after = user_row(app, "user_rep")
    assert (after.first_name, after.updated_at) == ("Local", before.updated_at)
    [record] = all_events(app)
    assert (record.svix_id, record.status) == ("msg_repeat", "applied")
    assert len(all_users(app)) == 1


def test_retries_of_a_failed_delivery_stay_one_failure(app, client, svix):
    delivery = {"type": "user.created", "data": {"id": "user_broken"}}
    outcomes = [svix.post(client, delivery, msg_id="msg_broken").get_json()["status"] for _ in range(N)]
    assert outcomes == ["failed"] + ["duplicate"] * (N - 1)
    [record] = all_events(app)
    assert record.status == "failed"
    assert all_users(app) == []


# --- At once, over real HTTP, on PostgreSQL ----------------------------------------------------


@contextmanager
def serving(app, gate_size: int):
    """The app in a threaded HTTP server; the first `gate_size` requests wait for each other."""
    gate = threading.Barrier(gate_size, timeout=20)
    in_flight = {"now": 0, "max": 0, "seen": 0}
    lock = threading.Lock()

    @app.before_request
    def wait_for_everyone():
        with lock:
            in_flight["now"] += 1
            in_flight["seen"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            gated = in_flight["seen"] <= gate_size  # the first batch only; retries go straight in
        if gated:
            gate.wait()

    @app.teardown_request
    def leave(_exc):
        with lock:
            in_flight["now"] -= 1

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/webhooks/clerk", in_flight
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def post_all_at_once(url: str, requests_to_send: list[tuple[str, dict[str, str]]]) -> list[requests.Response]:
    start = threading.Barrier(len(requests_to_send), timeout=20)
    responses: list[Any] = [None] * len(requests_to_send)

    def send(index: int, body: str, headers: dict[str, str]) -> None:
        with requests.Session() as session:
            start.wait()
            try:
                responses[index] = session.post(url, data=body.encode(), headers=headers, timeout=30)
            except requests.RequestException as exc:  # reported by the assertion below
                responses[index] = exc

    threads = [threading.Thread(target=send, args=(i, body, headers)) for i, (body, headers) in enumerate(requests_to_send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, requests.Response) for r in responses), responses
    return responses


@pytest.mark.postgres
def test_the_same_delivery_ten_times_at_once(app, svix):
    body = json.dumps(event("user.created", clerk_user("user_race", email="race@example.org", username="racer")))
    headers = svix.headers(body, "msg_race")
    with serving(app, N) as (url, in_flight):
        responses = post_all_at_once(url, [(body, headers)] * N)
    assert in_flight["max"] == N, "the requests did not overlap"
    assert [r.status_code for r in responses] == [200] * N, [r.text for r in responses]
    outcomes = sorted(r.json()["status"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * (N - 1)
    [record] = all_events(app)
    assert (record.svix_id, record.status) == ("msg_race", "applied")
    [user] = all_users(app)
    assert (user.clerk_id, user.email, user.username) == ("user_race", "race@example.org", "racer")


@pytest.mark.postgres
def test_ten_different_deliveries_creating_one_user_at_once(app, svix):
    body = json.dumps(event("user.created", clerk_user("user_many", email="many@example.org")))
    batch = [(body, svix.headers(body, f"msg_many_{i}")) for i in range(N)]
    with serving(app, N) as (url, in_flight):
        responses = post_all_at_once(url, batch)
    assert in_flight["max"] == N
    assert [r.status_code for r in responses] == [200] * N, [r.text for r in responses]
    assert {r.json()["status"] for r in responses} == {"applied"}
    assert len(all_users(app)) == 1
    assert sorted(e.svix_id for e in all_events(app)) == sorted(f"msg_many_{i}" for i in range(N))


@pytest.mark.postgres
def test_concurrent_updates_of_one_user_settle_on_the_newest(app, svix):
    versions = [clerk_user("user_vers", username=f"v{i}", updated_at=BASE_MS + i) for i in range(N)]
    batch = []
    for i, data in enumerate(versions):
        body = json.dumps(event("user.created" if i == 0 else "user.updated", data))
        batch.append((body, svix.headers(body, f"msg_v{i}")))
    with serving(app, N) as (url, _):
        responses = post_all_at_once(url, batch)
    assert [r.status_code for r in responses] == [200] * N, [r.text for r in responses]
    assert responses[-1].json()["status"] == "applied"  # the newest always applies
    assert {r.json()["status"] for r in responses} <= {"applied", "stale"}
    user = user_row(app, "user_vers")
    assert (user.username, user.clerk_updated_at) == (f"v{N - 1}", BASE_MS + N - 1)
    assert len(all_events(app)) == N


@pytest.mark.postgres
def test_concurrent_new_users_claiming_one_email_settle_after_retries(app, svix):
    # Clerk would not say this at one instant, but an outage backlog can replay it that way.
    # Each delivery either applies, or (if another took the address between its hand-over and
    # its commit) is answered 503 with nothing written, and Svix's retry then applies it.
    batch = []
    for i in range(N):
        body = json.dumps(event("user.created", clerk_user(f"user_claim_{i}", email="Claimed@example.org", username="claimed")))
        batch.append((body, svix.headers(body, f"msg_claim_{i}")))
    with serving(app, N) as (url, _):
        responses = post_all_at_once(url, batch)
        assert {r.status_code for r in responses} <= {200, 503}, [r.text for r in responses]
        retried = [i for i, r in enumerate(responses) if r.status_code == 503]
        for i in retried:
            assert event_row(app, f"msg_claim_{i}") is None
            body, _ = batch[i]
            again = requests.post(url, data=body.encode(), headers=svix.headers(body, f"msg_claim_{i}"), timeout=30)
            assert again.status_code == 200 and again.json() == {"status": "applied"}
    assert [event_row(app, f"msg_claim_{i}").status for i in range(N)] == ["applied"] * N
    users = all_users(app)
    assert len(users) == N
    assert len([u for u in users if u.email is not None]) == 1
    assert len([u for u in users if u.username is not None]) == 1


@pytest.mark.postgres
def test_a_released_email_and_its_new_owner_at_once(app, svix):
    """A changes x -> z while B signs up with x: both apply, whichever commits first."""
    with app.app_context():  # no request yet: the gate is added before the first one
        sync_user_to_db(clerk_user("user_a", email="x@example.org", updated_at=BASE_MS))
    bodies = [
        json.dumps(event("user.updated", clerk_user("user_a", email="z@example.org", updated_at=BASE_MS + 1))),
        json.dumps(event("user.created", clerk_user("user_b", email="x@example.org", updated_at=BASE_MS + 1))),
    ]
    batch = [(body, svix.headers(body, f"msg_pair_{i}")) for i, body in enumerate(bodies)]
    with serving(app, 2) as (url, in_flight):
        responses = post_all_at_once(url, batch)
    assert in_flight["max"] == 2
    assert [r.json() for r in responses] == [{"status": "applied"}] * 2
    assert (user_row(app, "user_a").email, user_row(app, "user_b").email) == ("z@example.org", "x@example.org")


@pytest.mark.postgres
def test_a_delivery_behind_an_uncommitted_record_of_its_id_keeps_nothing_of_its_own(app, postgres_url, svix):
    """On PostgreSQL a user event is one statement; behind a concurrent claim it fails whole.

    Another transaction holds an uncommitted record of the same svix-id. The delivery's
    statement waits on the unique index; once that record commits, the statement fails, its
    upsert goes with it, and the delivery is answered `duplicate`.
    """
    conninfo = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    delivery = event("user.created", clerk_user("user_held", email="held@example.org"))
    answers: list[Any] = []
    with psycopg.connect(conninfo) as holder, psycopg.connect(conninfo, autocommit=True) as observer:
        holder.execute(
            "INSERT INTO webhook_events (svix_id, type, status) VALUES ('msg_held', 'user.created', 'applied')"
        )
        client = app.test_client()
        sender = threading.Thread(target=lambda: answers.append(svix.post(client, delivery, msg_id="msg_held")))
        sender.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 20
        while observer.execute(waiting).fetchone()[0] == 0:
            assert time.monotonic() < deadline, "the delivery never waited on the held record"
            time.sleep(0.02)
        holder.commit()
        sender.join(timeout=20)
    [response] = answers
    assert response.status_code == 200
    assert response.get_json() == {"status": "duplicate"}
    assert all_users(app) == []
    [record] = all_events(app)
    assert (record.svix_id, record.clerk_id) == ("msg_held", None)
