"""Clerk's objects, read defensively: a Clerk User becomes the columns Clerk owns.

Webhook bodies are signed but still arbitrary JSON, so every value is checked for type and size
before it reaches the database; anything that does not fit raises ClerkObjectError, which the
webhook records as a failed delivery rather than a 500 that Svix would retry for a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Mapping

# The largest millisecond timestamp we accept (year 9999); keeps BIGINT and datetime happy.
MAX_MILLIS = 253_402_300_799_999


class ClerkObjectError(ValueError):
    """A Clerk object that cannot be applied, whatever happens later: not worth a retry."""


def storable(value: str) -> bool:
    """PostgreSQL text takes neither NUL nor lone surrogates (which JSON escapes can produce)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(obj: Mapping[str, Any], key: str, max_length: int, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise ClerkObjectError(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise ClerkObjectError(f"{key} must be a string")
    if not storable(value):
        raise ClerkObjectError(f"{key} contains characters that cannot be stored")
    if len(value) > max_length:
        raise ClerkObjectError(f"{key} is longer than {max_length} characters")
    return value


def millis(obj: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ClerkObjectError(f"{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MILLIS:
        raise ClerkObjectError(f"{key} must be a timestamp in milliseconds")
    return value


def millis_to_datetime(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def flag(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ClerkObjectError(f"{key} must be true or false")
    return value


def items(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ClerkObjectError(f"{key} must be a list of objects")
    return value


def clerk_id(obj: Any, key: str = "id") -> str:
    if not isinstance(obj, dict):
        raise ClerkObjectError("data must be an object")
    value = text(obj, key, 64, required=True)
    assert value is not None
    if any(ch.isspace() for ch in value):
        raise ClerkObjectError(f"{key} is not a Clerk id")
    return value


@dataclass(frozen=True, slots=True)
class ClerkUser:
    """The fields of a Clerk User that Mentorly keeps (Clerk owns all of them)."""

    clerk_id: str
    email: str | None
    email_verified: bool
    username: str | None
    first_name: str | None
    last_name: str | None
    image_url: str | None
    has_image: bool
    password_enabled: bool
    two_factor_enabled: bool
    external_accounts: list[dict[str, Any]]
    last_sign_in_at: datetime | None
    last_active_at: datetime | None
    joined_at: datetime | None
    clerk_updated_at: int

    # Columns written by every sync, in one fixed order (the hot statement is built from them).
    COLUMNS = (
        "email",
        "email_verified",
        "username",
        "first_name",
        "last_name",
        "image_url",
        "has_image",
        "password_enabled",
        "two_factor_enabled",
        "external_accounts",
        "last_sign_in_at",
        "joined_at",
        "clerk_updated_at",
    )

    def row(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.COLUMNS}
        values["clerk_id"] = self.clerk_id
        values["last_active_at"] = self.last_active_at
        return values


def parse_user(obj: Any) -> ClerkUser:
    """A Clerk User object (webhook `data`, or a Backend API answer) as Mentorly's fields."""
    user_id = clerk_id(obj)
    if obj.get("deleted") is True:
        raise ClerkObjectError("a deleted user has no profile to sync")

    # The primary email is the one whose id is primary_email_address_id: never simply [0].
    primary_id = text(obj, "primary_email_address_id", 64)
    email, verified = None, False
    for address in items(obj, "email_addresses"):
        if primary_id is not None and address.get("id") == primary_id:
            email = text(address, "email_address", 320)
            verification = address.get("verification")
            verified = isinstance(verification, dict) and verification.get("status") == "verified"
            break

    accounts = []
    for account in items(obj, "external_accounts"):
        accounts.append(
            {
                "id": text(account, "id", 64),
                "provider": text(account, "provider", 64) or "unknown",
                "email_address": text(account, "email_address", 320),
                "username": text(account, "username", 256),
                "verified": isinstance(account.get("verification"), dict)
                and account["verification"].get("status") == "verified",
            }
        )

    return ClerkUser(
        clerk_id=user_id,
        email=email,
        email_verified=bool(email) and verified,
        username=text(obj, "username", 64),
        first_name=text(obj, "first_name", 256),
        last_name=text(obj, "last_name", 256),
        image_url=text(obj, "image_url", 2048),
        has_image=flag(obj, "has_image"),
        password_enabled=flag(obj, "password_enabled"),
        two_factor_enabled=flag(obj, "two_factor_enabled"),
        external_accounts=accounts,
        last_sign_in_at=millis_to_datetime(millis(obj, "last_sign_in_at")),
        last_active_at=millis_to_datetime(millis(obj, "last_active_at")),
        joined_at=millis_to_datetime(millis(obj, "created_at")),
        clerk_updated_at=millis(obj, "updated_at", required=True),  # type: ignore[arg-type]
    )


def envelope_millis(value: Any) -> int | None:
    """Clerk's envelope `timestamp` is documented in milliseconds but seen in seconds too."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    millis_value = value * 1000 if value < 100_000_000_000 else value
    return millis_value if millis_value <= MAX_MILLIS else None
