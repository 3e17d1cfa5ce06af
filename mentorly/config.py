"""Settings from the environment (and a `.env` file), one place for every default.

Development needs nothing: the secret key is generated once into `instance/`, the database is
SQLite there, and Clerk is the local emulator. Production refuses to start until every required
setting is present, and says which ones are missing in one message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

ENVIRONMENTS = ("development", "testing", "production")
DEFAULT_CLERK_API_URL = "https://api.clerk.com/v1"
DEFAULT_CLERK_API_VERSION = "2026-05-12"

# The emulator's fixed development credentials: they only ever open the emulator on this machine.
EMULATOR_HOST = "127.0.0.1"
EMULATOR_PORT = 5001
EMULATOR_SECRET_KEY = "sk_test_mentorly_emulator"
EMULATOR_WEBHOOK_SECRET = "whsec_bWVudG9ybHktZW11bGF0b3Itd2ViaG9vay1zZWNyZXQ="
# pk_test_ + base64("127.0.0.1:5001$"): the Frontend API host the emulator answers on.
EMULATOR_PUBLISHABLE_KEY = "pk_test_MTI3LjAuMC4xOjUwMDEk"

# The instance's username setting, when set by hand (else learned from Clerk's Frontend API).
USERNAME_MODES = ("required", "optional", "off")

PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "CLERK_SECRET_KEY",
    "CLERK_PUBLISHABLE_KEY",
    "CLERK_WEBHOOK_SIGNING_SECRET",
)


class ConfigError(RuntimeError):
    """A required setting is missing or invalid; the message names each one."""


def normalise_database_url(url: str) -> str:
    """Heroku-style `postgres://` and plain `postgresql://` URLs select psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret_key(instance_path: Path) -> str:
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def load_settings(instance_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys from the environment; raises ConfigError in production when incomplete."""
    if environ is None:
        environ = os.environ
    env = environ.get("MENTORLY_ENV", "development").strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"MENTORLY_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    production = env == "production"

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    webhook_secret = get("CLERK_WEBHOOK_SIGNING_SECRET") or get("WEBHOOK_SECRET")
    usernames = (get("CLERK_USERNAMES") or "").lower() or None
    if usernames is not None and usernames not in USERNAME_MODES:
        raise ConfigError(f"CLERK_USERNAMES must be one of {', '.join(USERNAME_MODES)}, not {usernames!r}")
    if production:
        present = {name: get(name) for name in PRODUCTION_REQUIRED}
        present["CLERK_WEBHOOK_SIGNING_SECRET"] = webhook_secret
        missing = [name for name, value in present.items() if not value]
        if missing:
            raise ConfigError(
                "Mentorly cannot start in production: missing required setting(s): "
                + ", ".join(missing)
                + ". Set them in the environment or in .env (see .env.example)."
            )

    local_clerk = not production and not get("CLERK_SECRET_KEY")
    emulator_url = f"http://{EMULATOR_HOST}:{EMULATOR_PORT}"
    database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'mentorly.db'}"

    return {
        "MENTORLY_ENV": env,
        "TESTING": env == "testing",
        "SECRET_KEY": get("SECRET_KEY") or _instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # A connection the database dropped (a restart, a failover) is replaced at checkout, not
        # handed to a request that would then fail.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "CLERK_SECRET_KEY": get("CLERK_SECRET_KEY") or EMULATOR_SECRET_KEY,
        "CLERK_PUBLISHABLE_KEY": get("CLERK_PUBLISHABLE_KEY") or EMULATOR_PUBLISHABLE_KEY,
        "CLERK_JWT_KEY": get("CLERK_JWT_KEY"),
        "CLERK_API_URL": (get("CLERK_API_URL") or (f"{emulator_url}/v1" if local_clerk else DEFAULT_CLERK_API_URL)).rstrip("/"),
        "CLERK_API_VERSION": get("CLERK_API_VERSION") or DEFAULT_CLERK_API_VERSION,
        "CLERK_AUTHORIZED_PARTIES": _split(get("CLERK_AUTHORIZED_PARTIES") or ""),
        "CLERK_WEBHOOK_SIGNING_SECRET": webhook_secret or EMULATOR_WEBHOOK_SECRET,
        "CLERK_USERNAMES": usernames,
        # Development signs in through the emulator; production never does.
        "CLERK_EMULATOR": local_clerk,
        "TRUST_PROXY": int(get("TRUST_PROXY") or 0),
        "LOG_FORMAT": (get("LOG_FORMAT") or "text").lower(),
        "WEBHOOK_RETENTION_DAYS": int(get("WEBHOOK_RETENTION_DAYS") or 30),
        # The production security headers, on in production; SECURITY_HEADERS=1 tries them elsewhere.
        "SECURITY_HEADERS": production or get("SECURITY_HEADERS") in ("1", "true", "yes"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
    }
