"""Mentorly accounts: Clerk users kept in PostgreSQL, onboarding and settings.

`create_app` is the application factory (`flask --app mentorly ...` finds it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from dotenv import load_dotenv
from flask import Flask

from .config import load_settings
from .extensions import CookieSessionInterface, csrf, db, migrate
from .log_config import configure_logging
from . import cli, htmx, security
from .timezones import local_time

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = PROJECT_ROOT / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; `config` overrides the environment (tests pass their database and keys)."""
    load_dotenv(override=False)  # a .env file fills in what the environment does not set
    app = Flask(
        __name__,
        instance_path=os.environ.get("MENTORLY_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(load_settings(Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)
    configure_logging(app)
    if app.config["MENTORLY_ENV"] == "production" and not app.config["CLERK_AUTHORIZED_PARTIES"]:
        app.logger.warning("CLERK_AUTHORIZED_PARTIES is empty: session tokens' azp is not checked")
    register_extensions(app)
    register_blueprints(app)
    # App-wide response hooks: `Vary: HX-Request` (every area answers htmx), security headers.
    htmx.init_app(app)
    security.init_app(app)
    app.add_template_filter(local_time)
    cli.init_app(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    app.session_interface = CookieSessionInterface()


def register_blueprints(app: Flask) -> None:
    from . import auth, dashboard, main, onboarding, settings, webhooks

    for blueprint in (main.bp, webhooks.bp, auth.bp, dashboard.bp, onboarding.bp, settings.bp):
        app.register_blueprint(blueprint)
