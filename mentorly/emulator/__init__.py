"""A local stand-in for Clerk, for development and tests only.

A small Flask app of its own, served on its own port: the Backend API subset Mentorly uses (at
Clerk's paths, in Clerk's shapes, with Clerk's error codes), a JWKS and RS256 session tokens, a
sign-in page, a ClerkJS stand-in, and Svix-signed webhooks for every change it makes. Control
endpoints under `/__emulator/` let tests create users and sessions, switch webhooks off and make
the Backend API fail on purpose. It refuses to run when MENTORLY_ENV is `production`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from dotenv import dotenv_values, find_dotenv
from flask import Flask, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import config as settings
from .core import Emulator, EmulatorConfig, publishable_key_for
from .errors import ClerkAPIError, clerk_error, render
from .tokens import DEFAULT_TOKEN_LIFETIME
from .webhooks import DEFAULT_RETRY_DELAYS

__all__ = ["create_emulator_app", "EmulatorConfig", "Emulator", "publishable_key_for", "ProductionRefused"]


class ProductionRefused(RuntimeError):
    """The emulator never runs in production."""


def refuse_production(environ: Mapping[str, str] | None = None) -> None:
    """Raise when MENTORLY_ENV (from the environment, else from a `.env` file, as the app reads
    it) is `production`."""
    if environ is None:
        environ = os.environ
        dotenv_path = find_dotenv(usecwd=True)
        if "MENTORLY_ENV" not in environ and dotenv_path:
            environ = {key: value or "" for key, value in dotenv_values(dotenv_path).items()}
    env = environ.get("MENTORLY_ENV", "").strip().lower()
    if env == "production":
        raise ProductionRefused("The Clerk emulator is for development and tests only and refuses to start "
                                "with MENTORLY_ENV=production.")


def create_emulator_app(
    state_dir: str | Path = "instance/emulator",
    *,
    public_url: str | None = None,
    app_url: str = "http://127.0.0.1:5000",
    webhook_url: str | None = None,
    secret_key: str = settings.EMULATOR_SECRET_KEY,
    webhook_secret: str = settings.EMULATOR_WEBHOOK_SECRET,
    webhooks_enabled: bool = True,
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    **extra: Any,
) -> Flask:
    """The emulator as a WSGI app. `public_url` is where browsers and the app reach it
    (default `http://EMULATOR_HOST:EMULATOR_PORT`): it is the tokens' `iss`, the host of image
    URLs and the host the publishable key encodes."""
    refuse_production()
    config = EmulatorConfig(
        state_dir=Path(state_dir),
        public_url=public_url or f"http://{settings.EMULATOR_HOST}:{settings.EMULATOR_PORT}",
        app_url=app_url,
        secret_key=secret_key,
        webhook_secret=webhook_secret,
        webhook_url=webhook_url,
        webhooks_enabled=webhooks_enabled,
        token_lifetime=token_lifetime,
        retry_delays=tuple(retry_delays),
        extra=extra,
    )
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        EMULATOR=config,
    )
    app.json.sort_keys = False
    app.extensions["mentorly.emulator"] = Emulator(config)

    from . import api, control, frontend

    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(frontend.bp)

    @app.errorhandler(ClerkAPIError)
    def clerk_api_error(error: ClerkAPIError):
        return render(error)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge):
        return render(clerk_error(413, "request_body_too_large", "is too large",
                                  "The request body is too large.", "file"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith(("/v1/", "/__emulator/")):
            code = "resource_not_found" if error.code == 404 else "request_invalid"
            return render(clerk_error(error.code or 500, code, error.name, error.description or error.name))
        return error

    return app
