"""Operator commands, registered on the app: `flask clerk ...`, `flask users ...`, `flask webhooks ...`."""

from __future__ import annotations

from flask import Flask

from .clerk import clerk_cli
from .users import users_cli
from .webhooks import webhooks_cli


def init_app(app: Flask) -> None:
    for group in (clerk_cli, users_cli, webhooks_cli):
        app.cli.add_command(group)
