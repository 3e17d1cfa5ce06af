"""Clerk's error bodies: `{"errors": [{code, message, long_message, meta}], "clerk_trace_id"}`."""

from __future__ import annotations

import secrets
from typing import Any

from flask import jsonify


class ClerkAPIError(Exception):
    """Raised by the emulator's handlers; rendered as Clerk renders its errors."""

    def __init__(self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
        super().__init__(errors[0]["message"] if errors else "error")
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def error_item(code: str, message: str, long_message: str | None = None, param: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "message": message, "long_message": long_message or message}
    if param is not None:
        item["meta"] = {"param_name": param}
    return item


def clerk_error(status: int, code: str, message: str, long_message: str | None = None,
                param: str | None = None, headers: dict[str, str] | None = None) -> ClerkAPIError:
    return ClerkAPIError(status, [error_item(code, message, long_message, param)], headers)


def not_found(what: str = "Resource") -> ClerkAPIError:
    return clerk_error(404, "resource_not_found", "not found", f"{what} not found")


def render(error: ClerkAPIError):
    body = {"errors": error.errors, "clerk_trace_id": secrets.token_hex(16)}
    response = jsonify(body)
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response
