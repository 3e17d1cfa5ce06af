#!/usr/bin/env python3
"""Avatar uploads: each gunicorn worker's memory, and the webhook's latency, while nine of the
largest images the app accepts are uploaded at once.

    .venv/bin/python bench/avatars.py [--uploads 9] [--format png] [--side N] [--workers N]
                                      [--threads N] [--limit-mb 400] [--database-url URL] [--strict]

What one run does:
1. creates a throwaway database on the PostgreSQL server (TEST_DATABASE_URL, default
   postgresql+psycopg://postgres@127.0.0.1:5432/test), builds it with the migrations, and drops it
   at the end;
2. starts the Clerk emulator (`python -m mentorly.emulator`, its own port and state directory, no
   webhooks of its own) to stand in for Clerk's Backend API: the app sends the avatars there;
3. serves the app with `gunicorn -c gunicorn.conf.py wsgi:app`, MENTORLY_ENV=production, its own
   control socket; workers and threads as gunicorn.conf.py sets them unless given;
4. creates `--uploads` users in the emulator, stores them in the app through signed `user.created`
   deliveries, marks them onboarded, and signs them in with RS256 session tokens the app trusts
   through CLERK_JWT_KEY; each loads the Profile section (its CSRF token) and uploads a small
   avatar, so every worker is warm;
5. makes the worst case: the largest image the app accepts (`--format`, default a PNG with
   transparency, `--side` pixels square, by default the largest square that passes), a file of a
   few hundred KB that decodes to the whole canvas;
6. resets each worker's peak RSS (/proc/PID/clear_refs), then: two webhook senders post signed
   `user.updated` deliveries back to back, each on a new connection; after a second the uploads
   start together (htmx requests of the Profile form); every worker's RSS is read from /proc every
   10 ms; the senders stop a second after the last upload is answered;
7. two seconds later reads each worker's RSS again, and its peak (VmHWM);
8. prints each worker's RSS before, at its peak and after, the uploads' answers and times, and the
   webhook's latency (median, p95, max) while the uploads ran, then PASS or FAIL for: each worker's
   peak under --limit-mb, every upload accepted and at Clerk 1024 px a side, every webhook answered
   200 and in under --webhook-limit seconds (default 5, a third of the 15 s Svix waits before it
   counts a delivery as failed), the memory given back (each worker within 50 MB of
   where it started), no worker restarted and no traceback in the log. `--strict` exits 1 on FAIL.

MB here are MiB (what /proc reports, divided by 1024). Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import psycopg
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image
from svix.webhooks import Webhook

from common import child_pids, create_database, drop_database, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
PROFILE = "/dashboard/settings/profile"
WEBHOOK = "/api/webhooks/clerk"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"mentorly-avatar-bench-secret").decode()
EMULATOR_SECRET = "sk_test_mentorly_avatar_bench"
AZP = f"http://{HOST}"
GIVE_BACK_MB = 50.0


# --- The largest image the app accepts -----------------------------------------------------------


def largest_side(image_format: str) -> int:
    """The side of the largest square image of this kind that the app's own rules accept."""
    import mentorly

    try:
        from mentorly import avatars
    except ImportError:
        avatars = None
    if avatars is None or Path(mentorly.__file__).parent != Path(avatars.__file__).parent:
        from mentorly.settings import forms  # before avatars had their own module: one cap on pixels

        return math.isqrt(forms.AVATAR_MAX_PIXELS)
    low, high = 1, 1 << 15
    while low < high:  # the rules only read the header, so probing costs nothing
        middle = (low + high + 1) // 2
        try:
            avatars.check_header(worst_case(image_format, middle))
        except ValueError:
            high = middle - 1
        else:
            low = middle
    return low


def worst_case(image_format: str, side: int) -> bytes:
    """A small file that decodes to `side` x `side` pixels, transparent where the format can be."""
    output = io.BytesIO()
    if image_format == "png":
        Image.new("RGBA", (side, side), (0, 0, 0, 0)).save(output, "PNG", compress_level=9)
    elif image_format == "webp":
        Image.new("RGBA", (side, side), (0, 0, 0, 0)).save(output, "WEBP", lossless=True)
    elif image_format == "gif":
        Image.new("P", (side, side), 0).save(output, "GIF", transparency=0)
    elif image_format == "jpeg":  # a phone photo, as cameras write it (baseline, 4:2:0)
        Image.new("RGB", (side, side), (40, 120, 200)).save(output, "JPEG", quality=85)
    else:
        raise ValueError(image_format)
    return output.getvalue()


def small_avatar() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 80, 40)).save(output, "PNG")
    return output.getvalue()


# --- Process memory (Linux /proc) ----------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class Sampler(threading.Thread):
    """Every worker's RSS every 10 ms, keeping each one's largest."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {pid: 0.0 for pid in pids}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for pid in self.pids:
                rss = memory_mb(pid).get("VmRSS", 0.0)
                if rss > self.peak[pid]:
                    self.peak[pid] = rss
            time.sleep(0.01)


# --- Clerk-shaped deliveries ----------------------------------------------------------------------


def envelope(event_type: str, data: dict, timestamp_ms: int) -> str:
    return json.dumps({"data": data, "object": "event", "type": event_type, "timestamp": timestamp_ms,
                       "instance_id": "ins_avatar_bench", "event_attributes": {"http_request": {"client_ip": HOST}}})


def webhook_user(user_id: str, version: int, base_ms: int) -> dict:
    updated = base_ms + version
    email_id = f"idn_{user_id[5:]}"
    return {
        "object": "user", "id": user_id, "username": f"wh_{user_id[-12:]}".lower(),
        "first_name": f"Hook{version}", "last_name": "Sender", "image_url": f"https://img.clerk.com/{user_id}",
        "primary_email_address_id": email_id, "public_metadata": {}, "private_metadata": {},
        "email_addresses": [{"id": email_id, "object": "email_address", "email_address": f"{user_id[5:]}@hooks.example",
                             "verification": {"status": "verified", "strategy": "email_code"}, "linked_to": []}],
        "phone_numbers": [], "external_accounts": [], "password_enabled": True, "two_factor_enabled": False,
        "created_at": base_ms, "updated_at": updated, "last_sign_in_at": updated,
    }


class Signer:
    def __init__(self) -> None:
        self.webhook = Webhook(SIGNING_SECRET)

    def headers(self, svix_id: str, body: str) -> dict[str, str]:
        now = datetime.now(UTC)
        return {"svix-id": svix_id, "svix-timestamp": str(int(now.timestamp())),
                "svix-signature": self.webhook.sign(svix_id, now, body), "Content-Type": "application/json"}


class WebhookSender(threading.Thread):
    """Posts `user.updated` for its own user back to back, each on a new connection (as Svix may)."""

    def __init__(self, number: int, port: int, base_ms: int, stop_event: threading.Event) -> None:
        super().__init__(daemon=True)
        self.user_id = f"user_avatarbenchhook{number:02d}"
        self.port = port
        self.base_ms = base_ms
        self.stop_event = stop_event
        self.signer = Signer()
        self.version = 0
        self.samples: list[tuple[float, float, int]] = []  # (sent at, seconds, status)

    def post(self, event_type: str = "user.updated") -> tuple[float, float, int]:
        self.version += 1
        body = envelope(event_type, webhook_user(self.user_id, self.version, self.base_ms), self.base_ms + self.version)
        headers = self.signer.headers(f"msg_{self.user_id}_{self.version}", body)
        sent = time.monotonic()
        try:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            conn.request("POST", WEBHOOK, body=body.encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except OSError:
            status = 0
        return sent, time.monotonic() - sent, status

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.samples.append(self.post())
            time.sleep(0.01)


# --- Servers ----------------------------------------------------------------------------------------


def wait_until(check, process: subprocess.Popen, log: Path, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if check():
                return
        except (OSError, requests.RequestException):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout:g} s:\n{log.read_text(errors='replace')[-3000:]}")


def start_emulator(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = workdir / "emulator.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORLY_", "CLERK_"))}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mentorly.emulator", "--host", HOST, "--port", str(port),
             "--state-dir", str(workdir / "emulator"), "--secret-key", EMULATOR_SECRET, "--no-webhooks", "--quiet"],
            cwd=ROOT, env=dict(env, MENTORLY_ENV="development"), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    wait_until(lambda: requests.get(f"{url}/__emulator/health", timeout=1).ok, process, log, "the emulator")
    return process, url


def gunicorn_setting(env: dict[str, str], name: str) -> int:
    """What gunicorn.conf.py sets `name` to under this environment."""
    return int(subprocess.run(
        [sys.executable, "-c", f"import runpy, sys; print(runpy.run_path(sys.argv[1])[{name!r}])",
         str(ROOT / "gunicorn.conf.py")], env=env, capture_output=True, text=True, check=True).stdout)


def start_app(env: dict[str, str], workdir: Path, args) -> tuple[subprocess.Popen, int, list[int], int]:
    port = free_port()
    log = workdir / "gunicorn.log"
    env = dict(env, GUNICORN_BIND=f"{HOST}:{port}", GUNICORN_CONTROL_SOCKET=str(workdir / "gunicorn.ctl"),
               GUNICORN_ACCESS_LOG="", GUNICORN_LOG_LEVEL="warning")
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT),
             "--control-socket", str(workdir / "gunicorn.ctl"), "wsgi:app"],
            env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    expected = gunicorn_setting(env, "workers")
    wait_until(lambda: requests.get(f"http://{HOST}:{port}/healthz", timeout=1).ok
               and len(child_pids(process.pid)) >= expected, process, log, "gunicorn")
    return process, port, child_pids(process.pid), gunicorn_setting(env, "threads")


# --- Users ---------------------------------------------------------------------------------------------


class Member:
    """One signed-in user with their own HTTP session (cookies: Clerk's token, Flask's session)."""

    def __init__(self, base_url: str, clerk_user: dict, key) -> None:
        self.base_url = base_url
        self.user_id = clerk_user["id"]
        self.http = requests.Session()
        now = int(time.time())
        claims = {"sub": self.user_id, "sid": f"sess_{uuid.uuid4().hex[:16]}", "iss": "https://clerk.example.com",
                  "azp": AZP, "iat": now, "nbf": now - 2, "exp": now + 900, "v": 2}
        self.http.cookies.set("__session", jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"}))
        self.csrf = ""

    def load_profile(self) -> None:
        response = self.http.get(self.base_url + PROFILE, timeout=30)
        response.raise_for_status()
        for cookie in self.http.cookies:  # production's cookies are Secure; this is plain HTTP on loopback
            cookie.secure = False
        marker = 'name="csrf-token" content="'
        start = response.text.index(marker) + len(marker)
        self.csrf = response.text[start:response.text.index('"', start)]

    def upload(self, data: bytes, filename: str) -> tuple[int, float, str]:
        started = time.monotonic()
        response = self.http.post(
            self.base_url + PROFILE,
            data={"csrf_token": self.csrf, "intent": "avatar"},
            files={"avatar": (filename, data, "application/octet-stream")},
            headers={"HX-Request": "true", "HX-Current-URL": self.base_url + PROFILE},
            timeout=120,
        )
        elapsed = time.monotonic() - started
        detail = ""
        if response.status_code != 200:
            text = response.text
            marker = 'class="field-error" id="avatar-error">'
            detail = text[text.index(marker) + len(marker):].split("<", 1)[0] if marker in text else text[:200]
        return response.status_code, elapsed, detail


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] if ordered else float("nan")


# --- Main --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=9, help="concurrent uploads (default 9)")
    parser.add_argument("--format", choices=("png", "webp", "gif", "jpeg"), default="png",
                        help="the worst-case image's format (default png, with transparency)")
    parser.add_argument("--side", type=int, default=0, help="its side in pixels (default: the largest accepted)")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=0, help="threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--limit-mb", type=float, default=400.0, help="each worker's peak RSS must stay under this")
    parser.add_argument("--webhook-limit", type=float, default=5.0,
                        help="every webhook during the uploads must be answered within this many seconds "
                        "(default 5: a third of the 15 s Svix waits)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL))
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a check fails")
    args = parser.parse_args(argv)
    if not 1 <= args.uploads <= 50:
        parser.error("--uploads must be 1-50")

    side = args.side or largest_side(args.format)
    image = worst_case(args.format, side)
    filename = f"worst.{args.format}"
    workdir = Path(tempfile.mkdtemp(prefix="mentorly-avatars-"))
    admin, db_name, database = create_database(args.database_url)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    emulator = app = None
    try:
        emulator, emulator_url = start_emulator(workdir)
        ours = ("MENTORLY_", "CLERK_", "GUNICORN_", "WEB_")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        emulator_host = emulator_url.removeprefix("http://")
        env = dict(
            base_env,
            MENTORLY_ENV="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=database,
            CLERK_SECRET_KEY=EMULATOR_SECRET,
            CLERK_PUBLISHABLE_KEY="pk_test_" + base64.b64encode(f"{emulator_host}$".encode()).decode(),
            CLERK_API_URL=f"{emulator_url}/v1",
            CLERK_JWT_KEY=public_pem,
            CLERK_AUTHORIZED_PARTIES=AZP,
            CLERK_WEBHOOK_SIGNING_SECRET=SIGNING_SECRET,
            MENTORLY_INSTANCE_PATH=str(workdir / "instance"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        migrated = subprocess.run([sys.executable, "-m", "flask", "--app", "mentorly", "db", "upgrade"],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
        if migrated.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{migrated.stderr[-3000:]}")
        app, port, workers, threads_per_worker = start_app(env, workdir, args)
        base_url = f"http://{HOST}:{port}"

        # Users: in Clerk (the emulator), here through signed user.created deliveries, onboarded.
        signer = Signer()
        admin_http = requests.Session()
        admin_http.headers["Authorization"] = f"Bearer {EMULATOR_SECRET}"
        base_ms = int(time.time() * 1000) - 60_000
        members = []
        for number in range(args.uploads):
            created = admin_http.post(f"{emulator_url}/__emulator/users", timeout=10, json={
                "email": f"avatar-{number}-{uuid.uuid4().hex[:8]}@example.test", "first_name": "Ava",
                "last_name": f"Tar{number}", "username": f"ava_{number}_{uuid.uuid4().hex[:6]}"})
            created.raise_for_status()
            clerk_user = created.json()
            body = envelope("user.created", clerk_user, base_ms)
            posted = admin_http.post(base_url + WEBHOOK, data=body, timeout=10,
                                     headers=signer.headers(f"msg_setup_{clerk_user['id']}", body))
            posted.raise_for_status()
            members.append(Member(base_url, clerk_user, key))
        stop_senders = threading.Event()
        senders = [WebhookSender(number, port, base_ms, stop_senders) for number in range(2)]
        for sender in senders:
            assert sender.post("user.created")[2] == 200, "the webhook refused a user.created delivery"
        with psycopg.connect(f"{admin.rsplit('/', 1)[0]}/{db_name}", autocommit=True) as conn:
            conn.execute("UPDATE users SET is_onboarded = true, onboarding_step = 4 WHERE clerk_id = ANY(%s)",
                         ([m.user_id for m in members],))

        # Warm-up: every member loads the section and uploads a small avatar.
        warm = small_avatar()
        for member in members:
            member.load_profile()
            status, _, detail = member.upload(warm, "warm.png")
            if status != 200:
                raise RuntimeError(f"the warm-up upload was answered {status}: {detail}")
        for _ in range(20):
            for sender in senders:
                sender.post()
        time.sleep(1.0)
        before = {pid: memory_mb(pid).get("VmRSS", 0.0) for pid in workers}
        peaks_reset = all(reset_peak(pid) for pid in workers)

        print(f"avatar benchmark: {args.uploads} concurrent uploads of a {args.format.upper()} of {side}x{side} "
              f"pixels, a file of {len(image):,} bytes; gunicorn {len(workers)} workers x {threads_per_worker} threads "
              f"(gunicorn.conf.py), production; database {db_name}", flush=True)

        # The measured window.
        sampler = Sampler(workers)
        sampler.start()
        for sender in senders:
            sender.start()
        time.sleep(1.0)
        results: list[tuple[int, float, str]] = [(0, 0.0, "")] * len(members)
        barrier = threading.Barrier(len(members) + 1)

        def upload(index: int) -> None:
            barrier.wait()
            results[index] = members[index].upload(image, filename)

        uploaders = [threading.Thread(target=upload, args=(i,), daemon=True) for i in range(len(members))]
        for thread in uploaders:
            thread.start()
        barrier.wait()
        uploads_start = time.monotonic()
        for thread in uploaders:
            thread.join(timeout=180)
        uploads_end = time.monotonic()
        time.sleep(1.0)
        stop_senders.set()
        for sender in senders:
            sender.join(timeout=60)
        sampler.stopped.set()
        sampler.join()
        time.sleep(2.0)
        after = {pid: memory_mb(pid) for pid in workers}
        still = child_pids(app.pid)

        # What reached Clerk.
        sizes = []
        for member in members:
            user = admin_http.get(f"{emulator_url}/v1/users/{member.user_id}", timeout=10).json()
            stored = admin_http.get(user["image_url"], timeout=10)
            with Image.open(io.BytesIO(stored.content)) as avatar:
                sizes.append(avatar.size)
    finally:
        for process in (app, emulator):
            if process is not None:
                stop(process)
        drop_database(admin, db_name)

    log_text = (workdir / "gunicorn.log").read_text(errors="replace")
    tracebacks = log_text.count("Traceback")
    during = [s for sender in senders for s in sender.samples if uploads_start <= s[0] <= uploads_end]
    latencies = [seconds * 1000 for _, seconds, status in during if status == 200]
    failed = [status for _, _, status in during if status != 200]
    all_failed = sum(1 for sender in senders for _, _, status in sender.samples if status != 200)

    print()
    print(f"{'worker':>8}{'RSS before':>12}{'peak':>9}{'after':>9}   (MB)")
    peaks = {}
    for pid in workers:
        peak = max(sampler.peak[pid], after[pid].get("VmHWM", 0.0) if peaks_reset else 0.0)
        peaks[pid] = peak
        print(f"{pid:>8}{before[pid]:>12.0f}{peak:>9.0f}{after[pid].get('VmRSS', float('nan')):>9.0f}")
    if not peaks_reset:
        print("  (peaks sampled every 10 ms: /proc/PID/clear_refs was not writable)")
    print()
    statuses = sorted(status for status, _, _ in results)
    times = sorted(seconds for _, seconds, _ in results)
    print(f"uploads: answers {', '.join(map(str, statuses))}; time {times[0]:.2f}-{times[-1]:.2f} s "
          f"(median {statistics.median(times):.2f} s); at Clerk: {', '.join(sorted({f'{w}x{h}' for w, h in sizes}))}")
    for status, _, detail in results:
        if status != 200:
            print(f"  ! {status}: {detail}")
    median = statistics.median(latencies) if latencies else float("nan")
    print(f"webhooks during the uploads ({uploads_end - uploads_start:.1f} s): {len(during)} sent, "
          f"{len(failed)} not answered 200; latency median {median:.0f} ms, "
          f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies, default=float('nan')):.0f} ms")
    checks = [
        (f"each worker's peak RSS under {args.limit_mb:g} MB (highest {max(peaks.values()):.0f} MB)",
         max(peaks.values()) < args.limit_mb),
        (f"every upload accepted and at Clerk 1024 px a side ({statuses.count(200)}/{len(results)})",
         statuses.count(200) == len(results) and all(max(size) == 1024 for size in sizes)),
        (f"every webhook answered 200 ({all_failed} not) and within {args.webhook_limit:g} s during the uploads "
         f"(max {max(latencies, default=0) / 1000:.2f} s)",
         all_failed == 0 and bool(during) and not failed and max(latencies) <= args.webhook_limit * 1000),
        (f"memory given back: each worker within {GIVE_BACK_MB:g} MB of its RSS before (largest difference "
         f"{max(after[pid].get('VmRSS', 1e9) - before[pid] for pid in workers):+.0f} MB)",
         all(after[pid].get("VmRSS", 1e9) - before[pid] <= GIVE_BACK_MB for pid in workers)),
        (f"no worker restarted, no traceback in the log ({tracebacks})", still == workers and tracebacks == 0),
    ]
    print()
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    if args.keep_logs or not passed:
        print(f"\nserver logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if passed or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
