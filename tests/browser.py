"""Real Chromium for page tests, and a real HTTP server for the app under test.

Chromium is Debian's (`/usr/bin/chromium`, or `MENTORLY_CHROMIUM`), driven by Playwright, which
never downloads a browser of its own. Without it, browser tests are skipped with the reason
shown, unless `MENTORLY_REQUIRE_BROWSER=1` makes that a failure. One Chromium serves the test
session (an xdist worker); every context a test opens is closed after it, passed or failed.

`LiveServer` serves an app from a thread. `LiveApp` adds a Clerk emulator of its own, started to
know the app's origin (the emulator's ClerkJS stand-in answers that origin only): starting both
takes seconds, so a module shares one and `fresh()` readies it for each test.
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

from mentorly import create_app
from tests.conftest import base_config, dispose, unavailable
from tests.databases import ReusedDatabase
from tests.emulator import EmulatorProcess

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
def chromium() -> Iterator[Any]:
    """One Chromium for the test session."""
    executable = chromium_executable()
    if executable is None:
        where = os.environ.get("MENTORLY_CHROMIUM") or "/usr/bin/chromium"
        unavailable(f"Chromium not found at {where} (install Debian's chromium or set MENTORLY_CHROMIUM)",
                    "MENTORLY_REQUIRE_BROWSER")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def browser(chromium) -> Iterator[Any]:
    """The session's Chromium; each test opens its own contexts (cookies, storage), closed after it."""
    yield chromium
    for context in chromium.contexts:
        context.close()


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


def _read_and_close(file: Any, buffer_size: int = 8192) -> list[bytes]:
    """A file response read whole and closed at once.

    werkzeug's server skips closing a response when the browser drops the connection while the
    server drains the request; the file left open is a ResourceWarning, which fails whichever test
    is running when it is collected. Static files here are small.
    """
    with file:
        return [file.read()]


class LiveServer:
    """The app served over real HTTP from a thread (werkzeug, threaded) on a free port.

    The port is bound at once, so the URL is known before `app` is given (see LiveApp)."""

    def __init__(self, app: Any = None) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, self._serve, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.file_wrapper"] = _read_and_close
        return self.app(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class LiveApp(LiveServer):
    """The app on a real HTTP server, on `database_url`, with a Clerk emulator of its own as Clerk
    (session tokens checked against its JWKS). `deliver_webhooks` points the emulator's webhooks
    at the app; other keywords go to `EmulatorProcess`. A context manager."""

    def __init__(self, database_url: str, state_dir: Path, *, deliver_webhooks: bool = False,
                 **emulator_options: Any) -> None:
        super().__init__()
        self.database_url = database_url
        if deliver_webhooks:
            emulator_options["webhook_url"] = f"{self.url}/api/webhooks/clerk"
        self.emulator = EmulatorProcess(state_dir, app_url=self.url, **emulator_options)

    def __enter__(self) -> "LiveApp":
        try:
            self.emulator.start()
            self.app = create_app(base_config(self.database_url, **self.emulator.app_config(jwks=True)))
        except BaseException:
            self.emulator.stop()
            self.server.server_close()
            raise
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        dispose(self.app)
        self.emulator.stop()

    def fresh(self, database: ReusedDatabase) -> "LiveApp":
        """Ready for the next test: the emulator forgets its users, sessions, webhooks and faults
        (first, so that no retry of an earlier test's webhook lands later), the database
        (`database_url`'s) is emptied, and the app lets go of its connections, ended with that."""
        self.emulator.reset()
        database.empty()
        dispose(self.app)
        return self
