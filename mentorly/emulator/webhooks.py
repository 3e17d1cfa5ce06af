"""Svix-style webhook deliveries from a background thread, in order, with a few retries.

Each event gets one `msg_...` id (the same on every retry, as Svix does) and is signed on every
attempt with that attempt's timestamp, using the svix library's own `Webhook.sign`. A log of
what was sent and how each attempt went is kept for the control endpoints.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import requests
from svix.webhooks import Webhook

from .objects import new_id, now_ms

log = logging.getLogger("mentorly.emulator.webhooks")
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
LOG_SIZE = 2000


class WebhookSender:
    def __init__(self, secret: str, url: str | None, instance_id: str, *, enabled: bool = True,
                 retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS, timeout: float = 15.0) -> None:
        self.signer = Webhook(secret)
        self.url = url
        self.instance_id = instance_id
        self.enabled = enabled
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._idle = threading.Condition()
        self._busy = 0
        self._generation = 0
        self._http = requests.Session()
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        self._thread.start()

    # --- producing ----------------------------------------------------------------------------

    def send(self, event_type: str, data: dict[str, Any], http_request: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Queue one event (nothing when webhooks are off or there is no URL); returns its log entry."""
        if not self.enabled or not self.url:
            return None
        envelope = {
            "data": data,
            "object": "event",
            "type": event_type,
            "timestamp": now_ms(),
            "instance_id": self.instance_id,
            "event_attributes": {"http_request": http_request or {"client_ip": "", "user_agent": ""}},
        }
        entry = {
            "id": new_id("msg"),
            "type": event_type,
            "url": self.url,
            "status": "pending",
            "created_at": envelope["timestamp"],
            "body": json.dumps(envelope, separators=(",", ":")),
            "payload": envelope,
            "attempts": [],
        }
        with self._idle:
            self._busy += 1
            self.log.append(entry)
            self._queue.put({"entry": entry, "generation": self._generation})
        return entry

    # --- delivering ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item["generation"] == self._generation:
                    self._deliver(item["entry"], item["generation"])
            except Exception:  # a bug here must not stop later deliveries
                log.exception("webhook delivery crashed")
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, entry: dict[str, Any], generation: int) -> None:
        delays = (0.0, *self.retry_delays)
        for number, delay in enumerate(delays, start=1):
            if delay:
                time.sleep(delay)
            if generation != self._generation:
                entry["status"] = "cancelled"
                return
            sent_at = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "user-agent": "Svix-Webhooks/1.0 (mentorly-emulator)",
                "svix-id": entry["id"],
                "svix-timestamp": str(int(sent_at.timestamp())),
                "svix-signature": self.signer.sign(entry["id"], sent_at, entry["body"]),
            }
            attempt: dict[str, Any] = {"number": number, "at": int(sent_at.timestamp() * 1000),
                                       "status_code": None, "error": None}
            started = time.perf_counter()
            try:
                response = self._http.post(entry["url"], data=entry["body"].encode(), headers=headers,
                                           timeout=self.timeout, allow_redirects=False)
                attempt["status_code"] = response.status_code
                ok = 200 <= response.status_code < 300
                if not ok:
                    attempt["error"] = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                attempt["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            attempt["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            entry["attempts"].append(attempt)
            if ok:
                entry["status"] = "delivered"
                return
            log.warning("webhook %s %s attempt %d failed: %s", entry["type"], entry["id"], number, attempt["error"])
        entry["status"] = "failed"

    # --- control ------------------------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued event has been delivered or has failed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    @property
    def pending(self) -> int:
        return self._busy

    def clear(self) -> None:
        """Drop the log and anything not yet delivered."""
        with self._idle:
            self._generation += 1
            self.log.clear()

    def entries(self) -> list[dict[str, Any]]:
        with self._idle:
            return [dict(entry, attempts=list(entry["attempts"])) for entry in self.log]
