"""How recently the person behind a session token proved who they are (Clerk's `fva` claim).

A v2 session token carries `fva: [first, second]`: the whole minutes since the session's first
factor (password, email code, OAuth...) and second factor (TOTP, backup code...) were last
verified, `-1` for one never verified in this session. Clerk resets them when the person signs
in or passes "verify it's you" (ClerkJS's user verification), so a sensitive action can ask for
a verification from the last few minutes, however long ago the session began.
"""

from __future__ import annotations

from typing import Any

# Clerk's own preset for sensitive actions ("strict"): a verification at most 10 minutes old.
SENSITIVE_ACTION_MINUTES = 10


def first_factor_age(claims: dict[str, Any] | None) -> int | None:
    """Minutes since the first factor was verified, or None when the token does not say
    (no `fva`, a malformed one, or `-1`: never verified in this session)."""
    fva = (claims or {}).get("fva")
    if not isinstance(fva, list) or len(fva) != 2:
        return None
    age = fva[0]
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        return None
    return age


def verified_recently(claims: dict[str, Any] | None, minutes: int = SENSITIVE_ACTION_MINUTES) -> bool:
    """Whether the first factor was verified less than `minutes` ago (the comparison Clerk's
    `has({reverification})` makes: a 10-minute window accepts ages 0 to 9)."""
    age = first_factor_age(claims)
    return age is not None and age < minutes
