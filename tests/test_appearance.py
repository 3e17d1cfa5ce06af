"""The Appearance section: the theme and reduced motion, rendered by the server on every page."""

from __future__ import annotations

import json
import re

import pytest

from mentorly.extensions import db
from mentorly.models import User
from tests.sections_support import HTMX, SETTINGS, html_tag, page_csrf, text

pytestmark = pytest.mark.postgres

URL = f"{SETTINGS}/appearance"
# What a page running static/js/settings-appearance.js sends with each htmx request.
LIVE = {**HTMX, "X-Appearance-Live": "1"}
# Pages a signed-in person sees, inside and outside the settings area.
PAGES = [f"{SETTINGS}/{slug}" for slug in ("profile", "notifications", "billing", "appearance", "integrations")]


def set_appearance(app, user_id: int, theme: str, reduced_motion: bool = False) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        user.theme, user.reduced_motion = theme, reduced_motion
        db.session.commit()


def stored(app, user_id: int) -> tuple[str, bool]:
    with app.app_context():
        user = db.session.get(User, user_id)
        return user.theme, user.reduced_motion


def head_before_scripts(page: str) -> str:
    """Everything the browser has parsed before the first script could run."""
    return page[: page.index("<script")]


@pytest.mark.parametrize(
    ("theme", "attribute", "color_scheme"),
    [("light", 'data-theme="light"', "light"), ("dark", 'data-theme="dark"', "dark"), ("system", None, "light dark")],
)
def test_the_server_renders_the_theme_before_any_script(app, client, sign_in, theme, attribute, color_scheme):
    user = sign_in(client)
    set_appearance(app, user.id, theme)
    for url in PAGES:
        page = text(client.get(url))
        tag = html_tag(page)
        before = head_before_scripts(page)
        assert tag in before, url
        if attribute:
            assert attribute in tag, (url, tag)
        else:
            assert "data-theme" not in tag, (url, tag)  # the device's preference decides
        assert f'<meta name="color-scheme" content="{color_scheme}">' in before, url
        assert "data-reduced-motion" not in tag


def test_reduced_motion_is_rendered_on_every_page(app, client, sign_in):
    user = sign_in(client)
    set_appearance(app, user.id, "dark", reduced_motion=True)
    for url in PAGES:
        tag = html_tag(text(client.get(url)))
        assert 'data-reduced-motion="reduce"' in tag and 'data-theme="dark"' in tag, url


def test_the_form_shows_the_stored_choice(app, client, sign_in):
    user = sign_in(client)
    set_appearance(app, user.id, "light", reduced_motion=True)
    page = text(client.get(URL))
    checked = re.findall(r'<input[^>]*name="theme"[^>]*>', page)
    assert len(checked) == 3
    assert [tag for tag in checked if re.search(r"\bchecked\b", tag)] == [
        next(tag for tag in checked if 'value="light"' in tag)
    ]
    assert re.search(r'<input[^>]*\bchecked\b[^>]*name="reduced_motion"|<input[^>]*name="reduced_motion"[^>]*\bchecked\b', page)
    for label in ("Theme", "System (follow this device)", "Light", "Dark", "Reduce motion"):
        assert label in page


def test_an_htmx_save_stores_the_choice_and_tells_the_page_at_once(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "appearance")

    response = client.post(URL, data={"csrf_token": token, "theme": "dark", "reduced_motion": "y"}, headers=LIVE)

    assert response.status_code == 200
    assert "HX-Refresh" not in response.headers
    events = json.loads(response.headers["HX-Trigger"])
    assert events["appearance-changed"] == {"theme": "dark", "reducedMotion": True}
    assert events["toast"]["message"] == "Appearance saved: dark theme, reduced motion on."
    assert stored(app, user.id) == ("dark", True)
    assert not text(response).lstrip().startswith("<!doctype")  # the section only
    tag = html_tag(text(client.get(f"{SETTINGS}/profile")))  # and the next page load is dark from the start
    assert 'data-theme="dark"' in tag and 'data-reduced-motion="reduce"' in tag

    response = client.post(URL, data={"csrf_token": token, "theme": "system"}, headers=LIVE)
    assert json.loads(response.headers["HX-Trigger"])["appearance-changed"] == {"theme": "system", "reducedMotion": False}
    assert stored(app, user.id) == ("system", False)
    assert "data-theme" not in html_tag(text(client.get(URL)))


def test_a_page_that_cannot_apply_the_theme_in_place_is_reloaded(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "appearance")
    response = client.post(URL, data={"csrf_token": token, "theme": "dark"}, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Refresh"] == "true"
    assert "appearance-changed" not in response.headers.get("HX-Trigger", "")
    assert stored(app, user.id) == ("dark", False)
    page = text(client.get(URL))  # the reload: dark from the server, and the message
    assert 'data-theme="dark"' in html_tag(page)
    assert "Appearance saved: dark theme, reduced motion off." in page


def test_without_javascript_a_save_redirects_and_the_next_page_has_the_theme(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "appearance")
    response = client.post(URL, data={"csrf_token": token, "theme": "light"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    assert stored(app, user.id) == ("light", False)
    page = text(client.get(URL))
    assert 'data-theme="light"' in html_tag(page)
    assert "Appearance saved: light theme, reduced motion off." in page


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"theme": "purple"}, "Unknown theme 'purple'; choose one of: system, light, dark."),
        ({"theme": "DARK"}, "Unknown theme 'DARK'"),
        ({}, "Unknown theme ''"),
        ({"theme": "dark\" onload=\"x"}, "Unknown theme"),
    ],
    ids=["unknown", "case-matters", "missing", "markup"],
)
def test_an_unknown_theme_is_refused_at_its_field(app, client, sign_in, data, reason):
    user = sign_in(client)
    set_appearance(app, user.id, "light")
    token = page_csrf(client, "appearance")

    for headers in ({}, LIVE):
        response = client.post(URL, data={"csrf_token": token, "reduced_motion": "y", **data}, headers=headers)
        assert response.status_code == 422
        page = text(response)
        error = re.search(r'<small class="field-error" id="theme-error">(.*?)</small>', page, re.S)
        assert error, "the error is shown at the theme field"
        assert reason in error.group(1).replace("&#39;", "'").replace("&#34;", '"')
        assert 'onload="x' not in page
        assert "appearance-changed" not in response.headers.get("HX-Trigger", "")
        assert "HX-Refresh" not in response.headers
    assert stored(app, user.id) == ("light", False)


def test_a_save_needs_a_csrf_token(app, client, sign_in):
    user = sign_in(client)
    response = client.post(URL, data={"theme": "dark"}, headers=HTMX)
    assert response.status_code == 400
    assert stored(app, user.id) == ("system", False)


def test_signed_out_pages_use_the_devices_preference(app, client):
    tag = html_tag(text(client.get("/")))
    assert "data-theme" not in tag and "data-reduced-motion" not in tag
