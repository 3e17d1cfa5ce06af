"""What the emulator does, independent of HTTP: every change to users and sessions, and the
webhook Clerk would send for it."""

from __future__ import annotations

import base64
import copy
import math
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import objects
from .errors import ClerkAPIError, clerk_error, error_item, not_found
from .objects import LIVE_SESSION_STATUSES, NAME_MAX, new_id, now_ms
from .store import Store
from .tokens import DEFAULT_TOKEN_LIFETIME, SigningKey
from .webhooks import DEFAULT_RETRY_DELAYS, WebhookSender

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_IMAGE_BYTES = 10_000_000
RATE_LIMIT_CALLS = 10
RATE_LIMIT_WINDOW = 10.0


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def publishable_key_for(public_url: str) -> str:
    """`pk_test_` + unpadded base64 of `"<host:port>$"`, as Clerk encodes its Frontend API host."""
    host = urlsplit(public_url).netloc
    return "pk_test_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")


@dataclass
class EmulatorConfig:
    state_dir: Path
    public_url: str
    app_url: str
    secret_key: str
    webhook_secret: str
    webhook_url: str | None = None
    webhooks_enabled: bool = True
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    webhook_timeout: float = 15.0
    city: str = "Localhost"
    country: str = "ZZ"
    usernames: str = "optional"  # required | optional | off, as an instance's dashboard sets it
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.public_url = self.public_url.rstrip("/")
        self.app_url = self.app_url.rstrip("/")

    @property
    def app_origin(self) -> str:
        return origin_of(self.app_url)

    @property
    def publishable_key(self) -> str:
        return publishable_key_for(self.public_url)


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store(config.state_dir)
        instance_id = self.store.get_meta("instance_id")
        if instance_id is None:
            instance_id = new_id("ins")
            self.store.set_meta("instance_id", instance_id)
        self.instance_id = instance_id
        self.key = SigningKey(config.state_dir, kid=instance_id)
        self.webhooks = WebhookSender(config.webhook_secret, config.webhook_url, instance_id,
                                      enabled=config.webhooks_enabled, retry_delays=config.retry_delays,
                                      timeout=config.webhook_timeout)
        self.token_lifetime = config.token_lifetime
        # A task every new session starts with (None: sessions start active), and the
        # instance's username setting, as its Frontend API environment reports them.
        self.session_task: str | None = None
        self.usernames = config.usernames
        self.faults: list[dict[str, Any]] = []
        self._faults_lock = threading.Lock()
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._calls_lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any]:
        user = self.store.users.get(user_id)
        if user is None:
            raise not_found("User")
        return user

    def render(self, user: dict[str, Any]) -> dict[str, Any]:
        return objects.render_user(user, self.config.public_url)

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.store.sessions.get(session_id)
        if session is None:
            raise not_found("Session")
        if session["status"] in LIVE_SESSION_STATUSES and session["expire_at"] <= now_ms():
            session = dict(session, status="expired", updated_at=now_ms())
            self.store.put_session(session)
        return session

    def session_payload(self, session: dict[str, Any]) -> dict[str, Any]:
        """A Session with its User embedded, as current `session.*` webhooks carry it (their
        schema has no `tasks`, which only the Backend API's Session shows)."""
        payload = copy.deepcopy(objects.render_session(session))
        payload.pop("tasks", None)
        user = self.store.users.get(session["user_id"])
        if user is not None:
            payload["user"] = self.render(user)
        return payload

    # --- rate limits and faults ---------------------------------------------------------------

    def check_user_rate(self, user_id: str) -> None:
        """Clerk allows 10 user/metadata updates per user per 10 seconds."""
        now = time.monotonic()
        with self._calls_lock:
            calls = self._calls[user_id]
            while calls and now - calls[0] >= RATE_LIMIT_WINDOW:
                calls.popleft()
            if len(calls) >= RATE_LIMIT_CALLS:
                retry_after = max(1, math.ceil(RATE_LIMIT_WINDOW - (now - calls[0])))
                raise clerk_error(429, "too_many_requests", "Too many requests",
                                  f"Too many requests for this user, retry in {retry_after} seconds.",
                                  headers={"Retry-After": str(retry_after)})
            calls.append(now)

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        mode = spec.get("mode")
        if mode not in ("timeout", "error", "rate_limit"):
            raise ValueError("mode must be timeout, error or rate_limit")
        fault = {
            "mode": mode,
            "count": int(spec.get("count", 1)),
            "retry_after": int(spec.get("retry_after", 1)),
            "delay": float(spec.get("delay", 5.0 if mode == "timeout" else 0.0)),
            "status": int(spec.get("status", 500 if mode == "error" else 504 if mode == "timeout" else 429)),
            "path": spec.get("path"),
            "method": (spec.get("method") or "").upper() or None,
        }
        if fault["count"] < 1:
            raise ValueError("count must be at least 1")
        with self._faults_lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        """The first armed fault matching this request (used up by one), if any.

        `/v1/jwks` is left alone unless a fault names it: token verification in the app should
        not break because a test is exercising the Backend API client."""
        with self._faults_lock:
            for fault in self.faults:
                if fault["method"] and fault["method"] != method:
                    continue
                if fault["path"]:
                    if not path.startswith(fault["path"]):
                        continue
                elif path.startswith("/v1/jwks"):
                    continue
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.faults.remove(fault)
                return dict(fault)
        return None

    def clear_faults(self) -> None:
        with self._faults_lock:
            self.faults.clear()

    # --- validation ---------------------------------------------------------------------------

    def _name_errors(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        for param, label in (("first_name", "First name"), ("last_name", "Last name")):
            value = fields.get(param)
            if value is None:
                continue
            if not isinstance(value, str):
                errors.append(error_item("form_param_type_invalid", f"{param} must be a string",
                                         f"{label} must be a string.", param))
            elif len(value) > NAME_MAX:
                errors.append(error_item("form_param_max_length_exceeded", f"{param} exceeds maximum length",
                                         f"{label} should not exceed {NAME_MAX} characters.", param))
        return errors

    def _username_errors(self, username: Any, user_id: str | None) -> list[dict[str, Any]]:
        """Clerk's verdict on a username being set (or cleared), by the instance's setting too."""
        if username is None or username == "":
            if self.usernames == "required":
                return [error_item("form_param_missing", "is missing",
                                   "This instance requires a username.", "username")]
            return []
        if self.usernames == "off":
            return [error_item("form_param_unknown", "is unknown",
                               "Usernames are turned off for this instance.", "username")]
        if not isinstance(username, str):
            return [error_item("form_param_type_invalid", "username must be a string",
                               "Username must be a string.", "username")]
        problems = objects.username_errors(username)
        if problems:
            code, message = problems[0]
            return [error_item(code, message, message, "username")]
        owner = self.store.owner_of_username(username)
        if owner is not None and owner != user_id:
            return [error_item("form_identifier_exists", "That username is taken. Please try another.",
                               "That username is taken. Please try another.", "username")]
        return []

    # --- users --------------------------------------------------------------------------------

    def create_user(self, fields: dict[str, Any], http: dict[str, str] | None = None,
                    notify: bool = True) -> dict[str, Any]:
        email = fields.get("email") or fields.get("email_address")
        if isinstance(email, list):
            email = email[0] if email else None
        username = fields.get("username") or None
        errors = self._name_errors(fields)
        with self.store.lock:
            if email is not None:
                if not isinstance(email, str) or not EMAIL.match(email):
                    errors.append(error_item("form_param_format_invalid", "is invalid",
                                             "email_address must be a valid email address.", "email_address"))
                elif self.store.owner_of_email(email):
                    errors.append(error_item("form_identifier_exists",
                                             "That email address is taken. Please try another.",
                                             "That email address is taken. Please try another.", "email_address"))
            errors += self._username_errors(username, None)
            if errors:
                raise ClerkAPIError(422, errors)
            user = objects.new_user(
                email=email,
                first_name=fields.get("first_name") or None,
                last_name=fields.get("last_name") or None,
                username=username.lower() if username else None,
                email_verified=bool(fields.get("email_verified", True)),
                password_enabled=bool(fields.get("password_enabled", True)),
                two_factor_enabled=bool(fields.get("two_factor_enabled", False)),
                external_id=fields.get("external_id"),
                at=fields["created_at"] if isinstance(fields.get("created_at"), int) else None,
            )
            for key in ("public_metadata", "private_metadata", "unsafe_metadata"):
                if isinstance(fields.get(key), dict):
                    user[key] = objects.deep_merge({}, fields[key])
            for provider in fields.get("external_accounts") or []:
                self._connect(user, provider, user["created_at"])
            self.store.put_user(user)
        if notify:
            self.webhooks.send("user.created", self.render(user), http)
        return user

    def bulk_create_users(self, count: int, prefix: str = "user", domain: str = "example.test") -> list[str]:
        """Many users at once and without webhooks (for backfill benchmarks)."""
        start = now_ms() - count
        batch_tag = new_id("b")[-6:].lower()
        users = []
        for number in range(count):
            at = start + number
            users.append(objects.new_user(
                email=f"{prefix}.{batch_tag}.{number}@{domain}",
                first_name=prefix.capitalize(),
                last_name=f"{batch_tag}-{number}",
                username=f"{prefix}_{batch_tag}_{number}"[:64].lower(),
                at=at,
            ))
        self.store.put_users(users)
        return [user["id"] for user in users]

    def _save_and_notify(self, user: dict[str, Any], http: dict[str, str] | None) -> dict[str, Any]:
        user["updated_at"] = max(now_ms(), user["updated_at"] + 1)
        self.store.put_user(user)
        rendered = self.render(user)
        self.webhooks.send("user.updated", rendered, http)
        return rendered

    UPDATABLE = {
        "external_id", "first_name", "last_name", "locale", "primary_email_address_id",
        "notify_primary_email_address_changed", "primary_phone_number_id", "primary_web3_wallet_id",
        "username", "profile_image_id", "password", "password_digest", "password_hasher",
        "skip_password_checks", "sign_out_of_other_sessions", "totp_secret", "backup_codes",
        "delete_self_enabled", "create_organization_enabled", "legal_accepted_at", "skip_legal_checks",
        "create_organizations_limit", "created_at", "bypass_client_trust",
    }

    def update_user(self, user_id: str, body: dict[str, Any], http: dict[str, str] | None = None) -> dict[str, Any]:
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            self.check_user_rate(user_id)
            unknown = [key for key in body if key not in self.UPDATABLE]
            if unknown:
                raise ClerkAPIError(422, [error_item("form_param_unknown", "is unknown",
                                                     f"{key} is not a recognized parameter for this request.", key)
                                          for key in unknown])
            errors = self._name_errors(body)
            if "username" in body:
                errors += self._username_errors(body["username"], user_id)
            if "primary_email_address_id" in body and body["primary_email_address_id"] is not None:
                match = [e for e in user["email_addresses"] if e["id"] == body["primary_email_address_id"]]
                if not match or match[0]["verification"]["status"] != "verified":
                    errors.append(error_item("form_param_value_invalid", "is invalid",
                                             "The primary email address must be a verified address of this user.",
                                             "primary_email_address_id"))
            password = body.get("password")
            if password is not None and (not isinstance(password, str) or len(password) < 8):
                errors.append(error_item("form_password_length_too_short", "Passwords must be 8 characters or more.",
                                         "Passwords must be 8 characters or more.", "password"))
            if errors:
                raise ClerkAPIError(422, errors)
            for key in ("first_name", "last_name", "external_id", "locale"):
                if key in body:
                    user[key] = body[key] or None
            if "username" in body:
                user["username"] = body["username"].lower() if body["username"] else None
            if body.get("primary_email_address_id"):
                user["primary_email_address_id"] = body["primary_email_address_id"]
            if password:
                user["password_enabled"] = True
                user["password_last_updated_at"] = now_ms()
            for key in ("delete_self_enabled", "create_organization_enabled", "bypass_client_trust"):
                if isinstance(body.get(key), bool):
                    user[key] = body[key]
            return self._save_and_notify(user, http)

    def update_metadata(self, user_id: str, body: dict[str, Any], http: dict[str, str] | None = None) -> dict[str, Any]:
        kinds = ("public_metadata", "private_metadata", "unsafe_metadata")
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            self.check_user_rate(user_id)
            errors = [error_item("form_param_unknown", "is unknown",
                                 f"{key} is not a recognized parameter for this request.", key)
                      for key in body if key not in kinds]
            errors += [error_item("form_param_type_invalid", "must be an object",
                                  f"{key} must be a JSON object.", key)
                       for key in kinds if key in body and not isinstance(body[key], dict) and body[key] is not None]
            if errors:
                raise ClerkAPIError(422, errors)
            for key in kinds:
                if isinstance(body.get(key), dict):
                    user[key] = objects.deep_merge(user.get(key) or {}, body[key])
            return self._save_and_notify(user, http)

    def set_profile_image(self, user_id: str, data: bytes, image_format: str,
                          http: dict[str, str] | None = None) -> dict[str, Any]:
        extension = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}[image_format]
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            self.check_user_rate(user_id)
            name = f"{user_id}-{new_id('img')[4:16].lower()}.{extension}"
            tmp = self.store.images_dir / (name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(self.store.images_dir / name)
            self._remove_image_file(user)
            user["_image"] = name
            return self._save_and_notify(user, http)

    def delete_profile_image(self, user_id: str, http: dict[str, str] | None = None) -> dict[str, Any]:
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            self.check_user_rate(user_id)
            self._remove_image_file(user)
            user["_image"] = None
            return self._save_and_notify(user, http)

    def _remove_image_file(self, user: dict[str, Any]) -> None:
        if user.get("_image"):
            (self.store.images_dir / user["_image"]).unlink(missing_ok=True)

    def delete_user(self, user_id: str, http: dict[str, str] | None = None) -> dict[str, Any]:
        with self.store.lock:
            user = self.user(user_id)
            for session in list(self.store.sessions.values()):
                if session["user_id"] == user_id and session["status"] == "active":
                    self.store.put_session(dict(session, status="removed", updated_at=now_ms()))
            self._remove_image_file(user)
            self.store.remove_user(user_id)
        deleted = {"object": "user", "id": user_id, "deleted": True}
        if user.get("external_id"):
            deleted["external_id"] = user["external_id"]
        self.webhooks.send("user.deleted", deleted, http)
        return deleted

    def set_security(self, user_id: str, changes: dict[str, Any], http: dict[str, str] | None = None) -> dict[str, Any]:
        """What a user changes in Clerk's profile UI: password, two-factor, connected accounts."""
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            at = now_ms()
            if isinstance(changes.get("password_enabled"), bool):
                user["password_enabled"] = changes["password_enabled"]
                user["password_last_updated_at"] = at if changes["password_enabled"] else None
            if isinstance(changes.get("two_factor_enabled"), bool):
                on = changes["two_factor_enabled"]
                if on != user["two_factor_enabled"]:
                    user["mfa_enabled_at" if on else "mfa_disabled_at"] = at
                user["two_factor_enabled"] = user["totp_enabled"] = user["backup_code_enabled"] = on
            for provider in changes.get("connect") or []:
                if provider not in objects.OAUTH_PROVIDERS:
                    raise clerk_error(422, "oauth_provider_not_enabled", "is not enabled",
                                      f"{provider} is not an OAuth provider this instance offers.", "provider")
                self._connect(user, provider, at)
            for provider in changes.get("disconnect") or []:
                self._disconnect(user, provider)
            if isinstance(changes.get("email_verified"), bool):
                for entry in user["email_addresses"]:
                    if entry["id"] == user["primary_email_address_id"]:
                        entry["verification"]["status"] = "verified" if changes["email_verified"] else "unverified"
                        entry["updated_at"] = at
            names = {key: changes[key] for key in ("first_name", "last_name") if key in changes}
            errors = self._name_errors(names)
            if errors:
                raise ClerkAPIError(422, errors)
            for key, value in names.items():
                user[key] = value or None
            return self._save_and_notify(user, http)

    def _connect(self, user: dict[str, Any], provider: str, at: int) -> None:
        if any(account["provider"] == provider for account in user["external_accounts"]):
            return
        account = objects.external_account(provider, user, at)
        user["external_accounts"].append(account)
        for entry in user["email_addresses"]:
            if entry["email_address"].lower() == account["email_address"].lower():
                entry["linked_to"].append({"type": provider, "id": account["id"]})

    def _disconnect(self, user: dict[str, Any], provider: str) -> None:
        removed = {a["id"] for a in user["external_accounts"] if a["provider"] == provider}
        user["external_accounts"] = [a for a in user["external_accounts"] if a["provider"] != provider]
        for entry in user["email_addresses"]:
            entry["linked_to"] = [link for link in entry["linked_to"] if link["id"] not in removed]

    # --- sessions -----------------------------------------------------------------------------

    def new_client(self) -> dict[str, Any]:
        client = {"object": "client", "id": new_id("client"), "session_ids": [], "last_active_session_id": None,
                  "created_at": now_ms(), "updated_at": now_ms()}
        self.store.put_client(client)
        return client

    def create_session(self, user_id: str, *, client_id: str | None = None, user_agent: str = "",
                       ip_address: str = "127.0.0.1", city: str | None = None, country: str | None = None,
                       task: str | None = None, http: dict[str, str] | None = None) -> dict[str, Any]:
        """A new session; with a `task` (or the instance's `session_task`), a pending one, as
        Clerk issues when the instance requires MFA, a password reset or an organization."""
        with self.store.lock:
            user = copy.deepcopy(self.user(user_id))
            previous = self.active_session_for_client(client_id)
            if previous is not None:
                # One browser, one signed-in session (Clerk's single-session mode): signing in
                # again ends the session it had.
                self.end_session(previous["id"], "ended", http)
            client = self.store.clients.get(client_id or "") or self.new_client()
            session = objects.new_session(user_id, client["id"], user_agent=user_agent, ip_address=ip_address,
                                          city=city or self.config.city, country=country or self.config.country,
                                          task=task or self.session_task,
                                          second_factor=bool(user.get("two_factor_enabled")))
            self.store.put_session(session)
            client = dict(client, session_ids=[*client["session_ids"], session["id"]],
                          last_active_session_id=session["id"], updated_at=session["created_at"])
            self.store.put_client(client)
            user["last_sign_in_at"] = user["last_active_at"] = session["created_at"]
            user["updated_at"] = max(session["created_at"], user["updated_at"] + 1)
            self.store.put_user(user)
        self.webhooks.send("session.created", self.session_payload(session), http)
        return session

    def complete_task(self, session_id: str) -> dict[str, Any]:
        """The person did what the pending session asked: it becomes active."""
        with self.store.lock:
            session = self.session(session_id)
            if session["status"] == "pending":
                session = dict(session, status="active", tasks=[], updated_at=now_ms())
                self.store.put_session(session)
        return session

    def end_session(self, session_id: str, status: str, http: dict[str, str] | None = None) -> dict[str, Any]:
        """Revoke (Backend API), end (sign-out) or remove a session; sends `session.<status>`."""
        with self.store.lock:
            session = self.session(session_id)
            if session["status"] not in LIVE_SESSION_STATUSES:
                return session
            session = dict(session, status=status, updated_at=now_ms())
            self.store.put_session(session)
            client = self.store.clients.get(session["client_id"])
            if client and client.get("last_active_session_id") == session_id:
                self.store.put_client(dict(client, last_active_session_id=None, updated_at=now_ms()))
        self.webhooks.send(f"session.{status}", self.session_payload(session), http)
        return session

    def reverify_first_factor(self, session_id: str) -> dict[str, Any]:
        """The person confirmed it is them ("verify it's you"): the session's first factor is
        verified now, so its next tokens carry `fva[0] = 0`."""
        with self.store.lock:
            session = self.session(session_id)
            if session["status"] not in LIVE_SESSION_STATUSES:
                raise clerk_error(401, "authentication_invalid", "Session is not active",
                                  f"The session is {session['status']}; sign in again.")
            session = dict(session, _first_factor_verified_at=now_ms(), updated_at=now_ms())
            self.store.put_session(session)
        return session

    def set_factor_verification_age(self, session_id: str, ages: dict[str, int | None]) -> dict[str, Any]:
        """Make the session's factors look verified `ages[factor]` minutes ago (None: never);
        `factor` is `first_factor` or `second_factor`. For tests of a stale verification."""
        with self.store.lock:
            session = dict(self.session(session_id))
            at = now_ms()
            for factor, minutes in ages.items():
                session[f"_{factor}_verified_at"] = None if minutes is None else at - int(minutes) * 60_000
            self.store.put_session(session)
        return session

    def touch_session(self, session: dict[str, Any]) -> dict[str, Any]:
        session = dict(session, last_active_at=now_ms(), updated_at=now_ms())
        self.store.put_session(session)
        return session

    def active_session_for_client(self, client_id: str | None) -> dict[str, Any] | None:
        client = self.store.clients.get(client_id or "")
        if not client or not client.get("last_active_session_id"):
            return None
        session = self.store.sessions.get(client["last_active_session_id"])
        if session is None:
            return None
        session = self.session(session["id"])
        if session["status"] not in LIVE_SESSION_STATUSES or session["user_id"] not in self.store.users:
            return None
        return session

    def mint_token(self, session: dict[str, Any], *, lifetime: int | None = None, azp: str | None = None,
                   overrides: dict[str, Any] | None = None) -> str:
        # `sts` says whether the session is active or still has a task (pending); `fva` how
        # long ago its factors were verified.
        return self.key.session_token(
            user_id=session["user_id"], session_id=session["id"], issuer=self.config.public_url,
            azp=azp or self.config.app_origin, lifetime=self.token_lifetime if lifetime is None else lifetime,
            overrides={**self.session_claims(session), **(overrides or {})})

    @staticmethod
    def session_claims(session: dict[str, Any]) -> dict[str, Any]:
        """The claims a token takes from its session's state."""
        return {"sts": session["status"], "fva": objects.factor_verification_age(session)}

    # --- control ------------------------------------------------------------------------------

    def reset(self) -> None:
        self.store.clear()
        self.webhooks.clear()
        self.webhooks.enabled = self.config.webhooks_enabled
        self.webhooks.url = self.config.webhook_url
        self.webhooks.retry_delays = tuple(self.config.retry_delays)
        self.token_lifetime = self.config.token_lifetime
        self.session_task = None
        self.usernames = self.config.usernames
        self.clear_faults()
        with self._calls_lock:
            self._calls.clear()
