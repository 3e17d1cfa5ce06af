"""In Chromium, against the app and emulator started exactly as `make dev` starts them.

Starting them takes seconds, so the module shares one `make dev`; each test starts from a reset
emulator and a database without rows.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import jwt
import pytest
import requests

from mentorly.config import EMULATOR_SECRET_KEY

from .browser import DESKTOP
from .emulator import free_port

# One xdist worker runs the module, so it starts `make dev` once.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("make-dev")]
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Settings a developer's shell might carry that would point `make dev` elsewhere.
SCRUBBED = ("DATABASE_URL", "SECRET_KEY", "MENTORLY_ENV") + tuple(
    name for name in os.environ if name.startswith("CLERK_") or name == "WEBHOOK_SECRET"
)


@dataclass
class DevServer:
    app_url: str
    emulator_url: str
    database: Path
    log: Path

    def users(self) -> list[tuple]:
        with sqlite3.connect(self.database) as conn:
            return conn.execute("SELECT clerk_id, email, first_name, last_name, deleted_at FROM users").fetchall()

    def reset(self) -> None:
        """The emulator forgets everything; every table but the migrations' own is emptied."""
        requests.post(f"{self.emulator_url}/__emulator/reset", timeout=10).raise_for_status()
        with sqlite3.connect(self.database) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'alembic_version'")
            for (table,) in tables.fetchall():
                conn.execute(f'DELETE FROM "{table}"')


@pytest.fixture(scope="module")
def started_dev_server(tmp_path_factory) -> Iterator[DevServer]:
    instance = tmp_path_factory.mktemp("dev") / "instance"
    app_port, emulator_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    env.update(
        MENTORLY_INSTANCE_PATH=str(instance),
        MENTORLY_PORT=str(app_port),
        EMULATOR_PORT=str(emulator_port),
        PYTHONUNBUFFERED="1",
    )
    log = instance.parent / "dev.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mentorly.dev"],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = DevServer(f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{emulator_port}", instance / "mentorly.db", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"make dev stopped:\n{log.read_text()[-3000:]}"
            try:
                if requests.get(f"{server.app_url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"make dev did not serve in time:\n{log.read_text()[-3000:]}"
            time.sleep(0.25)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def dev_server(started_dev_server) -> DevServer:
    started_dev_server.reset()
    return started_dev_server


def wait_for(predicate, timeout: float = 10.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def sign_in_through_the_emulator(page, dev_server, email: str, first: str, last: str) -> None:
    page.goto(f"{dev_server.app_url}/dashboard")
    # The app's sign-in page loads ClerkJS from the emulator, which takes the browser to sign in.
    page.wait_for_url(f"{dev_server.emulator_url}/sign-in*")
    page.fill("#email", email)
    page.fill("#first_name", first)
    page.fill("#last_name", last)
    page.click("text=Create account and sign in")
    # Back on the app, signed in: a new user is taken to onboarding.
    page.wait_for_url(f"{dev_server.app_url}/onboarding/**")


def test_sign_in_through_the_emulator_lands_signed_in_with_a_synced_row(dev_server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_through_the_emulator(page, dev_server, "grace@example.test", "Grace", "Hopper")

    assert page.locator("form[action='/sign-out'] button").is_visible()
    cookies = {cookie["name"]: cookie for cookie in context.cookies(dev_server.app_url)}
    assert "__session" in cookies and int(cookies["__client_uat"]["value"]) > 0

    # The row arrived through the emulator's user.created webhook.
    rows = wait_for(dev_server.users, message="the user.created webhook")
    assert [(email, first, last) for _, email, first, last, _ in rows] == [("grace@example.test", "Grace", "Hopper")]
    assert "type='user.created'" in dev_server.log.read_text()
    context.close()


def test_an_expired_token_is_refreshed_rather_than_looping_to_sign_in(dev_server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_through_the_emulator(page, dev_server, "ada@example.test", "Ada", "Lovelace")
    onboarding_url = page.url

    # The app's token expires (the browser's Clerk client stays signed in at the emulator). The
    # open page's ClerkJS would renew it at once, so it is closed first, like a tab left shut.
    page.goto("about:blank")
    session_cookies = [c for c in context.cookies(dev_server.app_url) if c["name"].startswith("__session")]
    token = session_cookies[0]["value"]
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    now = int(time.time())
    expired = requests.post(
        f"{dev_server.emulator_url}/__emulator/sessions/{sid}/tokens",
        json={"iat": now - 120, "nbf": now - 120, "exp": now - 60},
        timeout=10,
    ).json()["token"]
    context.add_cookies([{**cookie, "value": expired} for cookie in session_cookies])

    statuses: list[tuple[str, int]] = []
    page.on("response", lambda r: r.request.is_navigation_request() and statuses.append((r.url, r.status)))
    page.goto(onboarding_url)

    # The refresh page came (401), ClerkJS renewed the token, the page reloaded signed in.
    page.wait_for_function("document.querySelector(\"form[action='/sign-out']\") !== null", timeout=15000)
    assert statuses[0] == (onboarding_url, 401)
    assert statuses[-1] == (onboarding_url, 200)
    assert not any(url.startswith(dev_server.emulator_url + "/sign-in") for url, _ in statuses)
    fresh = next(c for c in context.cookies(dev_server.app_url) if c["name"] == session_cookies[0]["name"])["value"]
    assert fresh != expired and jwt.decode(fresh, options={"verify_signature": False})["exp"] > now
    context.close()


# --- Sessions as Clerk has them: pending, and ended by signing out ------------------------------


def test_a_pending_session_shows_its_task_then_lands_signed_in(dev_server, browser):
    requests.post(f"{dev_server.emulator_url}/__emulator/settings", json={"session_task": "setup-mfa"}, timeout=10)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))

    page.goto(f"{dev_server.app_url}/dashboard")
    page.wait_for_url(f"{dev_server.emulator_url}/sign-in*")
    page.fill("#email", "pending@example.test")
    page.fill("#first_name", "Pen")
    page.fill("#last_name", "Ding")
    page.click("text=Create account and sign in")

    # Back at the app with a pending token: sent to sign in, where Clerk shows the task.
    page.wait_for_selector("text=Set up two-step verification and continue")
    before = len(navigations)
    page.wait_for_timeout(1500)
    assert len(navigations) == before, f"no bouncing while the task waits: {navigations[before:]}"
    assert page.url.startswith(f"{dev_server.emulator_url}/sign-in")

    page.click("text=Set up two-step verification and continue")
    page.wait_for_url(f"{dev_server.app_url}/onboarding/**")
    assert page.locator("form[action='/sign-out'] button").is_visible()
    context.close()


def test_sign_out_ends_the_session_at_clerk_and_stays_signed_out(dev_server, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in_through_the_emulator(page, dev_server, "leaving@example.test", "Lea", "Ving")
    user_id = wait_for(dev_server.users, message="the user.created webhook")[0][0]

    page.click("form[action='/sign-out'] button")
    page.wait_for_url(re.compile(re.escape(dev_server.app_url) + r"/?$"))
    assert page.get_by_text("You have signed out.").is_visible()

    sessions = requests.get(f"{dev_server.emulator_url}/v1/sessions", params={"user_id": user_id},
                            headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"}, timeout=10).json()
    assert [s["status"] for s in sessions] == ["ended"]
    # The next signed-in page asks to sign in again: nothing signs the person back in.
    page.goto(f"{dev_server.app_url}/dashboard")
    page.wait_for_url(f"{dev_server.emulator_url}/sign-in*")
    context.close()
