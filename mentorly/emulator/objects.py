"""Clerk-shaped objects: users, email addresses, external accounts and sessions.

The store keeps each user as the User object Clerk would return, except for the image: the
stored record names the file (`_image`), and `render_user` turns it into URLs on whatever address
the emulator is serving from. Keys starting with `_` never leave the emulator.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SESSION_LIFETIME_MS = 7 * 24 * 3600 * 1000
SESSION_ABANDON_MS = 30 * 24 * 3600 * 1000
# A pending session (a task left: set up MFA, reset the password, choose an organization) is
# live, but not signed in: its tokens say `sts: pending`.
LIVE_SESSION_STATUSES = ("active", "pending")
SESSION_TASKS = {
    "setup-mfa": "Set up two-step verification",
    "reset-password": "Choose a new password",
    "choose-organization": "Choose an organization",
}

# Clerk's username rules (default instance settings).
USERNAME_MIN, USERNAME_MAX = 4, 64
USERNAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]+$")
NAME_MAX = 256
OAUTH_PROVIDERS = {
    "oauth_github": "GitHub",
    "oauth_google": "Google",
    "oauth_gitlab": "GitLab",
    "oauth_discord": "Discord",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id(prefix: str) -> str:
    """Clerk-style ids: a prefix and 27 base62 characters."""
    number = int.from_bytes(secrets.token_bytes(20), "big")
    chars = []
    for _ in range(27):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return f"{prefix}_{''.join(chars)}"


def email_address(address: str, verified: bool, at: int) -> dict[str, Any]:
    return {
        "id": new_id("idn"),
        "object": "email_address",
        "email_address": address,
        "reserved": False,
        "verification": {
            "object": "verification_otp",
            "status": "verified" if verified else "unverified",
            "strategy": "email_code",
            "attempts": 1 if verified else 0,
            "expire_at": at + 600_000,
        },
        "linked_to": [],
        "matches_sso_connection": False,
        "created_at": at,
        "updated_at": at,
    }


def new_user(*, email: str | None, first_name: str | None, last_name: str | None, username: str | None,
             email_verified: bool = True, password_enabled: bool = True, two_factor_enabled: bool = False,
             at: int | None = None, external_id: str | None = None) -> dict[str, Any]:
    at = at or now_ms()
    emails = [email_address(email, email_verified, at)] if email else []
    return {
        "id": new_id("user"),
        "object": "user",
        "external_id": external_id,
        "primary_email_address_id": emails[0]["id"] if emails else None,
        "primary_phone_number_id": None,
        "primary_web3_wallet_id": None,
        "username": username,
        "first_name": first_name,
        "last_name": last_name,
        "locale": None,
        "public_metadata": {},
        "private_metadata": {},
        "unsafe_metadata": {},
        "email_addresses": emails,
        "phone_numbers": [],
        "web3_wallets": [],
        "passkeys": [],
        "password_enabled": password_enabled,
        "password_last_updated_at": at if password_enabled else None,
        "two_factor_enabled": two_factor_enabled,
        "totp_enabled": two_factor_enabled,
        "backup_code_enabled": two_factor_enabled,
        "mfa_enabled_at": at if two_factor_enabled else None,
        "mfa_disabled_at": None,
        "external_accounts": [],
        "saml_accounts": [],
        "enterprise_accounts": [],
        "last_sign_in_at": None,
        "banned": False,
        "locked": False,
        "lockout_expires_in_seconds": None,
        "verification_attempts_remaining": 100,
        "created_at": at,
        "updated_at": at,
        "delete_self_enabled": True,
        "create_organization_enabled": True,
        "create_organizations_limit": None,
        "last_active_at": None,
        "legal_accepted_at": None,
        "bypass_client_trust": False,
        "_image": None,
    }


def primary_email(user: dict[str, Any]) -> str | None:
    for entry in user["email_addresses"]:
        if entry["id"] == user["primary_email_address_id"]:
            return entry["email_address"]
    return None


def display_name(user: dict[str, Any]) -> str:
    name = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    return name or user.get("username") or primary_email(user) or user["id"]


def render_user(user: dict[str, Any], base_url: str) -> dict[str, Any]:
    public = {key: value for key, value in user.items() if not key.startswith("_")}
    if user.get("_image"):
        url = f"{base_url}/images/{user['_image']}"
        public["has_image"] = True
    else:
        url = f"{base_url}/images/default/{user['id']}.svg"
        public["has_image"] = False
    public["image_url"] = url
    public["profile_image_url"] = url
    return public


def external_account(provider: str, user: dict[str, Any], at: int) -> dict[str, Any]:
    email = primary_email(user) or f"{user['id'].lower()}@users.noreply.example"
    handle = user.get("username") or email.split("@")[0]
    return {
        "object": "external_account",
        "id": new_id("eac"),
        "provider": provider,
        "identification_id": new_id("idn"),
        "provider_user_id": str(int.from_bytes(secrets.token_bytes(4), "big")),
        "approved_scopes": "email profile",
        "email_address": email,
        "email_address_verified": True,
        "first_name": user.get("first_name") or "",
        "last_name": user.get("last_name") or "",
        "image_url": None,
        "username": handle,
        "phone_number": None,
        "public_metadata": {},
        "label": None,
        "created_at": at,
        "updated_at": at,
        "verification": {
            "object": "verification_oauth",
            "status": "verified",
            "strategy": provider,
            "attempts": None,
            "expire_at": at + 600_000,
        },
    }


def parse_user_agent(user_agent: str) -> dict[str, Any]:
    """Browser and device from a User-Agent, roughly as Clerk's session activity shows them."""
    ua = user_agent or ""
    browser, version = "Unknown", ""
    for name, pattern in (
        ("Edge", r"Edg/([\d.]+)"),
        ("Opera", r"OPR/([\d.]+)"),
        ("Firefox", r"Firefox/([\d.]+)"),
        ("Chrome", r"(?:Headless)?Chrom(?:e|ium)/([\d.]+)"),
        ("Safari", r"Version/([\d.]+).*Safari/"),
        ("python-requests", r"python-requests/([\d.]+)"),
        ("curl", r"curl/([\d.]+)"),
    ):
        match = re.search(pattern, ua)
        if match:
            browser, version = name, match.group(1)
            break
    is_mobile = bool(re.search(r"Mobile|Android|iPhone|iPad", ua))
    if "iPhone" in ua:
        device = "iPhone"
    elif "iPad" in ua:
        device = "iPad"
    elif "Android" in ua:
        device = "Android"
    elif "Macintosh" in ua:
        device = "Macintosh"
    elif "Windows" in ua:
        device = "Windows"
    elif "Linux" in ua or "X11" in ua:
        device = "Linux"
    else:
        device = "desktop" if not is_mobile else "mobile"
    return {"device_type": device, "is_mobile": is_mobile, "browser_name": browser, "browser_version": version}


def new_session(user_id: str, client_id: str, *, user_agent: str = "", ip_address: str = "127.0.0.1",
                city: str = "Localhost", country: str = "ZZ", at: int | None = None,
                task: str | None = None, second_factor: bool = False) -> dict[str, Any]:
    """A signed-in session: its first factor (and, for a user with two-factor on, its second)
    verified as it starts."""
    at = at or now_ms()
    return {
        "object": "session",
        "id": new_id("sess"),
        "user_id": user_id,
        "client_id": client_id,
        "actor": None,
        "status": "pending" if task else "active",
        "tasks": [{"key": task}] if task else [],
        "last_active_organization_id": None,
        "last_active_at": at,
        "latest_activity": {
            "object": "session_activity",
            "id": new_id("sess_act"),
            **parse_user_agent(user_agent),
            "ip_address": ip_address,
            "city": city,
            "country": country,
        },
        "expire_at": at + SESSION_LIFETIME_MS,
        "abandon_at": at + SESSION_ABANDON_MS,
        "updated_at": at,
        "created_at": at,
        # When each factor was last verified (signing in, or Clerk's "verify it's you"), in
        # milliseconds or None; tokens carry their ages as `fva`. Never shown by the API.
        "_first_factor_verified_at": at,
        "_second_factor_verified_at": at if second_factor else None,
    }


def render_session(session: dict[str, Any]) -> dict[str, Any]:
    """The Session as the Backend API and webhooks show it (no keys private to the emulator)."""
    return {key: value for key, value in session.items() if not key.startswith("_")}


def factor_verification_age(session: dict[str, Any], at: int | None = None) -> list[int]:
    """Clerk's `fva`: whole minutes since the first and the second factor were last verified
    in this session, -1 for a factor never verified in it."""
    at = now_ms() if at is None else at

    def minutes(verified_at: Any) -> int:
        return -1 if verified_at is None else max(0, (at - int(verified_at)) // 60_000)

    first = session.get("_first_factor_verified_at", session["created_at"])
    return [minutes(first), minutes(session.get("_second_factor_verified_at"))]


def username_errors(username: str) -> list[tuple[str, str]]:
    """Clerk's verdict on a username's form, as (code, message); uniqueness is checked by the store."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return [("form_username_invalid_length",
                 f"Your username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long.")]
    if not USERNAME_CHARACTERS.match(username):
        return [("form_username_invalid_character",
                 "Your username can only contain letters, numbers, underscores (_) and dashes (-).")]
    if username.isdigit():
        return [("form_username_needs_non_number_char",
                 "Your username must contain at least one non-numeric character.")]
    return []


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Clerk's metadata merge: nested objects merge, a key set to null is removed."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        elif isinstance(value, dict):
            merged[key] = deep_merge({}, value)
        else:
            merged[key] = value
    return merged
