"""Pages while the database is unreachable: a clear 503, never a 500."""

from __future__ import annotations

from .conftest import base_config, make_session_token
from .emulator import free_port

from mentorly import create_app


def test_a_signed_in_page_answers_503_when_the_database_is_down(tmp_path):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mentorly?connect_timeout=2"
    app = create_app(base_config(dead))
    client = app.test_client()
    client.set_cookie("__session", make_session_token("user_outage"))

    page = client.get("/dashboard/settings/profile")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "briefly unavailable" in page.get_data(as_text=True)

    api = client.post("/api/webhooks/clerk", data="{}", headers={"Accept": "application/json"})
    assert api.status_code == 400  # refused on its signature before any database work

    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
