"""The database goes away: 503 and nothing written; when it is back, Svix's retry applies.

A small TCP forwarder sits between the app and PostgreSQL. Closing it drops every open
connection and refuses new ones, exactly as a restarting or unreachable server would.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from mentorly import create_app
from mentorly.extensions import db
from mentorly.models import User, WebhookEvent

from .conftest import base_config, dispose
from .webhook_support import BASE_MS, all_events, all_users, clerk_user, event, event_row, user_row


class Forwarder:
    """127.0.0.1:<port> -> PostgreSQL, which can be cut and restored on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._accepting: threading.Thread | None = None
        # When set, the first client message containing these bytes is not forwarded: every
        # connection is cut instead (the server never sees the statement).
        self.cut_before: bytes | None = None
        # When set, the first client message containing these bytes is forwarded, and every
        # connection is cut before the server's answer can come back.
        self.cut_after: bytes | None = None
        self.was_cut = threading.Event()

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopped.clear()
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def close(self) -> None:
        """Refuse new connections and cut every open one."""
        self._stopped.set()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink, watch in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, watch), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if watch and self.cut_before is not None and self.cut_before in chunk:
                    self.cut_before = None
                    self.was_cut.set()
                    self.close()  # before the app hears anything back: it is down from here
                    return
                if watch and self.cut_after is not None and self.cut_after in chunk:
                    self.cut_after = None
                    with self._lock:  # keep this one server connection open a moment longer
                        self._sockets.discard(sink)
                    self.was_cut.set()
                    self.close()  # the app hears nothing back from here
                    sink.sendall(chunk)
                    time.sleep(0.2)  # the server may finish the statement or notice first
                    sink.close()
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def forwarder(postgres_url):
    url = make_url(postgres_url)
    proxy = Forwarder(url.host or "127.0.0.1", url.port or 5432)
    proxy.open()
    yield proxy
    proxy.close()


@pytest.fixture
def outage_app(postgres_url, forwarder):
    # Plain text on the wire, so the forwarder can see which statement it is carrying.
    url = make_url(postgres_url).set(host="127.0.0.1", port=forwarder.port).update_query_dict({"sslmode": "disable"})
    app = create_app(base_config(url.render_as_string(hide_password=False)))
    yield app
    dispose(app)


def delivery(clerk_id: str = "user_outage") -> dict:
    return event("user.created", clerk_user(clerk_id, email="outage@example.org", username="outage"))


def test_database_unreachable_gives_503_then_the_retry_applies(outage_app, forwarder, svix, caplog):
    client = outage_app.test_client()
    forwarder.close()
    logger = logging.getLogger("mentorly")
    logger.addHandler(caplog.handler)
    try:
        for _ in range(2):  # Svix retries immediately, then after 5 seconds
            caplog.clear()
            response = svix.post(client, delivery(), msg_id="msg_outage")
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.headers["Retry-After"]
            assert "retry" in response.get_json()["error"]
            [line] = [r.getMessage() for r in caplog.records if r.name == "mentorly.webhooks"]
            for part in ("type='user.created'", "svix_id=msg_outage", "clerk_id=user_outage", "outcome=retry-later", "ms="):
                assert part in line
            assert "@" not in line
    finally:
        logger.removeHandler(caplog.handler)
    forwarder.open()
    assert all_users(outage_app) == [] and all_events(outage_app) == []

    response = svix.post(client, delivery(), msg_id="msg_outage")
    assert response.status_code == 200
    assert response.get_json() == {"status": "applied"}
    user = user_row(outage_app, "user_outage")
    assert (user.email, user.username) == ("outage@example.org", "outage")
    assert event_row(outage_app, "msg_outage").status == "applied"


def test_a_server_restart_between_deliveries_is_invisible(outage_app, forwarder, svix):
    client = outage_app.test_client()
    assert svix.post(client, delivery("user_before"), msg_id="msg_before").status_code == 200
    forwarder.close()  # pooled connections die
    forwarder.open()
    response = svix.post(client, event("user.created", clerk_user("user_after")), msg_id="msg_after")
    assert response.status_code == 200
    assert response.get_json() == {"status": "applied"}
    assert {u.clerk_id for u in all_users(outage_app)} == {"user_before", "user_after"}


def deletion(clerk_id: str = "user_outage") -> dict:
    return event("user.deleted", {"object": "user", "id": clerk_id, "deleted": True}, BASE_MS)


@pytest.mark.parametrize(
    ("make_delivery", "cut", "applied"),
    [
        # The event is claimed, then the connection dies as the tombstone is about to be written.
        (deletion, b"INSERT INTO users", lambda user: user.deleted_at is not None),
        # A user event is one statement on PostgreSQL: it is lost on the way.
        (delivery, b"WITH upsert", lambda user: user.email == "outage@example.org"),
    ],
    ids=["mid-transaction", "one-statement"],
)
def test_connection_lost_before_the_effect_leaves_nothing_half_written(
    outage_app, forwarder, svix, make_delivery, cut, applied
):
    client = outage_app.test_client()
    forwarder.cut_before = cut
    response = svix.post(client, make_delivery(), msg_id="msg_cut")
    assert forwarder.was_cut.is_set(), "the connection was never cut"
    assert response.status_code == 503, response.get_data(as_text=True)

    forwarder.close()
    forwarder.open()
    # A claim already sent was rolled back with everything else.
    assert all_events(outage_app) == [] and all_users(outage_app) == []
    response = svix.post(client, make_delivery(), msg_id="msg_cut")
    assert response.get_json() == {"status": "applied"}
    assert event_row(outage_app, "msg_cut").status == "applied"
    assert applied(user_row(outage_app, "user_outage"))


@pytest.mark.parametrize(
    ("make_delivery", "cut", "forwarded"),
    [
        (deletion, b"COMMIT", False),  # the transaction's COMMIT never reaches the server
        (delivery, b"WITH upsert", True),  # the server runs the user event; its answer is lost
    ],
    ids=["commit-never-sent", "answer-lost"],
)
def test_connection_lost_at_commit_is_a_503_and_the_retry_is_a_duplicate_or_applies(
    outage_app, forwarder, svix, make_delivery, cut, forwarded
):
    """The app cannot know whether its commit happened, so either outcome must be whole."""
    client = outage_app.test_client()
    if forwarded:
        forwarder.cut_after = cut
    else:
        forwarder.cut_before = cut
    response = svix.post(client, make_delivery(), msg_id="msg_commit")
    assert forwarder.was_cut.is_set()
    assert response.status_code == 503
    forwarder.close()
    forwarder.open()
    # Counted in one statement: the server may still be finishing the cut connection's commit.
    counts = select(select(func.count()).select_from(User).scalar_subquery(),
                    select(func.count()).select_from(WebhookEvent).scalar_subquery())
    with outage_app.app_context(), db.engine.connect() as conn:
        users, records = conn.execute(counts).one()
    assert (users, records) in {(0, 0), (1, 1)}  # both or neither, never one alone
    response = svix.post(client, make_delivery(), msg_id="msg_commit")
    assert response.status_code == 200
    assert response.get_json()["status"] in {"applied", "duplicate"}
    assert len(all_users(outage_app)) == 1 and event_row(outage_app, "msg_commit").status == "applied"


def test_healthz_follows_the_database(outage_app, forwarder):
    client = outage_app.test_client()
    assert client.get("/healthz").status_code == 200
    forwarder.close()
    response = client.get("/healthz")
    assert response.status_code == 503
    forwarder.open()
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_503_body_is_still_checked_first(outage_app, forwarder, svix):
    """A bad signature is refused with 400 even while the database is down: no retry invited."""
    client = outage_app.test_client()
    forwarder.close()
    body = json.dumps(delivery())
    headers = svix.headers(body, "msg_bad")
    headers["svix-signature"] = "v1,bad"
    assert client.post("/api/webhooks/clerk", data=body, headers=headers).status_code == 400
