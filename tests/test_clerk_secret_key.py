"""A wrong or revoked CLERK_SECRET_KEY: a clear page, one ERROR line, /healthz says so, and
production refuses to start. Clerk unreachable at start-up is no reason to refuse."""

from __future__ import annotations

import logging
import subprocess

import pytest

from .test_production import BIN, ROOT, GunicornServer, production_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def wrong_key_app(emulator, make_app):
    return make_app(**{**emulator.app_config(jwks=True), "CLERK_SECRET_KEY": "sk_test_revoked_or_mistyped"})


def test_signed_in_pages_say_clerk_is_unavailable_and_the_log_names_the_key_once(wrong_key_app, emulator, caplog):
    user = emulator.create_user(email="key@example.test")
    token = emulator.sign_in(user["id"])
    client = wrong_key_app.test_client()
    client.set_cookie("__session", token)
    caplog.set_level(logging.ERROR, logger="mentorly")

    for _ in range(2):
        page = client.get("/dashboard")
        assert page.status_code == 503
        assert "Please try again later" in page.get_data(as_text=True)
    fragment = client.get("/dashboard/settings/profile", headers={"HX-Request": "true"})
    assert fragment.status_code == 503 and "toast" in fragment.headers["HX-Trigger"]

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "CLERK_SECRET_KEY" in errors[0]
    assert client.get("/healthz").get_json() == {"status": "degraded", "database": "ok", "clerk": "unauthorized"}


def test_production_refuses_to_start_with_a_key_clerk_refuses(emulator, tmp_path):
    env = production_env(CLERK_API_URL=emulator.api_url, CLERK_SECRET_KEY="sk_live_wrong",
                         DATABASE_URL=f"sqlite:///{tmp_path / 'refused.db'}")
    server = GunicornServer(env, tmp_path)
    done = subprocess.run(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT), "wsgi:app"],
        env=server.env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "Mentorly cannot start: Clerk refused CLERK_SECRET_KEY" in done.stdout + done.stderr


def test_production_starts_when_clerk_cannot_be_reached(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'unreachable.db'}")  # Clerk on a closed port
    with GunicornServer(env, tmp_path) as server:
        assert "Clerk could not be asked at start-up" in server.log()
