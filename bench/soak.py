#!/usr/bin/env python3
"""Soak: a minute of mixed load against gunicorn on PostgreSQL; errors and worker memory.

    .venv/bin/python bench/soak.py [--seconds 60] [--clients 6] [--workers 2] [--database-url URL]

What one run does:
1. creates a throwaway database on the PostgreSQL server (TEST_DATABASE_URL, default
   postgresql+psycopg://postgres@127.0.0.1:5432/test), builds it with the migrations, and
   generates an RSA key pair: the app trusts the public half (CLERK_JWT_KEY, networkless session
   verification, as in production) and the benchmark signs Clerk-shaped RS256 session tokens
   (sub, sid, iat, nbf, exp, azp) with the private half;
2. serves the app with `gunicorn -c gunicorn.conf.py wsgi:app` (MENTORLY_ENV=production, its own
   control socket), creates the signed-in users through signed `user.created` deliveries and marks
   them onboarded;
3. for `--seconds`, `--clients` keep-alive clients mix signed webhook deliveries (new users,
   updates, sessions, repeated svix-ids) with signed-in page views (the dashboard and the settings
   sections, as pages and as htmx fragments);
4. prints requests, errors (anything but the expected answer: must be 0) and each worker's RSS,
   sampled every 10 s; memory must level off (the last half of the run grows each worker by at
   most 5 MB); then drops the database.

Traffic goes only to 127.0.0.1; loops are bounded by time and by a request budget.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import jwt
import psycopg
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url
from svix.webhooks import Webhook

from common import child_pids, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"mentorly-soak-signing-secret").decode()
PUBLISHABLE_KEY = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"  # clerk.example.com: nothing here calls it
AZP = f"http://{HOST}"
PAGES = (
    "/dashboard",
    "/dashboard/settings/profile",
    "/dashboard/settings/notifications",
    "/dashboard/settings/appearance",
    "/dashboard/settings/billing",
    "/dashboard/settings/integrations",
)
MAX_REQUESTS = 500_000
LEVEL_OFF_MB = 5.0


# --- Clerk-shaped objects ------------------------------------------------------------------------


def clerk_user(user_id: str, version: int, base_ms: int) -> dict:
    updated = base_ms + version * 1000
    email_id = f"idn_{user_id[5:]}"
    return {
        "object": "user", "id": user_id, "external_id": None,
        "primary_email_address_id": email_id, "primary_phone_number_id": None,
        "username": f"soak_{user_id[-10:]}".lower(), "first_name": f"Soak{version}", "last_name": "Tester",
        "image_url": f"https://img.clerk.com/{user_id}", "has_image": True,
        "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
        "email_addresses": [{
            "id": email_id, "object": "email_address", "email_address": f"{user_id[5:]}@soak.example",
            "verification": {"status": "verified", "strategy": "email_code"}, "linked_to": [],
        }],
        "phone_numbers": [], "web3_wallets": [], "external_accounts": [],
        "password_enabled": True, "two_factor_enabled": version % 2 == 1,
        "last_sign_in_at": updated, "last_active_at": updated, "created_at": base_ms, "updated_at": updated,
    }


def envelope(event_type: str, data: dict, timestamp_ms: int) -> str:
    return json.dumps({"data": data, "object": "event", "type": event_type, "timestamp": timestamp_ms,
                       "instance_id": "ins_soak", "event_attributes": {"http_request": {"client_ip": HOST}}})


class Load:
    """Shared state of the clients: the users, their versions, tokens and the tallies."""

    def __init__(self, base_url: str, private_key, signed_in: list[str], base_ms: int) -> None:
        self.base_url = base_url
        self.private_key = private_key
        self.signed_in = signed_in
        self.base_ms = base_ms
        self.webhook = Webhook(SIGNING_SECRET)
        self.lock = threading.Lock()
        self.versions = {user_id: 0 for user_id in signed_in}
        self.sent: list[tuple[str, str]] = []  # (svix-id, body) for repeats
        self.counts: Counter = Counter()
        self.errors: Counter = Counter()
        self.error_samples: list[str] = []
        self.budget = MAX_REQUESTS

    def token(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "sid": f"sess_{user_id[5:]}", "iss": "https://clerk.example.com", "azp": AZP,
                  "iat": now, "nbf": now - 2, "exp": now + 60, "jti": uuid.uuid4().hex[:20], "v": 2}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": "ins_soak"})

    def signed(self, svix_id: str, body: str) -> dict[str, str]:
        now = datetime.now(UTC)
        return {"svix-id": svix_id, "svix-timestamp": str(int(now.timestamp())),
                "svix-signature": self.webhook.sign(svix_id, now, body), "content-type": "application/json"}

    def next_delivery(self, rng: random.Random) -> tuple[str, str, set[str]]:
        """(svix-id, body, acceptable statuses) for one webhook delivery."""
        roll = rng.random()
        with self.lock:
            if roll < 0.1 and self.sent:
                svix_id, body = rng.choice(self.sent)
                return svix_id, body, {"duplicate"}
            svix_id = f"msg_soak_{uuid.uuid4().hex}"
            if roll < 0.4:
                user_id = f"user_soak{uuid.uuid4().hex[:20]}"
                body = envelope("user.created", clerk_user(user_id, 0, self.base_ms), self.base_ms)
                expected = {"applied"}
            elif roll < 0.8:
                user_id = rng.choice(self.signed_in)
                self.versions[user_id] += 1
                user = clerk_user(user_id, self.versions[user_id], self.base_ms)
                body = envelope("user.updated", user, user["updated_at"])
                expected = {"applied", "stale"}  # two clients may race the same user's versions
            else:
                user_id = rng.choice(self.signed_in)
                session = {"object": "session", "id": f"sess_{uuid.uuid4().hex[:20]}", "user_id": user_id,
                           "status": "active", "last_active_at": int(time.time() * 1000)}
                body = envelope("session.created", session, int(time.time() * 1000))
                expected = {"applied"}
            if len(self.sent) < 5000:
                self.sent.append((svix_id, body))
        return svix_id, body, expected

    def take(self) -> bool:
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def record(self, kind: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.counts[kind] += 1
            if not ok:
                self.errors[kind] += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{kind}: {detail}"[:300])


def client(load: Load, seed: int, stop_at: float) -> None:
    rng = random.Random(seed)
    http = requests.Session()
    tokens: dict[str, tuple[str, float]] = {}
    while time.monotonic() < stop_at and load.take():
        try:
            if rng.random() < 0.45:
                svix_id, body, expected = load.next_delivery(rng)
                response = http.post(f"{load.base_url}/api/webhooks/clerk", data=body,
                                     headers=load.signed(svix_id, body), timeout=15)
                status = response.json().get("status") if response.status_code == 200 else None
                load.record("webhook", status in expected, f"{response.status_code} {status} {response.text[:120]}")
            else:
                user_id = rng.choice(load.signed_in)
                token, minted = tokens.get(user_id, ("", 0.0))
                if time.monotonic() - minted > 30:  # ClerkJS refreshes every 50 s; tokens live 60
                    token, minted = load.token(user_id), time.monotonic()
                    tokens[user_id] = (token, minted)
                path = rng.choice(PAGES)
                headers = {"HX-Request": "true"} if path != "/dashboard" and rng.random() < 0.5 else {}
                response = http.get(f"{load.base_url}{path}", headers=headers, allow_redirects=False, timeout=15,
                                    cookies={"__session": token, "__client_uat": str(int(time.time()))})
                load.record("page", response.status_code == 200, f"{path} {response.status_code}")
        except requests.RequestException as exc:
            load.record("connection", False, repr(exc))
            http = requests.Session()


# --- Server and memory -------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_server(env: dict[str, str], workdir: Path, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(env, GUNICORN_BIND=f"{HOST}:{port}", WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads),
               GUNICORN_CONTROL_SOCKET=str(workdir / "soak.ctl"), GUNICORN_ACCESS_LOG="", GUNICORN_LOG_LEVEL="warning")
    log = open(workdir / "gunicorn.log", "wb")
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT),
                                "wsgi:app"], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{(workdir / 'gunicorn.log').read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok and len(child_pids(process.pid)) >= workers:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not become healthy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the soak (default 60)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent keep-alive clients (default 6)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--users", type=int, default=40, help="signed-in users (default 40)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL))
    parser.add_argument("--strict", action="store_true", help="exit 1 on any error or unlevelled memory")
    args = parser.parse_args(argv)
    if not 10 <= args.seconds <= 240 or args.clients < 1 or args.workers < 1 or args.users < 1:
        parser.error("seconds must be 10-240 (inside Svix's 5-minute tolerance); clients, workers, users positive")

    workdir = Path(tempfile.mkdtemp(prefix="mentorly-soak-"))
    url = make_url(args.database_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    db_name = f"mentorly_soak_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database = url.set(drivername="postgresql+psycopg", database=db_name).render_as_string(hide_password=False)
    direct = f"{admin.rsplit('/', 1)[0]}/{db_name}"

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORLY_", "CLERK_", "GUNICORN_", "WEB_"))}
    env = dict(
        base_env,
        MENTORLY_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database,
        CLERK_SECRET_KEY="sk_test_soak_not_used",
        CLERK_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CLERK_WEBHOOK_SIGNING_SECRET=SIGNING_SECRET,
        CLERK_JWT_KEY=public_pem,
        CLERK_AUTHORIZED_PARTIES=AZP,
        # Pages that would call Clerk are left out of the mix; nothing may leave this machine.
        CLERK_API_URL=f"http://{HOST}:{free_port()}/v1",
        MENTORLY_INSTANCE_PATH=str(workdir / "instance"),
    )
    process = None
    try:
        subprocess.run([sys.executable, "-m", "flask", "--app", "mentorly", "db", "upgrade"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        process, base_url = start_server(env, workdir, args.workers, args.threads)
        base_ms = int(time.time() * 1000) - 86_400_000
        signed_in = [f"user_soak{n:05d}signedin" for n in range(args.users)]
        load = Load(base_url, key, signed_in, base_ms)
        setup = requests.Session()
        for user_id in signed_in:
            body = envelope("user.created", clerk_user(user_id, 0, base_ms), base_ms)
            response = setup.post(f"{base_url}/api/webhooks/clerk", data=body,
                                  headers=load.signed(f"msg_setup_{user_id}", body), timeout=10)
            response.raise_for_status()
        with psycopg.connect(direct) as conn:
            conn.execute("UPDATE users SET is_onboarded = true, onboarding_step = 4 WHERE clerk_id LIKE 'user_soak%signedin'")

        workers = child_pids(process.pid)
        print(f"soak: {args.seconds:g} s, {args.clients} clients, gunicorn {args.workers} workers x "
              f"{args.threads} threads (pids {', '.join(map(str, workers))}), database {db_name}")
        samples: list[tuple[float, dict[int, float | None]]] = []
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [threading.Thread(target=client, args=(load, seed, stop_at), daemon=True)
                   for seed in range(args.clients)]
        for thread in threads:
            thread.start()
        next_sample = started
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - started, {pid: rss_mb(pid) for pid in workers}))
                with load.lock:
                    done = sum(load.counts.values())
                    failed = sum(load.errors.values())
                print(f"  t={now - started:5.1f}s requests={done:7d} errors={failed}  RSS MB: "
                      + "  ".join(f"{pid}={samples[-1][1][pid] or 0:.1f}" for pid in workers), flush=True)
                next_sample += 10
            time.sleep(0.2)
        for thread in threads:
            thread.join(timeout=30)
        samples.append((time.monotonic() - started, {pid: rss_mb(pid) for pid in workers}))
        elapsed = time.monotonic() - started
        still_workers = child_pids(process.pid)
    finally:
        if process is not None:
            stop(process)
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    total = sum(load.counts.values())
    errors = sum(load.errors.values())
    log_text = (workdir / "gunicorn.log").read_text(errors="replace")
    tracebacks = log_text.count("Traceback")
    print()
    print(f"requests {total} in {elapsed:.1f} s ({total / elapsed:.0f}/s): "
          + ", ".join(f"{kind} {count}" for kind, count in sorted(load.counts.items())))
    print(f"errors {errors}" + (": " + "; ".join(load.error_samples) if load.error_samples else ""))
    print(f"server log tracebacks {tracebacks}")
    print()
    print(f"{'worker':>8}{'RSS start':>11}{'RSS mid':>9}{'RSS end':>9}{'2nd half':>10}")
    mid_index = len(samples) // 2
    levelled = True
    for pid in workers:
        first, mid, last = samples[0][1].get(pid), samples[mid_index][1].get(pid), samples[-1][1].get(pid)
        if None in (first, mid, last):
            print(f"{pid:>8}  (exited during the run)")
            levelled = False
            continue
        growth = last - mid
        levelled &= growth <= LEVEL_OFF_MB
        print(f"{pid:>8}{first:>10.1f}M{mid:>8.1f}M{last:>8.1f}M{growth:>+9.1f}M")
    checks = [
        (f"errors: {errors}", errors == 0 and tracebacks == 0),
        (f"memory levels off (second-half growth <= {LEVEL_OFF_MB:g} MB per worker)", levelled),
        ("no worker restarted", still_workers == workers),
    ]
    print()
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    print(f"\nsoak {'passed' if passed else 'failed'}")
    return 0 if passed or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
