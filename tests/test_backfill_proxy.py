"""The backfill behind a proxy that drops Clerk's `starting_after`: it stops, it does not loop."""

from __future__ import annotations

import threading

import pytest
import requests
from flask import Flask, Response, request
from werkzeug.serving import make_server

from mentorly.backfill import Backfill, BackfillError
from mentorly.clerk.client import ClerkClient
from mentorly.extensions import db



@pytest.fixture
def forgetful_proxy(emulator):
    """Forwards the Backend API to the emulator, without the `starting_after` parameter."""
    proxy = Flask("forgetful_proxy")
    seen: list[dict[str, str]] = []

    @proxy.route("/v1/<path:path>", methods=["GET"])
    def forward(path: str):
        params = {k: v for k, v in request.args.items() if k != "starting_after"}
        seen.append(dict(request.args))
        answer = requests.get(f"{emulator.api_url}/{path}", params=params,
                              headers={"Authorization": request.headers.get("Authorization", "")}, timeout=10)
        return Response(answer.content, answer.status_code, content_type=answer.headers["Content-Type"])

    server = make_server("127.0.0.1", 0, proxy, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", seen
    server.shutdown()


@pytest.mark.postgres
def test_a_page_that_does_not_move_past_the_cursor_stops_the_backfill(forgetful_proxy, emulator, make_app):
    url, seen = forgetful_proxy
    emulator.bulk_create_users(12)
    app = make_app(**emulator.app_config())
    with app.app_context():
        client = ClerkClient(url, emulator.secret_key, "2026-05-12")
        run = Backfill(db.engine, client, page_size=5, echo=lambda line: None)
        with pytest.raises(BackfillError, match="listed .* again"):
            run.run()
    assert len(seen) == 2, "one page, then the same page again: stopped there"
    assert "starting_after" in seen[1]
