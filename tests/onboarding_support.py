"""Small readers of the wizard's pages, used by the onboarding and dashboard tests."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from mentorly.extensions import db
from mentorly.models import User

from .conftest import csrf_token_in as csrf_token

STEP_SLUGS = ("about", "profile", "goals", "review")
SETTINGS_SECTIONS = ("profile", "notifications", "security", "billing", "appearance", "integrations")
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/onboarding"}




def text(response) -> str:
    return response.get_data(as_text=True)


def post_step(
    client, slug: str, data: dict[str, Any], *, headers: dict[str, str] | None = None, page: str | None = None
):
    """Post a step the way a browser does: the CSRF token comes from the rendered step."""
    if page is None:
        shown = client.get(f"/onboarding/{slug}")
        assert shown.status_code == 200, (shown.status_code, shown.headers.get("Location"))
        page = text(shown)
    return client.post(f"/onboarding/{slug}", data={"csrf_token": csrf_token(page), **data}, headers=headers or {})


def field_block(page: str, field_id: str) -> str:
    """The markup of one field as `render_field` draws it (label, input, help, errors)."""
    start = page.find(f'id="{field_id}-field"')
    assert start != -1, f"no field {field_id!r} in the page"
    start = page.rfind("<div", 0, start)
    end = page.find('<div class="field', start + 10)
    form_end = page.find("</form>", start)
    end = form_end if end == -1 else min(end, form_end)
    return page[start:end]


def input_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', page)
    if not match:
        return None
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else ""


def textarea_value(page: str, name: str) -> str | None:
    match = re.search(rf'<textarea[^>]*\bname="{re.escape(name)}"[^>]*>(.*?)</textarea>', page, re.S)
    return html.unescape(match.group(1)).lstrip("\r\n") if match else None


def selected_option(page: str, name: str) -> str | None:
    select_match = re.search(rf'<select[^>]*\bname="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    if not select_match:
        return None
    option = re.search(r'<option value="([^"]*)" selected>', select_match.group(1))
    return html.unescape(option.group(1)) if option else None


def checked_values(page: str, name: str) -> set[str]:
    values = set()
    for tag in re.findall(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', page):
        if re.search(r"\bchecked\b", tag):
            values.add(html.unescape(re.search(r'\bvalue="([^"]*)"', tag).group(1)))
    return values


def load_user(app, clerk_id: str) -> User:
    with app.app_context():
        user = db.session.execute(select(User).where(User.clerk_id == clerk_id)).scalar_one()
        db.session.expunge(user)
        return user


def set_progress(app, clerk_id: str, completed: int, **fields: Any) -> None:
    """Put a user part-way through the wizard (as if the earlier steps were saved)."""
    with app.app_context():
        user = db.session.execute(select(User).where(User.clerk_id == clerk_id)).scalar_one()
        user.onboarding_step = completed
        for name, value in fields.items():
            setattr(user, name, value)
        db.session.commit()


def location_path(response) -> str:
    location = response.headers.get("Location", "")
    return re.sub(r"^https?://[^/]+", "", location)
