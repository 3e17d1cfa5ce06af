"""Clerk's Backend API over `requests`: one session, timeouts, and errors a form can show.

- Every call sends `Clerk-API-Version`, so a change of Clerk's default cannot change our shapes.
- Clerk's error bodies become `ClerkAPIError` with the messages keyed by the field they name.
- 429 honours `Retry-After` (waiting up to `max_retry_wait` seconds in all), then gives up.
- A timeout, a connection failure or a 5xx is `ClerkUnavailable`, with a message for people.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import requests
from flask import current_app

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10)
SESSIONS_PAGE = 500  # Clerk's largest page for GET /sessions (its default is 10)
# A 403 with one of these codes refuses the key itself (a 401 always does); any other 403 is a
# refusal of the one request, shown to the person like any other.
KEY_REFUSED_CODES = {"authentication_invalid", "authorization_invalid"}


class ClerkError(Exception):
    """Anything that went wrong talking to Clerk."""


class ClerkUnavailable(ClerkError):
    """Clerk could not answer now (timeout, connection, 5xx, rate limit): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClerkUnauthorized(ClerkUnavailable):
    """Clerk refused our secret key (401 or 403): nothing works until CLERK_SECRET_KEY is fixed.

    People see the same page as when Clerk is unreachable; operators see the cause in the log
    (at ERROR, once) and in `/healthz`.
    """


class ClerkAPIError(ClerkError):
    """Clerk refused the request (4xx) and said why."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        self.status = status
        self.errors = errors
        self.field_errors: dict[str, list[str]] = {}
        self.messages: list[str] = []
        for error in errors:
            message = error.get("long_message") or error.get("message") or error.get("code") or "Rejected by Clerk"
            param = (error.get("meta") or {}).get("param_name")
            if param:
                self.field_errors.setdefault(param, []).append(message)
            else:
                self.messages.append(message)
        super().__init__("; ".join(self.messages + [m for ms in self.field_errors.values() for m in ms]) or f"HTTP {status}")

    @property
    def codes(self) -> list[str]:
        return [error.get("code", "") for error in self.errors]


class ClerkNotFound(ClerkAPIError):
    """The user or session does not exist (any more) at Clerk."""


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


class ClerkClient:
    def __init__(
        self,
        api_url: str,
        secret_key: str,
        api_version: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retry_wait: float = 5.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        # Whether Clerk's last answer refused the secret key (reported by /healthz).
        self.key_refused = False
        self.max_retry_wait = max_retry_wait
        self.http = requests.Session()
        self.http.headers.update(
            {
                "Authorization": f"Bearer {secret_key}",
                "Clerk-API-Version": api_version,
                "Accept": "application/json",
                "User-Agent": "mentorly-accounts",
            }
        )

    def request(self, method: str, path: str, *, max_retry_wait: float | None = None, **kwargs: Any) -> Any:
        budget = self.max_retry_wait if max_retry_wait is None else max_retry_wait
        waited = 0.0
        while True:
            try:
                response = self.http.request(method, f"{self.api_url}{path}", timeout=self.timeout, **kwargs)
            except requests.Timeout as exc:
                raise ClerkUnavailable("Clerk did not answer in time. Please try again in a moment.") from exc
            except requests.RequestException as exc:
                raise ClerkUnavailable("Clerk cannot be reached right now. Please try again in a moment.") from exc

            if response.status_code == 429:
                delay = _retry_after(response)
                if waited + delay > budget:
                    raise ClerkUnavailable(
                        "Clerk is receiving too many requests. Please try again in a few seconds.",
                        retry_after=delay,
                    )
                log.info("Clerk rate limit on %s %s: waiting %.1fs", method, path, delay)
                time.sleep(delay)
                waited += delay
                continue
            if response.status_code >= 500:
                raise ClerkUnavailable(f"Clerk had a problem (HTTP {response.status_code}). Please try again later.")
            if response.status_code >= 400:
                error = self._api_error(response)
                if response.status_code == 401 or (response.status_code == 403 and KEY_REFUSED_CODES & set(error.codes)):
                    self._key_refused(response.status_code, error)
                raise error
            self.key_refused = False
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:  # something between us and Clerk answered with a page
                raise ClerkUnavailable("The answer was not Clerk's. Please try again later.") from exc

    def _key_refused(self, status: int, error: ClerkAPIError) -> None:
        if not self.key_refused:  # once, not on every request that follows
            log.error(
                "Clerk refused CLERK_SECRET_KEY (HTTP %s: %s): check the key in the Clerk dashboard "
                "(API Keys) and the instance CLERK_API_URL points at",
                status, error,
            )
        self.key_refused = True
        raise ClerkUnauthorized("Mentorly cannot reach its sign-in service right now. Please try again later.")

    @staticmethod
    def _api_error(response: requests.Response) -> ClerkAPIError:
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        if not isinstance(errors, list):
            errors = []
        errors = [error for error in errors if isinstance(error, dict)]
        cls = ClerkNotFound if response.status_code == 404 else ClerkAPIError
        return cls(response.status_code, errors)

    def _object(self, method: str, collection: str, object_id: str, rest: str = "", **kwargs: Any) -> dict[str, Any]:
        """A call on one object (`/users/{id}...`), its id quoted as one path segment, and an
        answer about that object only: a different `id` is refused, never used."""
        answer = self.request(method, f"/{collection}/{quote(object_id, safe='')}{rest}", **kwargs)
        if not isinstance(answer, dict) or answer.get("id") != object_id:
            raise ClerkUnavailable("Clerk's answer was about another object than the one asked for.")
        return answer

    # --- Users ----------------------------------------------------------------------------------

    def get_user(self, user_id: str, *, max_retry_wait: float | None = None) -> dict[str, Any]:
        return self._object("GET", "users", user_id, max_retry_wait=max_retry_wait)

    def list_users(
        self,
        *,
        limit: int = 500,
        offset: int = 0,
        order_by: str = "created_at",
        starting_after: str | None = None,
        max_retry_wait: float | None = None,
    ) -> list[dict[str, Any]]:
        """One page of users (Clerk answers a plain array): after the user `starting_after`
        (Clerk's cursor, for `created_at` orderings) or from `offset`."""
        params: dict[str, Any] = {"limit": limit, "order_by": order_by}
        if starting_after is not None:
            params["starting_after"] = starting_after
        else:
            params["offset"] = offset
        return self.request("GET", "/users", params=params, max_retry_wait=max_retry_wait)

    def count_users(self) -> int:
        return int(self.request("GET", "/users/count")["total_count"])

    def update_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        return self._object("PATCH", "users", user_id, json=fields)

    def delete_user(self, user_id: str) -> dict[str, Any]:
        return self._object("DELETE", "users", user_id)

    def set_profile_image(self, user_id: str, data: bytes, filename: str, content_type: str) -> dict[str, Any]:
        return self._object("POST", "users", user_id, "/profile_image", files={"file": (filename, data, content_type)})

    def delete_profile_image(self, user_id: str) -> dict[str, Any]:
        return self._object("DELETE", "users", user_id, "/profile_image")

    def update_metadata(self, user_id: str, **metadata: dict[str, Any]) -> dict[str, Any]:
        """Deep-merge `public_metadata`, `private_metadata` and/or `unsafe_metadata`."""
        return self._object("PATCH", "users", user_id, "/metadata", json=metadata)

    # --- Sessions and keys ------------------------------------------------------------------------

    def list_sessions(self, user_id: str, status: str = "active") -> list[dict[str, Any]]:
        """Every session of the user with this status, page after page (Clerk pages by 10
        unless asked for more, at most 500 a page)."""
        sessions: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET",
                "/sessions",
                params={"user_id": user_id, "status": status, "limit": SESSIONS_PAGE, "offset": len(sessions)},
            )
            if not isinstance(page, list):
                raise ClerkUnavailable("Clerk's list of sessions was not a list.")
            sessions.extend(page)
            if len(page) < SESSIONS_PAGE:
                return sessions

    def get_session(self, session_id: str) -> dict[str, Any]:
        return self._object("GET", "sessions", session_id)

    def revoke_session(self, session_id: str) -> dict[str, Any]:
        return self._object("POST", "sessions", session_id, "/revoke")

    def jwks(self) -> dict[str, Any]:
        return self.request("GET", "/jwks")


def check_secret_key(client: ClerkClient) -> str | None:
    """At start-up: the reason Clerk refuses the secret key, or None when it accepts it or
    cannot be asked now (Clerk unreachable or slow is no reason not to start)."""
    for check in (client.jwks, lambda: client.list_users(limit=1)):
        try:
            check()
        except ClerkUnauthorized:
            return "Clerk refused CLERK_SECRET_KEY (HTTP 401/403): set the secret key of this Clerk instance"
        except ClerkUnavailable as exc:
            log.warning("Clerk could not be asked at start-up (%s): starting anyway", exc)
            return None
        except ClerkError:
            return None
    return None


def clerk_client() -> ClerkClient:
    """The app's client (one `requests` session per app, so connections are reused)."""
    client = current_app.extensions.get("mentorly.clerk_client")
    if client is None:
        config = current_app.config
        client = ClerkClient(config["CLERK_API_URL"], config["CLERK_SECRET_KEY"], config["CLERK_API_VERSION"])
        current_app.extensions["mentorly.clerk_client"] = client
    return client
