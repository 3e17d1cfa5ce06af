"""Shared by the settings and profile tests: CSRF tokens as a browser gets them, form data,
users that exist both in the emulator (Clerk) and locally, and real images made with Pillow."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import get_user_by_clerk_id, sync_user_to_db

from .conftest import csrf_token_in, make_session_token

PROFILE = "/dashboard/settings/profile"
SECTIONS = ("profile", "notifications", "security", "billing", "appearance", "integrations")
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/dashboard/settings/profile"}


def csrf_token(client, path: str = PROFILE) -> str:
    """The token a page carries (its forms' field; htmx sends the same one from `hx-headers`)."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_token_in(response.get_data(as_text=True))


def profile_data(user: User, token: str | None, **changes: Any) -> dict[str, Any]:
    """What the Profile form posts when a person changes `changes` and nothing else."""
    data: dict[str, Any] = {
        "intent": "profile",
        "first_name": user.first_name or "",
        "last_name": user.last_name or "",
        "username": user.username or "",
        "bio": user.bio or "",
        "website": user.website or "",
        "location": user.location or "",
        "timezone": user.timezone,
    }
    if token is not None:
        data["csrf_token"] = token
    data.update(changes)
    return data


def load_user(app, clerk_id: str) -> User:
    with app.app_context():
        user = get_user_by_clerk_id(clerk_id)
        assert user is not None
        db.session.expunge(user)
        return user


def sign_in_clerk_user(app, client, emulator, **fields: Any) -> User:
    """A user created in the emulator (as Clerk would hold it), stored here from Clerk's object,
    onboarded, and signed in on `client`."""
    clerk_user = emulator.create_user(**fields)
    with app.app_context():
        user = sync_user_to_db(clerk_user)
        user.is_onboarded = True
        user.onboarding_step = 4
        db.session.commit()
    client.set_cookie("__session", make_session_token(clerk_user["id"]))
    return load_user(app, clerk_user["id"])


def image_bytes(image_format: str, size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    mode = "RGBA" if image_format in ("PNG", "WEBP") else "RGB"
    image = Image.new(mode, size, (200, 80, 40, 255) if mode == "RGBA" else (200, 80, 40))
    if image_format == "GIF":
        image = image.convert("P")
    output = io.BytesIO()
    image.save(output, image_format, **save)
    return output.getvalue()


@pytest.fixture
def member(sign_in):
    """`member(client, **clerk_fields)`: `sign_in` with a username (the Profile form needs one)."""

    def member(client, **fields: Any) -> User:
        fields.setdefault("username", f"member_{uuid.uuid4().hex[:10]}")
        return sign_in(client, **fields)

    return member
