"""What the Clerk instance is set up to do, as its Frontend API reports it.

Only the username setting matters to Mentorly: Clerk instances ask for a username (required),
offer one (optional) or have none (off), and a form that demands one where Clerk has none can
never be completed. CLERK_USERNAMES sets it by hand; otherwise it is read once, on first need,
from `GET {Frontend API}/v1/environment` (`user_settings.attributes.username`) and kept for the
life of the process. When it cannot be learned, usernames are treated as optional (nobody is
blocked, and Clerk still says so at the field if it wants one) and it is asked again after
RETRY_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from flask import current_app

from .sessions import frontend_api_url

log = logging.getLogger(__name__)

REQUIRED, OPTIONAL, OFF = "required", "optional", "off"
RETRY_SECONDS = 300.0
_lock = threading.Lock()


def username_mode() -> str:
    """`required`, `optional` or `off` for this app's Clerk instance."""
    config = current_app.config
    if config.get("CLERK_USERNAMES"):
        return config["CLERK_USERNAMES"]
    cache = current_app.extensions.setdefault("mentorly.clerk_instance", {})
    with _lock:
        mode, until = cache.get("usernames", (None, 0.0))
        if mode is None or time.monotonic() > until:
            mode, learned = _learn_username_mode(config["CLERK_PUBLISHABLE_KEY"])
            cache["usernames"] = (mode, float("inf") if learned else time.monotonic() + RETRY_SECONDS)
    return mode


def _learn_username_mode(publishable_key: str) -> tuple[str, bool]:
    """The mode, and whether Clerk said so (rather than the fallback)."""
    url = f"{frontend_api_url(publishable_key)}/v1/environment"
    try:
        response = requests.get(url, timeout=(3.05, 5), headers={"Accept": "application/json"})
        response.raise_for_status()
        attribute: Any = response.json()["user_settings"]["attributes"]["username"]
        mode = OFF if not attribute.get("enabled") else REQUIRED if attribute.get("required") else OPTIONAL
    except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("could not learn the Clerk instance's username setting from %s (%s): treating usernames "
                    "as optional; set CLERK_USERNAMES to say", url, exc)
        return OPTIONAL, False
    log.info("Clerk instance usernames: %s", mode)
    return mode, True
