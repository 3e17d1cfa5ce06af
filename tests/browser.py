"""Real Chromium for page tests, and a real HTTP server for the app under test.

Chromium is Debian's (`/usr/bin/chromium`, or `MENTORLY_CHROMIUM`), driven by Playwright, which
never downloads a browser of its own. Without it, browser tests are skipped with the reason
shown, unless `MENTORLY_REQUIRE_BROWSER=1` makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> str | None:
    configured = os.environ.get("MENTORLY_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the test session; each test opens its own context (cookies, storage)."""
    executable = chromium_executable()
    if executable is None:
        reason = "Chromium not found at /usr/bin/chromium (install Debian's chromium or set MENTORLY_CHROMIUM)"
        if os.environ.get("MENTORLY_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and MENTORLY_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def signed_in_cookies(url: str, session: Any) -> list[dict[str, Any]]:
    """A browser signed in through Clerk: the app's session token and Clerk's client cookie.

    `session` is an emulator session (`EmulatorProcess.create_session`). ClerkJS, loaded by every
    signed-in page, asks Clerk for the browser's client and signs the page out when it has none,
    as real Clerk does: so the client cookie must be there too. Cookies ignore ports, so the
    emulator on another port of the same host sees it.
    """
    return [
        {"name": "__session", "value": session.token, "url": url},
        {"name": "__client_uat", "value": str(int(time.time())), "url": url},
        {"name": "__client", "value": session.session["client_id"], "url": url},
    ]


class LiveServer:
    """The app served over real HTTP from a thread (werkzeug, threaded) on a free port (or on
    `port`, when something, such as an emulator's return address, has to know it first)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
