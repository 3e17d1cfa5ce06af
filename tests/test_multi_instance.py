"""Two app instances (two gunicorn masters) sharing one PostgreSQL: the same deliveries reach both,
interleaved and concurrently, and every svix-id takes effect exactly once."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
import requests
from svix.webhooks import Webhook

from .test_production import SIGNING_SECRET, GunicornServer, production_env
from .webhook_support import BASE_MS, clerk_user, deleted_event, event, session_event

USERS = 24
UPDATES = 3
DELETED = {3, 11, 17}


def deliveries() -> list[tuple[str, str]]:
    """(svix-id, body) for every message one Clerk instance would send, in sending order."""
    out = []
    for n in range(USERS):
        clerk_id = f"user_multi{n:03d}"
        for version in range(UPDATES + 1):
            user = clerk_user(clerk_id, email=f"multi{n}.v{version}@example.com", username=f"multi_{n}_v{version}",
                              first_name=f"V{version}", updated_at=BASE_MS + version * 1000)
            kind = "user.created" if version == 0 else "user.updated"
            out.append((f"msg_multi_{n}_{version}", json.dumps(event(kind, user))))
        out.append((f"msg_multi_{n}_session", json.dumps(session_event("session.created", clerk_id, BASE_MS + 90_000))))
        if n in DELETED:
            out.append((f"msg_multi_{n}_deleted", json.dumps(deleted_event(clerk_id))))
    return out


@pytest.mark.postgres
def test_two_instances_apply_each_delivery_exactly_once(postgres_url, tmp_path):
    env = production_env(postgres_url)
    messages = deliveries()
    signer = Webhook(SIGNING_SECRET)

    with GunicornServer(env, tmp_path, name="one", workers=1, threads=4) as one, \
            GunicornServer(env, tmp_path, name="two", workers=1, threads=4) as two:
        # Every message goes twice to each instance; the order is shuffled (Svix only roughly
        # keeps order) and the four copies of a message are in flight at the same time.
        rng = random.Random(7)
        order = list(messages)
        rng.shuffle(order)
        results: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        lock = threading.Lock()
        sessions = threading.local()

        def post(server: GunicornServer, svix_id: str, body: str, barrier: threading.Barrier) -> None:
            http = getattr(sessions, "http", None) or requests.Session()
            sessions.http = http
            now = datetime.now(UTC)
            headers = {"svix-id": svix_id, "svix-timestamp": str(int(now.timestamp())),
                       "svix-signature": signer.sign(svix_id, now, body), "content-type": "application/json"}
            barrier.wait(timeout=30)
            response = http.post(f"{server.url}/api/webhooks/clerk", data=body, headers=headers, timeout=30)
            status = response.json().get("status", "") if response.headers.get("content-type", "").startswith(
                "application/json") else ""
            with lock:
                results[svix_id].append((server.name, response.status_code, status))

        with ThreadPoolExecutor(max_workers=12) as pool:
            futures = []
            for start in range(0, len(order), 3):  # three messages at a time, four copies each
                batch = order[start:start + 3]
                for svix_id, body in batch:
                    barrier = threading.Barrier(4)
                    for server in (one, two, one, two):
                        futures.append(pool.submit(post, server, svix_id, body, barrier))
                for future in futures:
                    future.result()
                futures.clear()
        logs = one.log() + two.log()

    assert "Traceback" not in logs
    assert len(results) == len(messages)
    for svix_id, answers in results.items():
        assert len(answers) == 4 and all(code == 200 for _, code, _ in answers), (svix_id, answers)
        outcomes = Counter(status for _, _, status in answers)
        # Exactly one copy was processed (whatever its verdict); the other three were duplicates.
        assert outcomes["duplicate"] == 3, (svix_id, answers)
        assert {server for server, _, _ in answers} == {"one", "two"}
    processed_by = Counter(next(server for server, _, status in answers if status != "duplicate")
                           for answers in results.values())
    assert processed_by["one"] > 0 and processed_by["two"] > 0  # both instances did real work

    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin) as conn:
        recorded = conn.execute("SELECT svix_id, status FROM webhook_events").fetchall()
        users = {row[0]: row[1:] for row in conn.execute(
            "SELECT clerk_id, first_name, email, username, clerk_updated_at, deleted_at IS NOT NULL, last_active_at "
            "FROM users")}
    assert sorted(svix_id for svix_id, _ in recorded) == sorted(svix_id for svix_id, _ in messages)
    verdicts = {svix_id: status for svix_id, status in recorded}
    for svix_id, answers in results.items():
        answered = next(status for _, _, status in answers if status != "duplicate")
        assert verdicts[svix_id] == answered

    assert len(users) == USERS
    final_ms = BASE_MS + UPDATES * 1000
    for n in range(USERS):
        first_name, email, username, updated_ms, deleted, last_active = users[f"user_multi{n:03d}"]
        if n in DELETED:
            assert deleted and email is None and username is None and first_name is None
        else:
            assert not deleted
            assert (first_name, email, username, updated_ms) == (f"V{UPDATES}", f"multi{n}.v{UPDATES}@example.com",
                                                                 f"multi_{n}_v{UPDATES}", final_ms)
            # The newest version always applies (once); older ones arriving after it are stale.
            assert verdicts[f"msg_multi_{n}_{UPDATES}"] == "applied"
    assert Counter(verdicts.values())["applied"] >= USERS
