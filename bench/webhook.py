#!/usr/bin/env python3
"""Webhook throughput: Mentorly's `POST /api/webhooks/clerk` against a minimal reference handler.

    .venv/bin/python bench/webhook.py [--seconds 15] [--clients 8] [--rounds 2] [--database-url URL]

What one run does:
1. creates a throwaway database on the PostgreSQL server (TEST_DATABASE_URL, default
   postgresql+psycopg://postgres@127.0.0.1:5432/test), builds it with the migrations
   (`flask --app mentorly db upgrade`), and drops it at the end;
2. builds distinct Clerk `user.created` / `user.updated` deliveries (each user created, then updated
   with a later `updated_at`), signed with the svix library before the clock starts;
3. for each round, serves first the product (`gunicorn wsgi:app`, MENTORLY_ENV=production) and
   then the reference (`bench/reference_app.py`: a bare Flask view that verifies the signature and
   runs the same two statements with psycopg) under identical gunicorn settings, one at a time, on
   an emptied database; 8 keep-alive clients post for a warm-up and then a timed window;
4. prints deliveries per second, p50 / p99 latency, errors and CPU per delivery for each, the
   medians over the rounds, the ratio product / reference (of the medians, and round by round:
   a back-to-back pair sees the same machine), and whether the targets hold (ratio >= 0.8,
   product p99 <= 1.5 x the reference's p99, no errors). `--strict` makes a missed target exit with status 1.

Traffic goes only to 127.0.0.1, and every loop is bounded by time and by the number of
pre-signed deliveries.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from svix.webhooks import Webhook

from common import child_pids, create_database, drop_database, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
PATH = "/api/webhooks/clerk"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"mentorly-benchmark-signing-secret").decode()
# pk_test_ + base64("clerk.example.com$"): a well-formed key; nothing here talks to Clerk.
PUBLISHABLE_KEY = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"
USERS_PER_BLOCK = 25  # each client creates this many users, then updates each of them
UPDATES_PER_USER = 3

TARGET_RATIO = 0.8
# An absolute p99 on a saturated 2-core machine measures the machine: compare with the
# reference's p99 in the same run instead.
TARGET_P99_RATIO = 1.5


# --- Deliveries --------------------------------------------------------------------------------


def clerk_user(client: int, number: int, version: int, base_ms: int) -> dict:
    """A Clerk User object shaped like Clerk's payloads (see shared/clerk/payloads)."""
    user_id = f"user_bench{client:02d}x{number:07d}"
    email_id = f"idn_bench{client:02d}x{number:07d}"
    created_ms = base_ms + number
    updated_ms = created_ms + version * 1000
    has_google = number % 3 == 0
    return {
        "object": "user",
        "id": user_id,
        "external_id": None,
        "primary_email_address_id": email_id,
        "primary_phone_number_id": None,
        "primary_web3_wallet_id": None,
        "username": f"bench_{client}_{number}",
        "first_name": f"First{version}",
        "last_name": f"Last{client}x{number}",
        "profile_image_url": f"https://img.clerk.com/{user_id}",
        "image_url": f"https://img.clerk.com/{user_id}?v={version}",
        "has_image": True,
        "public_metadata": {"onboardingComplete": version > 1},
        "private_metadata": {},
        "unsafe_metadata": {},
        "email_addresses": [
            {
                "id": email_id,
                "object": "email_address",
                "email_address": f"bench-{client}-{number}@example.com",
                "reserved": False,
                "verification": {"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": None},
                "linked_to": [{"type": "oauth_google", "id": f"idn_g{client}x{number}"}] if has_google else [],
                "created_at": created_ms,
                "updated_at": created_ms,
            }
        ],
        "phone_numbers": [],
        "web3_wallets": [],
        "passkeys": [],
        "password_enabled": not has_google,
        "two_factor_enabled": version % 2 == 0,
        "totp_enabled": False,
        "backup_code_enabled": False,
        "external_accounts": [
            {
                "object": "google_account",
                "id": f"idn_g{client}x{number}",
                "provider": "oauth_google",
                "email_address": f"bench-{client}-{number}@example.com",
                "username": None,
                "verification": {"status": "verified", "strategy": "oauth_google"},
            }
        ]
        if has_google
        else [],
        "saml_accounts": [],
        "enterprise_accounts": [],
        "last_sign_in_at": updated_ms,
        "banned": False,
        "locked": False,
        "lockout_expires_in_seconds": None,
        "verification_attempts_remaining": 100,
        "updated_at": updated_ms,
        "created_at": created_ms,
        "delete_self_enabled": True,
        "create_organization_enabled": True,
        "create_organizations_limit": None,
        "last_active_at": updated_ms,
        "legal_accepted_at": None,
    }


def client_bodies(client: int, count: int, base_ms: int) -> list[str]:
    """`count` bodies for one client: blocks of new users, each then updated in order."""
    bodies: list[str] = []
    block = 0
    while len(bodies) < count:
        first = block * USERS_PER_BLOCK
        for version in range(UPDATES_PER_USER + 1):
            for number in range(first, first + USERS_PER_BLOCK):
                user = clerk_user(client, number, version, base_ms)
                envelope = {
                    "data": user,
                    "event_attributes": {"http_request": {"client_ip": "192.0.2.10", "user_agent": "bench"}},
                    "instance_id": "ins_bench",
                    "object": "event",
                    "timestamp": user["updated_at"],
                    "type": "user.created" if version == 0 else "user.updated",
                }
                bodies.append(json.dumps(envelope, separators=(",", ":")))
        block += 1
    return bodies[:count]


def signed_requests(bodies: list[list[str]], tag: str, port: int) -> list[list[bytes]]:
    """Complete HTTP/1.1 requests, each with a new svix-id, signed now."""
    webhook = Webhook(SIGNING_SECRET)
    now = datetime.now(UTC)
    stamp = str(int(now.timestamp()))
    out = []
    for client, client_list in enumerate(bodies):
        requests = []
        for index, body in enumerate(client_list):
            msg_id = f"msg_{tag}_{client}_{index}"
            signature = webhook.sign(msg_id, now, body)
            payload = body.encode()
            head = (
                f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nsvix-id: {msg_id}\r\nsvix-timestamp: {stamp}\r\n"
                f"svix-signature: {signature}\r\nUser-Agent: Svix-Webhooks/1.0\r\n\r\n"
            )
            requests.append(head.encode() + payload)
        out.append(requests)
    return out


# --- A small keep-alive HTTP client ------------------------------------------------------------


class Connection:
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def request(self, raw: bytes) -> tuple[int, bool]:
        """Send one request; returns (status, server asked to close)."""
        self.sock.sendall(raw)
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buffer += chunk
            if len(buffer) > 1_000_000:
                raise ConnectionError("response headers too large")
        head = buffer[:end].decode("latin-1").lower()
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value:
                close = True
        total = end + 4 + length
        while len(buffer) < total:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            buffer += chunk
        self.buffer = buffer[total:]
        return status, close


def get(port: int, path: str, conn: Connection | None = None) -> int:
    raw = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    own = conn is None
    conn = conn or Connection(port, timeout=5)
    try:
        return conn.request(raw)[0]
    finally:
        if own:
            conn.close()


# --- Which gunicorn worker holds a connection (Linux /proc), to spread clients evenly ------------


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def server_socket_inode(server_port: int, client_port: int) -> str | None:
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(local) and fields[2].endswith(remote):
                return fields[9]
    return None


def owner(master: int, conn: Connection) -> int | None:
    inode = server_socket_inode(conn.port, conn.local_port)
    if inode is None:
        return None
    for pid in child_pids(master):
        if inode in socket_inodes(pid):
            return pid
    return None


def open_balanced(port: int, master: int, clients: int, workers: int) -> tuple[list[Connection], str]:
    """`clients` connections, spread as evenly as possible over the workers (bounded retries)."""
    per_worker = math.ceil(clients / workers)
    counts: dict[int, int] = {}
    conns: list[Connection] = []
    attempts = 0
    while len(conns) < clients:
        conn = Connection(port)
        if get(port, "/healthz", conn) != 200:  # once answered, a worker holds the socket
            raise RuntimeError("server not healthy")
        attempts += 1
        pid = owner(master, conn)
        if pid is not None and counts.get(pid, 0) >= per_worker and attempts < clients * 20:
            conn.close()
            time.sleep(0.01)
            continue
        counts[pid or 0] = counts.get(pid or 0, 0) + 1
        conns.append(conn)
    return conns, "/".join(str(n) for n in sorted(counts.values(), reverse=True))


# --- Servers -----------------------------------------------------------------------------------


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes so far (seconds)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    app: str
    chdir: Path
    env: dict[str, str]


def start(server: Server, args, workdir: Path, tag: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log_path = workdir / f"{tag}-{server.name}.log"
    # Every setting on the command line, and an empty config file instead of the project's
    # gunicorn.conf.py (production's access log and worker count): both servers run the same.
    config = workdir / "gunicorn.bench.conf.py"
    config.write_text("# Empty: the benchmark passes every setting on the command line.\n")
    command = [
        str(BIN / "gunicorn"), server.app,
        "--config", str(config),
        "--chdir", str(server.chdir),
        "--bind", f"{HOST}:{port}",
        "--workers", str(args.workers),
        "--worker-class", "gthread",
        "--threads", str(args.threads),
        "--keep-alive", "30",
        "--graceful-timeout", "5",
        "--log-level", "warning",
        "--control-socket", str(workdir / f"{tag}-{server.name}.ctl"),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=server.env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if get(port, "/healthz") == 200 and len(child_pids(process.pid)) >= args.workers:
                return process, port, log_path
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"{server.name} server did not become healthy:\n{log_path.read_text()[-3000:]}")


# --- One measured run --------------------------------------------------------------------------


@dataclass
class Result:
    server: str
    rate: float
    p50: float
    p99: float
    errors: int
    answered: int
    spread: str
    exhausted: int
    app_cpu_ms: float  # server CPU per delivery in the timed window (gunicorn workers)
    db_cpu_ms: float  # PostgreSQL backend CPU per delivery in the timed window
    client_cpu_ms: float  # this process's CPU per delivery in the timed window (the 8 clients)
    problems: list[str] = field(default_factory=list)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def drive(conns: list[Connection], requests: list[list[bytes]], warmup: float, seconds: float, on_window=None):
    """Post from one thread per connection; returns per-thread (done_at, latency, ok) and errors.

    `on_window(edge)` is called from this thread at the start and the end of the timed window.
    """
    barrier = threading.Barrier(len(conns) + 1)
    begin = [0.0]
    outputs: list[tuple[list[tuple[float, float]], int, int, bool]] = [([], 0, 0, False)] * len(conns)

    def client(index: int) -> None:
        conn = conns[index]
        samples: list[tuple[float, float]] = []
        errors = ok = 0
        exhausted = True
        barrier.wait()
        stop_at = begin[0] + warmup + seconds
        clock = time.perf_counter
        for raw in requests[index]:
            sent = clock()
            if sent >= stop_at:
                exhausted = False
                break
            try:
                status, close = conn.request(raw)
            except (OSError, ValueError):
                errors += 1
                conn.close()
                try:
                    conn = conns[index] = Connection(conn.port)
                except OSError:
                    time.sleep(0.05)
                continue
            done = clock()
            if status == 200:
                ok += 1
                samples.append((done, done - sent))
            else:
                errors += 1
                samples.append((done, -1.0))
            if close:
                conn.close()
                try:
                    conn = conns[index] = Connection(conn.port)
                except OSError:
                    errors += 1
                    time.sleep(0.05)
        outputs[index] = (samples, errors, ok, exhausted)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    begin[0] = time.perf_counter()
    barrier.wait()
    if on_window is not None:
        for edge, at in (("start", begin[0] + warmup), ("end", begin[0] + warmup + seconds)):
            time.sleep(max(0.0, at - time.perf_counter()))
            on_window(edge)
    for thread in threads:
        thread.join(timeout=warmup + seconds + 60)
    return begin[0], outputs


def run_once(server: Server, args, workdir: Path, bodies, tag: str, admin: str, db_name: str) -> Result:
    reset_database(admin, db_name)
    process, port, log_path = start(server, args, workdir, tag)
    problems: list[str] = []
    try:
        requests = signed_requests(bodies, f"{tag}{server.name[0]}", port)
        conns, spread = open_balanced(port, process.pid, args.clients, args.workers)
        workers = child_pids(process.pid)
        cpu: dict[str, float] = {}

        def on_window(edge: str) -> None:
            if edge == "start":
                with psycopg.connect(f"{admin_base(admin)}/{db_name}", autocommit=True) as conn:
                    rows = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (db_name,),
                    ).fetchall()
                cpu["backends"] = [pid for (pid,) in rows]  # type: ignore[assignment]
                if args.priority:
                    for pid in cpu["backends"]:  # type: ignore[attr-defined]
                        try:
                            os.setpriority(os.PRIO_PROCESS, pid, -args.priority)
                        except OSError:
                            pass
            cpu[f"app_{edge}"] = cpu_seconds(workers)
            cpu[f"db_{edge}"] = cpu_seconds(cpu["backends"])  # type: ignore[arg-type]
            cpu[f"client_{edge}"] = time.process_time()

        begin, outputs = drive(conns, requests, args.warmup, args.seconds, on_window)
        for conn in conns:
            conn.close()
        del requests
    finally:
        stop(process)

    window_start, window_end = begin + args.warmup, begin + args.warmup + args.seconds
    latencies, errors, answered, exhausted = [], 0, 0, 0
    for samples, thread_errors, ok, ran_out in outputs:
        errors += thread_errors
        answered += ok
        exhausted += ran_out
        for done, latency in samples:
            if window_start <= done <= window_end and latency >= 0:
                latencies.append(latency * 1000)
    latencies.sort()
    count = max(len(latencies), 1)
    app_cpu = 1000 * (cpu.get("app_end", 0) - cpu.get("app_start", 0)) / count
    db_cpu = 1000 * (cpu.get("db_end", 0) - cpu.get("db_start", 0)) / count
    client_cpu = 1000 * (cpu.get("client_end", 0) - cpu.get("client_start", 0)) / count
    if exhausted:
        problems.append(f"{exhausted} client(s) ran out of pre-signed deliveries: raise --max-rate")

    # What was answered 200 must be exactly what the database recorded, all applied.
    with psycopg.connect(f"{admin_base(admin)}/{db_name}") as conn:
        events = dict(conn.execute("SELECT status, count(*) FROM webhook_events GROUP BY status").fetchall())
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    if events != ({"applied": answered} if answered else {}):
        problems.append(f"answered {answered} x 200 but webhook_events holds {events}")
    log_errors = [line for line in log_path.read_text().splitlines() if "Traceback" in line or " ERROR " in line]
    if log_errors:
        problems.append(f"server log has errors: {log_errors[0][:200]}")
    return Result(
        server.name, len(latencies) / args.seconds, percentile(latencies, 0.50), percentile(latencies, 0.99),
        errors, answered, spread, exhausted, app_cpu, db_cpu, client_cpu,
        problems + ([] if users else ["no users written"]),
    )


# --- Database ----------------------------------------------------------------------------------


def admin_base(admin: str) -> str:
    return admin.rsplit("/", 1)[0]


def reset_database(admin: str, db_name: str) -> None:
    with psycopg.connect(f"{admin_base(admin)}/{db_name}", autocommit=True) as conn:
        conn.execute("TRUNCATE webhook_events, users RESTART IDENTITY CASCADE")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


# --- Main --------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timed window per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="product/reference pairs, alternated (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker (default 4)")
    parser.add_argument("--max-rate", type=int, default=2500,
                        help="deliveries per second to pre-sign for each run (a hard cap; default 2500)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL),
                        help="PostgreSQL server to create the throwaway database on (default TEST_DATABASE_URL)")
    parser.add_argument("--product-app", default="wsgi:app", help="the product's WSGI target (default wsgi:app)")
    parser.add_argument("--priority", type=int, default=0, metavar="N",
                        help="run the servers, clients and their PostgreSQL backends at nice -N (needs root; "
                        "steadier figures on a shared machine)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (kept anyway on a problem)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.clients < 1 or args.rounds < 1 or args.workers < 1:
        parser.error("seconds, clients, rounds and workers must be positive")
    if args.seconds + args.warmup > 240:
        parser.error("a run must fit well inside Svix's 5-minute signature tolerance")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.priority:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -args.priority)  # inherited by the servers
        except OSError as exc:
            print(f"--priority ignored: {exc}")
            args.priority = 0
    admin, db_name, db_url = create_database(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="mentorly-bench-"))
    base_env = {key: value for key, value in os.environ.items() if not key.startswith(("MENTORLY_", "CLERK_"))}
    product_env = dict(
        base_env,
        MENTORLY_ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=db_url,
        CLERK_SECRET_KEY="sk_test_benchmark_not_used",
        CLERK_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CLERK_WEBHOOK_SIGNING_SECRET=SIGNING_SECRET,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    reference_env = dict(
        base_env,
        CLERK_WEBHOOK_SIGNING_SECRET=SIGNING_SECRET,
        BENCH_PSYCOPG_URL=f"{admin_base(admin)}/{db_name}",
    )
    servers = [
        Server("product", args.product_app, ROOT, product_env),
        Server("reference", "reference_app:app", BENCH, reference_env),
    ]
    results: list[Result] = []
    try:
        migrated = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "mentorly", "db", "upgrade"],
            cwd=ROOT, env=product_env, capture_output=True, text=True,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{migrated.stderr[-3000:]}")
        per_client = math.ceil(args.max_rate * (args.seconds + args.warmup) / args.clients)
        base_ms = int(time.time() * 1000) - 86_400_000
        bodies = [client_bodies(client, per_client, base_ms) for client in range(args.clients)]
        print(
            f"webhook benchmark: gunicorn gthread {args.workers} workers x {args.threads} threads, "
            f"{args.clients} keep-alive clients, {args.warmup:g} s warm-up + {args.seconds:g} s, "
            f"{args.rounds} round(s), database {db_name}"
        )
        print(
            f"{'run':<14}{'deliveries/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'answered':>10}"
            f"{'app cpu':>9}{'db cpu':>8}{'client cpu':>12}  conns/worker"
        )
        for round_number in range(1, args.rounds + 1):
            for server in servers:
                result = run_once(server, args, workdir, bodies, f"r{round_number}", admin, db_name)
                results.append(result)
                print(
                    f"{server.name + ' ' + str(round_number):<14}{result.rate:>13.0f}{result.p50:>9.2f}"
                    f"{result.p99:>9.2f}{result.errors:>8}{result.answered:>10}"
                    f"{result.app_cpu_ms:>9.3f}{result.db_cpu_ms:>8.3f}{result.client_cpu_ms:>12.3f}  {result.spread}",
                    flush=True,
                )
                for problem in result.problems:
                    print(f"  ! {problem}")
            product_rate, reference_rate = (r.rate for r in results[-2:])
            # Back to back, a pair sees the same machine: its ratio moves less than the rates do.
            print(f"{'  ratio':<14}{product_rate / reference_rate if reference_rate else float('nan'):>13.2f}")
    finally:
        drop_database(admin, db_name)
        if not args.keep_logs and not any(r.problems for r in results):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"server logs kept in {workdir}")

    def summary(name: str) -> tuple[float, float, float, int, float, float, float]:
        mine = [r for r in results if r.server == name]
        return (
            statistics.median(r.rate for r in mine),
            statistics.median(r.p50 for r in mine),
            statistics.median(r.p99 for r in mine),
            sum(r.errors for r in mine),
            statistics.median(r.app_cpu_ms for r in mine),
            statistics.median(r.db_cpu_ms for r in mine),
            statistics.median(r.client_cpu_ms for r in mine),
        )

    product, reference = summary("product"), summary("reference")
    ratio = product[0] / reference[0] if reference[0] else float("nan")
    pairs = zip(results[0::2], results[1::2])
    round_ratios = " ".join(f"{p.rate / r.rate:.2f}" if r.rate else "nan" for p, r in pairs)
    print()
    print(f"{'median':<14}{'deliveries/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'':>10}{'app cpu':>9}{'db cpu':>8}{'client cpu':>12}")
    for name, figures in (("product", product), ("reference", reference)):
        print(
            f"{name:<14}{figures[0]:>13.0f}{figures[1]:>9.2f}{figures[2]:>9.2f}{figures[3]:>8}{'':>10}"
            f"{figures[4]:>9.3f}{figures[5]:>8.3f}{figures[6]:>12.3f}"
        )
    print("(errors: non-200 answers and failed requests, warm-up included; app / db / client cpu: CPU ms")
    print(" per delivery of the gunicorn workers / their PostgreSQL backends / the clients, timed window)")
    cost_ratio = (reference[4] + reference[5]) / (product[4] + product[5]) if product[4] + product[5] else float("nan")
    print(f"cost ratio (reference / product server CPU per delivery, less sensitive to a busy machine): {cost_ratio:.2f}")
    problems = [p for r in results for p in r.problems]
    checks = [
        (
            f"throughput ratio product/reference {ratio:.2f} >= {TARGET_RATIO} (by round: {round_ratios})",
            ratio >= TARGET_RATIO,
        ),
        (
            f"product p99 {product[2]:.2f} ms <= {TARGET_P99_RATIO:g} x reference p99 {reference[2]:.2f} ms",
            product[2] <= TARGET_P99_RATIO * reference[2],
        ),
        (f"errors: product {product[3]}, reference {reference[3]}", product[3] == 0 and reference[3] == 0),
        ("database matches the answers" + (f" ({len(problems)} problem(s) above)" if problems else ""), not problems),
    ]
    print()
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    print(f"\ntargets {'met' if passed else 'missed'}")
    return 0 if passed or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
