#!/usr/bin/env python3
"""Settings pages: server time and size of the whole settings page and of the Profile fragment.

    .venv/bin/python bench/pages.py [--requests 500] [--database-url URL] [--strict]

What one run does:
1. creates a throwaway database on the PostgreSQL server (TEST_DATABASE_URL, default
   postgresql+psycopg://postgres@127.0.0.1:5432/test), builds it with the migrations, and drops
   it at the end;
2. stores one onboarded user (from a Clerk-shaped User object, through `sync_user_to_db`) and
   signs it in with an RS256 session token signed by a key made for this run, which the app
   trusts through CLERK_JWT_KEY (no network: nothing talks to Clerk);
3. after a warm-up, times `GET /dashboard/settings/profile` as a whole page (no HX-Request) and
   as the htmx fragment (HX-Request), alternating with `GET /healthz` (one `SELECT 1`: the
   reference for what any request costs on this machine), through the WSGI app: every settings
   request verifies the session token and loads the user from PostgreSQL, as in production;
4. prints p50 / p99 server time and the body size in bytes of each, and whether the targets hold:
   fragment p50 <= 5 ms and within 3 ms of /healthz's p50, fragment <= a quarter of the page's
   bytes. `--strict` exits 1 on a miss.

The page's size is the HTML document alone; the stylesheets and scripts it loads (cached by the
browser after the first page) are printed separately for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PATH = "/dashboard/settings/profile"
TARGET_FRAGMENT_P50_MS = 5.0
TARGET_FRAGMENT_OVER_HEALTHZ_MS = 3.0
TARGET_FRAGMENT_SHARE = 0.25


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def clerk_user(user_id: str) -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "object": "user",
        "id": user_id,
        "username": "bench_user",
        "first_name": "Bench",
        "last_name": "Mark",
        "image_url": "https://img.clerk.com/bench",
        "primary_email_address_id": "idn_bench",
        "email_addresses": [
            {"id": "idn_bench", "object": "email_address", "email_address": "bench@example.test",
             "verification": {"status": "verified", "strategy": "email_code"}}
        ],
        "external_accounts": [],
        "password_enabled": True,
        "two_factor_enabled": False,
        "created_at": now_ms,
        "updated_at": now_ms,
        "last_sign_in_at": now_ms,
        "public_metadata": {},
    }


class ThrowawayDatabase:
    def __init__(self, server_url: str) -> None:
        self.server = make_url(server_url)
        self.admin = self.server.set(drivername="postgresql").render_as_string(hide_password=False)
        self.name = f"mentorly_bench_pages_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> str:
        with psycopg.connect(self.admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.server.set(drivername="postgresql+psycopg", database=self.name).render_as_string(
            hide_password=False
        )

    def __exit__(self, *exc) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests of each kind")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER_URL),
                        help="the PostgreSQL server to make the throwaway database on")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from mentorly import MIGRATIONS, create_app
    from mentorly.extensions import db
    from mentorly.users import sync_user_to_db

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    user_id = f"user_bench{uuid.uuid4().hex[:16]}"

    with ThrowawayDatabase(args.database_url) as database_url:
        app = create_app({
            "MENTORLY_ENV": "testing",
            "SECRET_KEY": "bench-pages",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CLERK_JWT_KEY": public_pem,
            "CLERK_API_URL": "http://127.0.0.1:9/v1",  # never called: the user is already stored
            "CLERK_USERNAMES": "optional",  # not learned from the Frontend API, which is not there
        })
        import logging

        logging.getLogger("alembic").setLevel(logging.WARNING)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
            user = sync_user_to_db(clerk_user(user_id))
            user.is_onboarded = True
            user.onboarding_step = 4
            db.session.commit()

        now = int(datetime.now(UTC).timestamp())
        token = jwt.encode(
            {"sub": user_id, "sid": "sess_bench", "iat": now, "nbf": now - 5, "exp": now + 3600, "v": 2},
            key, algorithm="RS256", headers={"kid": "bench"},
        )
        client = app.test_client()
        client.set_cookie("__session", token)
        kinds = {"page": (PATH, {}), "fragment": (PATH, {"HX-Request": "true"}), "/healthz": ("/healthz", {})}

        sizes: dict[str, int] = {}
        for kind, (path, headers) in kinds.items():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (kind, response.status_code, response.get_data(as_text=True)[:500])
            sizes[kind] = len(response.data)
        for _ in range(args.warmup):
            for path, headers in kinds.values():
                client.get(path, headers=headers)

        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.requests):
            for kind, (path, headers) in kinds.items():
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                times[kind].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200

        assets = {}
        for path in ("/static/vendor/pico-2.1.1/pico.min.css", "/static/css/app.css",
                     "/static/vendor/htmx-2.0.11/htmx.min.js", "/static/js/app.js"):
            response = client.get(path)
            assets[path] = len(response.data)
            response.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    print(f"GET {PATH}, signed in, PostgreSQL (migrated throwaway database), {args.requests} requests each")
    print(f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>8}")
    for kind in kinds:
        print(f"{kind:10} {statistics.median(times[kind]):8.2f} {percentile(times[kind], 0.99):8.2f} {sizes[kind]:8d}")
    share = sizes["fragment"] / sizes["page"]
    p50 = statistics.median(times["fragment"])
    over_healthz = p50 - statistics.median(times["/healthz"])
    print(f"fragment / page bytes: {share:.2f}")
    print(f"assets the page loads (cached after the first page): {sum(assets.values())} bytes "
          f"({', '.join(f'{Path(p).name} {n}' for p, n in assets.items())})")
    print(f"fragment p50 - /healthz p50: {over_healthz:.2f} ms")
    checks = {
        f"fragment p50 <= {TARGET_FRAGMENT_P50_MS:g} ms": p50 <= TARGET_FRAGMENT_P50_MS,
        f"fragment p50 within {TARGET_FRAGMENT_OVER_HEALTHZ_MS:g} ms of /healthz's": (
            over_healthz <= TARGET_FRAGMENT_OVER_HEALTHZ_MS
        ),
        f"fragment <= {TARGET_FRAGMENT_SHARE:.0%} of the page's bytes": share <= TARGET_FRAGMENT_SHARE,
    }
    for name, ok in checks.items():
        print(f"{'met ' if ok else 'MISSED'} {name}")
    return 1 if args.strict and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
