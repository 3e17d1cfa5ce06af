"""Production serving: gunicorn with gunicorn.conf.py, MENTORLY_ENV=production, checked over HTTP."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import jsonify, request

from mentorly import create_app
from mentorly.config import PRODUCTION_REQUIRED

from .emulator import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAPI = "https://clerk.example.com"
PUBLISHABLE_KEY = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"  # base64("clerk.example.com$")
SIGNING_SECRET = "whsec_" + "cHJvZHVjdGlvbi10ZXN0LXNpZ25pbmctc2VjcmV0"


def production_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The process environment of a production instance (nothing inherited from ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORLY_", "CLERK_", "GUNICORN_", "WEB_"))}
    env.update(
        MENTORLY_ENV="production",
        SECRET_KEY="production-test-secret-key",
        CLERK_SECRET_KEY="sk_live_not_used_by_these_tests",
        CLERK_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CLERK_WEBHOOK_SIGNING_SECRET=SIGNING_SECRET,
        # Nothing here may reach Clerk: a closed port answers "unavailable" at once.
        CLERK_API_URL=f"http://127.0.0.1:{free_port()}/v1",
        PYTHONPATH=str(ROOT),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


class GunicornServer:
    """`gunicorn -c gunicorn.conf.py wsgi:app` as production runs it, on a free local port."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "app", workers: int = 1, threads: int = 4):
        self.port = free_port()
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.env = dict(
            env,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY=str(workers),
            GUNICORN_THREADS=str(threads),
            GUNICORN_GRACEFUL_TIMEOUT="5",
            GUNICORN_CONTROL_SOCKET=str(workdir / f"{name}.ctl"),
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "GunicornServer":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT), "wsgi:app"],
                env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"gunicorn did not become healthy:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "GunicornServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def migrate(env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "mentorly", "db", "upgrade"],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def csp(response: requests.Response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


# The tests on the one production instance share an xdist worker, which starts it once.
on_the_server = pytest.mark.xdist_group("production-server")


@pytest.fixture(scope="module")
def production_server(postgres_server, tmp_path_factory):
    """One production instance for the HTTP checks of this module (starting one takes seconds),
    on a new database that `flask db upgrade` builds as a deployment would."""
    workdir = tmp_path_factory.mktemp("production")
    with postgres_server.database() as database_url:
        env = production_env(database_url, LOG_FORMAT="json", TRUST_PROXY="1")
        migrate(env, workdir)
        with GunicornServer(env, workdir) as server:
            yield server


# --- Over HTTP ------------------------------------------------------------------------------------


@pytest.mark.postgres
@on_the_server
def test_security_headers_over_http(production_server):
    response = requests.get(f"{production_server.url}/healthz", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    hsts = dict(part.strip().partition("=")[::2] for part in headers["Strict-Transport-Security"].split(";"))
    assert int(hsts["max-age"]) >= 31_536_000
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["style-src"] == ["'self'"]  # no inline styles on our own pages
    assert policy["script-src"][0] == "'self'" and FAPI in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert FAPI in policy["connect-src"] and FAPI in policy["frame-src"]
    assert "https://img.clerk.com" in policy["img-src"]
    assert policy["object-src"] == ["'none'"]


@pytest.mark.postgres
@on_the_server
def test_the_sign_in_page_loads_clerk_from_the_frontend_api_with_secure_cookies(production_server):
    response = requests.get(f"{production_server.url}/sign-in", timeout=5)
    assert response.status_code == 200
    assert f'src="{FAPI}/npm/@clerk/clerk-js@6/dist/clerk.browser.js"' in response.text
    assert "127.0.0.1" not in response.text  # never the emulator
    policy = csp(response)
    assert FAPI in policy["script-src"] and policy["frame-ancestors"] == ["'none'"]
    # Clerk's components style themselves at run time: only pages that load them get inline styles.
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    cookies = response.raw.headers.getlist("Set-Cookie")
    assert cookies, "the sign-in page sets the session cookie that carries the CSRF token"
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "samesite"} <= attributes, cookie
    session = next(cookie for cookie in cookies if cookie.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session


EMULATOR_PATHS = ("/__emulator", "/__emulator/health", "/__emulator/users", "/__emulator/users/bulk",
                  "/__emulator/sign-in", "/__emulator/sessions", "/v1/users", "/v1/jwks", "/v1/users/count",
                  "/sign-in/emulator", "/dev/sign-in")


@pytest.mark.postgres
@on_the_server
def test_production_never_exposes_the_emulator(production_server):
    for path in EMULATOR_PATHS:
        response = requests.get(f"{production_server.url}{path}", timeout=5)
        assert response.status_code == 404, path
        assert response.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in response.headers
        response = requests.post(f"{production_server.url}{path}", json={"count": 1}, timeout=5)
        assert response.status_code in (400, 404, 405), path


@pytest.mark.postgres
@on_the_server
def test_access_log_has_no_query_strings_and_app_logs_are_json(production_server):
    requests.get(f"{production_server.url}/healthz?token=sekrit-value&email=someone%40example.com", timeout=5)
    refused = requests.post(f"{production_server.url}/api/webhooks/clerk", data="{}", timeout=5)
    assert refused.status_code == 400
    deadline = time.monotonic() + 5
    while '"POST /api/webhooks/clerk HTTP/1.1" 400' not in production_server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = production_server.log()
    access = [line for line in log.splitlines() if '"GET /healthz HTTP/1.1" 200' in line]
    assert access, log[-2000:]
    assert "sekrit" not in log and "someone" not in log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refusal = [r for r in records if r.get("logger") == "mentorly.webhooks" and "refused" in r["message"]]
    assert refusal and refusal[0]["level"] == "INFO" and "time" in refusal[0]


def test_production_refuses_to_start_without_its_settings(tmp_path):
    env = {k: v for k, v in production_env().items() if k not in PRODUCTION_REQUIRED}
    env.pop("CLERK_WEBHOOK_SIGNING_SECRET", None)
    done = subprocess.run([sys.executable, "-c", "import wsgi"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    message = next(line for line in done.stderr.splitlines() if "missing required setting" in line)
    for name in PRODUCTION_REQUIRED:
        assert name in message

    # One missing setting is named alone.
    env = production_env("postgresql+psycopg://postgres@127.0.0.1:5432/none")
    del env["CLERK_WEBHOOK_SIGNING_SECRET"]
    server = GunicornServer(env, tmp_path, name="incomplete")
    with pytest.raises(AssertionError, match="gunicorn exited"):
        server.start(timeout=30)
    assert "missing required setting(s): CLERK_WEBHOOK_SIGNING_SECRET." in server.log()


# --- In process -----------------------------------------------------------------------------------


def _production_app(monkeypatch, tmp_path, **extra: str):
    for name in list(os.environ):
        if name.startswith(("MENTORLY_", "CLERK_")) or name in ("SECRET_KEY", "DATABASE_URL", "TRUST_PROXY"):
            monkeypatch.delenv(name, raising=False)
    env = production_env(f"sqlite:///{tmp_path / 'prod.db'}", **extra)
    for name, value in env.items():
        if name.startswith(("MENTORLY_", "CLERK_")) or name in ("SECRET_KEY", "DATABASE_URL", "TRUST_PROXY"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MENTORLY_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app()


def test_production_registers_no_emulator_or_development_sign_in(monkeypatch, tmp_path):
    app = _production_app(monkeypatch, tmp_path, CLERK_API_URL="http://127.0.0.1:5001/v1")
    assert app.config["CLERK_EMULATOR"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["SESSION_COOKIE_HTTPONLY"] is True
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    assert not [rule for rule in rules if rule.startswith(("/__emulator", "/v1")) or "emulator" in rule
                or "dev" in rule.split("/")[1:2]]
    assert not [name for name in app.blueprints if "emulator" in name or name.startswith("dev")]


def _probe(app):
    @app.get("/_probe")
    def probe():
        return jsonify(remote=request.remote_addr, scheme=request.scheme, host=request.host)


def test_proxy_fix_trusts_exactly_the_configured_hops(monkeypatch, tmp_path):
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "accounts.mentorly.example"}
    app = _production_app(monkeypatch, tmp_path, TRUST_PROXY="1")
    _probe(app)
    seen = app.test_client().get("/_probe", headers=forwarded, base_url="http://localhost",
                                 environ_base={"REMOTE_ADDR": "10.0.0.2"}).json
    # One proxy: its own entry (the last) is the client; the earlier one could be forged.
    assert seen == {"remote": "198.51.100.7", "scheme": "https", "host": "accounts.mentorly.example"}

    app = _production_app(monkeypatch, tmp_path, TRUST_PROXY="0")
    _probe(app)
    seen = app.test_client().get("/_probe", headers=forwarded, base_url="http://localhost",
                                 environ_base={"REMOTE_ADDR": "10.0.0.2"}).json
    assert seen == {"remote": "10.0.0.2", "scheme": "http", "host": "localhost"}


def test_production_cookies_set_by_views_are_secure(monkeypatch, tmp_path):
    app = _production_app(monkeypatch, tmp_path)

    @app.get("/_cookie")
    def cookie():
        response = jsonify(ok=True)
        response.set_cookie("__client_uat", "0")
        response.set_cookie("plain", "1", samesite="Strict")
        return response

    cookies = app.test_client().get("/_cookie").headers.getlist("Set-Cookie")
    assert len(cookies) == 2
    assert all("Secure" in cookie for cookie in cookies)
    assert "SameSite=Lax" in cookies[0] and "SameSite=Strict" in cookies[1] and "Lax" not in cookies[1]


def test_a_views_own_security_header_wins_and_none_is_sent_twice(monkeypatch, tmp_path):
    app = _production_app(monkeypatch, tmp_path)

    @app.get("/_embeddable")
    def embeddable():
        return "ok", 200, {"x-frame-options": "SAMEORIGIN", "Referrer-Policy": "no-referrer"}

    headers = app.test_client().get("/_embeddable").headers
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("Referrer-Policy") == ["no-referrer"]
    for name in ("Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options",
                 "Permissions-Policy"):
        assert len(headers.getlist(name)) == 1, name
    assert "Set-Cookie" not in headers  # no session was touched: no cookie for a cookieless visit


@pytest.mark.postgres
def test_development_keeps_the_csp_off_but_the_safe_headers_on(app, client):
    response = client.get("/healthz")
    assert "Content-Security-Policy" not in response.headers
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- gunicorn.conf.py -------------------------------------------------------------------------------


def _conf(monkeypatch, **env: str) -> dict[str, Any]:
    for name in ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
                 "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_CONTROL_SOCKET", "GUNICORN_MAX_REQUESTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_configuration(monkeypatch):
    conf = _conf(monkeypatch, PORT="8123")
    assert conf["workers"] == len(os.sched_getaffinity(0)) + 1
    assert conf["worker_class"] == "gthread" and conf["threads"] >= 2
    assert conf["timeout"] == 30 and conf["graceful_timeout"] == 30
    assert conf["bind"] == "0.0.0.0:8123"
    assert "%(U)s" in conf["access_log_format"]
    assert "%(r)s" not in conf["access_log_format"] and "%(q)s" not in conf["access_log_format"]
    assert conf["control_socket"].startswith("/tmp/") and "8123" in conf["control_socket"]
    assert conf["preload_app"] is False

    conf = _conf(monkeypatch, WEB_CONCURRENCY="3", GUNICORN_TIMEOUT="12", GUNICORN_CONTROL_SOCKET="off")
    assert conf["workers"] == 3 and conf["timeout"] == 12
    assert conf["control_socket_disable"] is True and "control_socket" not in conf
