"""The local Clerk emulator as a real process for tests.

`EmulatorProcess` starts `python -m mentorly.emulator` on a free port with its own state
directory, waits until it answers, and stops it afterwards. Its small methods wrap the control
endpoints under `/__emulator/`; `api()` calls the Backend API with the secret key.

Fixtures (available everywhere through `pytest_plugins`, or `from tests.emulator import emulator`):
- `emulator_server`: one emulator for the whole test session (each xdist worker starts its own,
  on a free port with its own state directory);
- `emulator`: that same process, reset before each test (the usual choice: fast and isolated);
- `emulator_factory`: starts dedicated emulators with their own options (webhook URL, token
  lifetime, ...), stopped at the end of the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from mentorly.config import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP_URL = "http://127.0.0.1:5000"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorError(AssertionError):
    """A control call failed; the message carries the emulator's answer."""


@dataclass
class EmulatorSession:
    session: dict[str, Any]
    token: str

    @property
    def id(self) -> str:
        return self.session["id"]

    @property
    def user_id(self) -> str:
        return self.session["user_id"]


class EmulatorProcess:
    """One emulator subprocess. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        state_dir: Path,
        *,
        app_url: str = DEFAULT_APP_URL,
        webhook_url: str | None = None,
        webhooks: bool = True,
        token_lifetime: int | None = None,
        retry_delays: tuple[float, ...] | None = (0.05, 0.1, 0.2),
        port: int | None = None,
        secret_key: str = EMULATOR_SECRET_KEY,
        webhook_secret: str = EMULATOR_WEBHOOK_SECRET,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.app_url = app_url.rstrip("/")
        self.webhook_url = webhook_url
        self.webhooks = webhooks
        self.token_lifetime = token_lifetime
        self.retry_delays = retry_delays
        self.port = port or free_port()
        self._port_given = port is not None
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self._log_path = self.state_dir / "emulator.log"

    # --- addresses and keys -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def host(self) -> str:
        """The Frontend API host the publishable key encodes."""
        return f"127.0.0.1:{self.port}"

    @property
    def publishable_key(self) -> str:
        import base64

        return "pk_test_" + base64.b64encode(f"{self.host}$".encode()).decode().rstrip("=")

    def app_config(self, *, jwks: bool = False) -> dict[str, Any]:
        """Mentorly settings that point an app at this emulator; with `jwks`, session tokens are
        checked against the emulator's JWKS (no CLERK_JWT_KEY), as in development."""
        config = {
            "CLERK_SECRET_KEY": self.secret_key,
            "CLERK_PUBLISHABLE_KEY": self.publishable_key,
            "CLERK_API_URL": self.api_url,
            "CLERK_WEBHOOK_SIGNING_SECRET": self.webhook_secret,
            "CLERK_EMULATOR": True,
        }
        if jwks:
            config["CLERK_JWT_KEY"] = None
        return config

    # --- process ------------------------------------------------------------------------------

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "mentorly.emulator",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--state-dir", str(self.state_dir), "--app-url", self.app_url,
            "--secret-key", self.secret_key, "--webhook-secret", self.webhook_secret, "--quiet",
        ]
        if self.webhook_url:
            command += ["--webhook-url", self.webhook_url]
        if not self.webhooks:
            command.append("--no-webhooks")
        if self.token_lifetime is not None:
            command += ["--token-lifetime", str(self.token_lifetime)]
        if self.retry_delays is not None:
            command += ["--retry-delays", ",".join(str(d) for d in self.retry_delays)]
        return command

    def start(self, timeout: float = 60.0) -> "EmulatorProcess":
        for attempt in range(3):
            try:
                return self._start(timeout)
            except EmulatorError as exc:
                # Another process may take the free port between our check and the bind.
                if self._port_given or "Address already in use" not in str(exc) or attempt == 2:
                    raise
                self.port = free_port()
        return self

    def _start(self, timeout: float) -> "EmulatorProcess":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MENTORLY_ENV="development", PYTHONUNBUFFERED="1")
        env.pop("PYTHONTRACEMALLOC", None)  # a traced child starts many times slower
        log = open(self._log_path, "ab")
        try:
            self.process = subprocess.Popen(self.command(), cwd=PROJECT_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmulatorError(f"the emulator exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.http.get(f"{self.url}/__emulator/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise EmulatorError(f"the emulator did not answer on {self.url} within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        self.http.close()
        self.http = requests.Session()

    def restart(self) -> "EmulatorProcess":
        """Stop and start again on the same port and state directory."""
        self.stop()
        return self.start()

    def output(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> "EmulatorProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- HTTP ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> requests.Response:
        """A Backend API call (`path` below /v1) with the secret key unless `key` says otherwise."""
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.setdefault("Authorization", f"Bearer {self.secret_key if key is None else key}")
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, f"{self.api_url}{path}", headers=headers, **kwargs)

    def control(self, method: str, path: str, json: Any = None, expect: int | tuple[int, ...] = (200, 201),
                **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 30)
        response = self.http.request(method, f"{self.url}/__emulator{path}", json=json, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise EmulatorError(f"{method} /__emulator{path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    # --- control endpoints --------------------------------------------------------------------

    def create_user(self, email: str | None = None, first_name: str | None = "Test", last_name: str | None = "User",
                    username: str | None = None, **fields: Any) -> dict[str, Any]:
        """A user (sends `user.created` unless webhooks are off); a unique email unless given."""
        if email is None and "email" not in fields:
            email = f"user-{time.time_ns()}@example.test"
        body = {"email": email, "first_name": first_name, "last_name": last_name, "username": username, **fields}
        return self.control("POST", "/users", body)

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        """Profile-UI changes: password_enabled, two_factor_enabled, email_verified, connect=[..],
        disconnect=[..], first_name, last_name (sends `user.updated`)."""
        return self.control("PATCH", f"/users/{user_id}", changes)

    def bulk_create_users(self, count: int, prefix: str = "user", domain: str = "example.test") -> dict[str, Any]:
        return self.control("POST", "/users/bulk", {"count": count, "prefix": prefix, "domain": domain})

    def create_session(self, user_id: str, **options: Any) -> EmulatorSession:
        """A signed-in session (sends `session.created`) and a token for it. Options: user_agent,
        ip_address, city, country, lifetime (seconds), azp, task (a pending session),
        factor_verification_age ({"first_factor": minutes ago})."""
        data = self.control("POST", "/sessions", {"user_id": user_id, **options})
        return EmulatorSession(session=data["session"], token=data["token"])

    def sign_in(self, user_id: str, **options: Any) -> str:
        """Just the session token for a new session of `user_id`."""
        return self.create_session(user_id, **options).token

    def mint_token(self, session_id: str, *, lifetime: int | None = None, claims: dict[str, Any] | None = None,
                   header: dict[str, Any] | None = None, **times: Any) -> str:
        """A token for an existing session: `lifetime`, or `iat`/`nbf`/`exp` (Unix seconds), `azp`,
        and `claims` or `header` parameters to add or override (None removes one)."""
        body: dict[str, Any] = dict(times)
        if lifetime is not None:
            body["lifetime"] = lifetime
        if claims is not None:
            body["claims"] = claims
        if header is not None:
            body["header"] = header
        return self.control("POST", f"/sessions/{session_id}/tokens", body)["token"]

    def set_verification_age(self, session_id: str, **minutes: int | None) -> list[int]:
        """Make the session's factors look verified that many minutes ago (`first_factor=15`,
        `second_factor=None` for never); returns the `fva` its tokens carry from now on."""
        return self.control("POST", f"/sessions/{session_id}/verification", minutes)["factor_verification_age"]

    def end_session(self, session_id: str, status: str = "ended") -> dict[str, Any]:
        return self.control("POST", f"/sessions/{session_id}/end", {"status": status})

    def set_webhooks(self, enabled: bool | None = None, *, url: str | None = None,
                     retry_delays: list[float] | None = None, timeout: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if enabled is not None:
            body["enabled"] = enabled
        if url is not None:
            body["url"] = url
        if retry_delays is not None:
            body["retry_delays"] = list(retry_delays)
        if timeout is not None:
            body["timeout"] = timeout
        return self.control("POST", "/webhooks/settings", body)

    def sent_webhooks(self, type: str | None = None, wait: float = 10.0) -> list[dict[str, Any]]:
        """Every webhook sent since the last reset, oldest first, each with `payload`, `body`,
        `status` (pending/delivered/failed) and `attempts`; waits for the queue to drain first."""
        params: dict[str, Any] = {"wait": wait} if wait else {}
        if type:
            params["type"] = type
        data = self.control("GET", "/webhooks", params=params, timeout=wait + 10)
        return data["deliveries"]

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        data = self.control("GET", "/webhooks", params={"wait": timeout}, timeout=timeout + 10)
        if not data["idle"]:
            raise EmulatorError(f"webhooks still pending after {timeout} s")

    def fault(self, mode: str, count: int = 1, *, retry_after: int | None = None, delay: float | None = None,
              status: int | None = None, path: str | None = None, method: str | None = None) -> dict[str, Any]:
        """Make the next `count` Backend API calls fail: `timeout` (sleeps `delay`, default 5 s, then
        504), `error` (500 or `status`) or `rate_limit` (429 with Retry-After). `path` (a prefix
        such as "/v1/users") and `method` narrow which calls; /v1/jwks is spared unless named."""
        body: dict[str, Any] = {"mode": mode, "count": count}
        for key, value in (("retry_after", retry_after), ("delay", delay), ("status", status), ("path", path),
                           ("method", method)):
            if value is not None:
                body[key] = value
        return self.control("POST", "/faults", body)["fault"]

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def settings(self, **values: Any) -> dict[str, Any]:
        """Runtime settings, e.g. token_lifetime=5."""
        return self.control("POST", "/settings", values)

    def reset(self) -> None:
        """Forget users, sessions, webhooks sent, faults and settings changed at run time."""
        self.control("POST", "/reset")


# --- a webhook receiver -----------------------------------------------------------------------


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A tiny HTTP server that records every POST; `fail_next(n, status)` makes the next n fail."""

    received: list[ReceivedWebhook] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver._failures.pop(0) if receiver._failures else 204
                    receiver.received.append(ReceivedWebhook({k.lower(): v for k, v in self.headers.items()},
                                                             body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/clerk"

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def accepted(self) -> list[ReceivedWebhook]:
        return [hook for hook in self.received if 200 <= hook.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The session's emulator, reset: no users, no sessions, webhooks on (to no URL), no faults."""
    if emulator_server.process is None or emulator_server.process.poll() is not None:
        emulator_server.start()
    emulator_server.reset()
    yield emulator_server


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def emulator_factory(tmp_path) -> Iterator[Callable[..., EmulatorProcess]]:
    """`emulator_factory(**options)` starts a dedicated emulator (see EmulatorProcess)."""
    started: list[EmulatorProcess] = []

    def start(**options: Any) -> EmulatorProcess:
        state_dir = options.pop("state_dir", None) or tmp_path / f"emulator-{len(started)}"
        process = EmulatorProcess(state_dir, **options)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
