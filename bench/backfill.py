#!/usr/bin/env python3
"""Backfill throughput: `flask clerk backfill` from the Clerk emulator into PostgreSQL.

    .venv/bin/python bench/backfill.py [--users 10000] [--database-url URL]

What one run does:
1. starts the Clerk emulator (`python -m mentorly.emulator`, webhooks off) on a free local port
   with a throwaway state directory, and fills it with N users in one control call;
2. creates a throwaway database on the PostgreSQL server (TEST_DATABASE_URL, default
   postgresql+psycopg://postgres@127.0.0.1:5432/test) and builds it with the migrations;
3. runs `flask --app mentorly clerk backfill` (MENTORLY_ENV=production, pointed at the emulator)
   twice, as an operator would: the first run creates every user, the second finds nothing to do;
4. prints, for each run, the wall time of the command, the backfill's own time, users per second
   and the counts; checks the rows against the emulator; drops the database, stops the emulator.

Target: the first run of 10,000 users in at most 20 s on a 2-core machine. `--strict` makes a
missed target exit with status 1. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

from common import create_database, drop_database, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOST = "127.0.0.1"
SECRET_KEY = "sk_test_backfill_benchmark"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"mentorly-backfill-benchmark").decode()
TARGET_FIRST_RUN_S = 20.0


def start_emulator(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = open(workdir / "emulator.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mentorly.emulator", "--host", HOST, "--port", str(port),
         "--state-dir", str(workdir / "emulator"), "--secret-key", SECRET_KEY,
         "--webhook-secret", WEBHOOK_SECRET, "--no-webhooks", "--quiet"],
        cwd=ROOT, env=dict(os.environ, MENTORLY_ENV="development"), stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited:\n{(workdir / 'emulator.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/__emulator/health", timeout=1).ok:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the emulator did not start")


def run_backfill(env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "mentorly", "clerk", "backfill"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"backfill failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def parse(output: str) -> tuple[float, dict[str, int]]:
    seconds = float(re.search(r"pages, ([0-9.]+) s\.", output).group(1))
    counts = {name: int(value) for name, value in re.findall(r"^\s+(\w+)\s+(\d+)$", output, re.M)}
    return seconds, counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="users in the emulator (default 10000)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL),
                        help="PostgreSQL server for the throwaway database (default TEST_DATABASE_URL)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 200_000:
        parser.error("--users must be between 1 and 200000")

    workdir = Path(tempfile.mkdtemp(prefix="mentorly-backfill-bench-"))
    emulator, emulator_url = start_emulator(workdir)
    admin, db_name, db_url = create_database(args.database_url)
    try:
        created = requests.post(f"{emulator_url}/__emulator/users/bulk", json={"count": args.users}, timeout=300)
        created.raise_for_status()
        host = f"{HOST}:{emulator_url.rsplit(':', 1)[1]}"
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORLY_", "CLERK_"))}
        env = dict(
            base_env,
            MENTORLY_ENV="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=db_url,
            CLERK_SECRET_KEY=SECRET_KEY,
            CLERK_PUBLISHABLE_KEY="pk_test_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("="),
            CLERK_API_URL=f"{emulator_url}/v1",
            CLERK_WEBHOOK_SIGNING_SECRET=WEBHOOK_SECRET,
            CLERK_AUTHORIZED_PARTIES="http://127.0.0.1",
            MENTORLY_INSTANCE_PATH=str(workdir / "instance"),
        )
        subprocess.run([sys.executable, "-m", "flask", "--app", "mentorly", "db", "upgrade"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"backfill benchmark: {args.users} users in the emulator, database {db_name}, {os.cpu_count()} CPUs")
        print(f"{'run':<10}{'wall s':>9}{'backfill s':>12}{'users/s':>10}  counts")
        results = []
        for label in ("first", "no-op"):
            wall, output = run_backfill(env)
            seconds, counts = parse(output)
            results.append((label, wall, seconds, counts))
            rate = args.users / wall if wall else float("nan")
            shown = " ".join(f"{k}={v}" for k, v in counts.items())
            print(f"{label:<10}{wall:>9.2f}{seconds:>12.2f}{rate:>10.0f}  {shown}", flush=True)

        with psycopg.connect(f"{admin.rsplit('/', 1)[0]}/{db_name}") as conn:
            live = conn.execute("SELECT count(*) FROM users WHERE deleted_at IS NULL").fetchone()[0]
        first, noop = results
        checks = [
            (f"first run created {first[3].get('created')} of {args.users}", first[3].get("created") == args.users),
            (f"no-op run: {noop[3].get('unchanged')} unchanged, nothing written",
             noop[3].get("unchanged") == args.users and noop[3].get("created") == 0 and noop[3].get("updated") == 0),
            (f"database holds {live} live users", live == args.users),
            (f"first run {first[1]:.1f} s <= {TARGET_FIRST_RUN_S:g} s (wall time of the command)",
             first[1] <= TARGET_FIRST_RUN_S or args.users != 10_000),
        ]
        print()
        print(f"first run:  {args.users / first[1]:.0f} users/s (command), {args.users / first[2]:.0f} users/s (backfill)")
        print(f"no-op run:  {noop[1]:.2f} s (command), {noop[2]:.2f} s (backfill)")
        print()
        for label, passed in checks:
            print(f"{'PASS' if passed else 'FAIL'}  {label}")
        passed = all(ok for _, ok in checks)
        print(f"\ntargets {'met' if passed else 'missed'}")
        return 0 if passed or not args.strict else 1
    finally:
        drop_database(admin, db_name)
        stop(emulator)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
