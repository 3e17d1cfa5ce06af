"""What the server renders so that htmx, not our own JavaScript, does the work: the CSRF header
(`hx-headers`), htmx's settings (`<meta name="htmx-config">`), the current section's mark (sent out
of band with each section), the focus on the first error (`autofocus`) and the busy labels.
The browser tests (test_browser_settings.py) show the same things working in Chromium.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from mentorly.htmx import HTMX_CONFIG

from .onboarding_support import HTMX as WIZARD_HTMX
from .onboarding_support import post_step, set_progress
from .settings_support import member  # noqa: F401  (a fixture)
from .settings_support import HTMX, PROFILE, SECTIONS, csrf_token, profile_data

SETTINGS = "/dashboard/settings"


def text(response) -> str:
    return response.get_data(as_text=True)


def tags_with(page: str, attribute: str) -> list[str]:
    return re.findall(rf"<[a-z0-9]+\b[^>]*\s{attribute}(?:[\s=][^>]*)?>", page)


def attribute(page: str, tag: str, name: str) -> str:
    match = re.search(rf"<{tag}\b[^>]*\s{name}='([^']*)'", page)
    assert match, f"no {name} on <{tag}>"
    return html.unescape(match.group(1))


# --- CSRF header and htmx's settings ---------------------------------------------------------------


def test_the_body_gives_htmx_the_csrf_header_and_the_server_accepts_it(app, client, sign_in):
    sign_in(client)
    page = text(client.get(f"{SETTINGS}/appearance"))
    assert 'name="csrf-token"' not in page  # no meta tag for a script to read
    headers = json.loads(attribute(page, "body", "hx-headers"))
    assert list(headers) == ["X-CSRFToken"]

    # A post that carries the token only as htmx's header (no form field) is accepted...
    response = client.post(
        f"{SETTINGS}/appearance", data={"theme": "dark"}, headers={**HTMX, "X-CSRFToken": headers["X-CSRFToken"]}
    )
    assert response.status_code == 200
    # ...and one with neither is refused.
    assert client.post(f"{SETTINGS}/appearance", data={"theme": "light"}, headers=HTMX).status_code == 400


def test_htmx_settings_come_from_a_meta_tag(app, client):
    page = text(client.get("/"))
    config = json.loads(html.unescape(re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page).group(1)))
    assert config == HTMX_CONFIG
    assert {"code": "422", "swap": True} in config["responseHandling"]
    assert (config["historyCacheSize"], config["includeIndicatorStyles"]) == (0, False)


# --- The current section's mark ---------------------------------------------------------------------


def section_links(page: str) -> str:
    match = re.search(r'<ul id="section-links"[^>]*>.*?</ul>', page, re.S)
    assert match, "no section links"
    return match.group(0)


@pytest.mark.parametrize("section", SECTIONS)
def test_a_section_fragment_carries_the_marked_section_links_out_of_band(app, client, member, section):
    member(client)
    url = f"{SETTINGS}/{section}"
    links = section_links(text(client.get(url, headers=HTMX)))
    assert links.startswith('<ul id="section-links" hx-swap-oob="true">')
    assert re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', links) == [url]
    assert len(re.findall(r"<a href=", links)) == len(SECTIONS)

    # The whole page holds the same list in its navigation, not out of band.
    page = section_links(text(client.get(url)))
    assert "hx-swap-oob" not in page
    assert re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', page) == [url]


def test_a_saved_section_carries_the_marked_links_too(app, client, member):
    user = member(client)
    response = client.post(PROFILE, data=profile_data(user, csrf_token(client), location="Quito"), headers=HTMX)
    assert response.status_code == 200
    links = section_links(text(response))
    assert 'hx-swap-oob="true"' in links
    assert re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', links) == [PROFILE]


# --- The focus on the first error -------------------------------------------------------------------


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "without-javascript"])
def test_the_first_invalid_field_gets_autofocus_and_only_it(app, client, member, headers):
    user = member(client)
    data = profile_data(user, csrf_token(client), website="javascript:alert(1)", location="x" * 101)
    response = client.post(PROFILE, data=data, headers=headers)
    assert response.status_code == 422
    page = text(response)
    focused = tags_with(page, "autofocus")
    assert len(focused) == 1
    assert 'id="website"' in focused[0] and 'aria-invalid="true"' in focused[0]
    location = re.search(r'<input[^>]*\bid="location"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in location and "autofocus" not in location


def test_a_section_without_errors_takes_no_focus(app, client, member):
    member(client)
    assert tags_with(text(client.get(PROFILE, headers=HTMX)), "autofocus") == []
    assert tags_with(text(client.get(PROFILE)), "autofocus") == []


def test_when_clerk_cannot_be_reached_the_message_gets_the_focus(app, client, member):
    app.config["CLERK_API_URL"] = "http://127.0.0.1:9/v1"
    app.extensions.pop("mentorly.clerk_client", None)
    user = member(client)
    response = client.post(PROFILE, data=profile_data(user, csrf_token(client), first_name="Changed"), headers=HTMX)
    assert response.status_code == 503
    focused = tags_with(text(response), "autofocus")
    assert focused == ['<p tabindex="-1" autofocus>']
    assert re.search(r'<p tabindex="-1" autofocus>Your profile was not saved\.', text(response))


def test_an_invalid_radio_choice_focuses_its_first_option(app, client, sign_in):
    sign_in(client)
    token = csrf_token(client, f"{SETTINGS}/appearance")
    response = client.post(f"{SETTINGS}/appearance", data={"csrf_token": token, "theme": "neon"}, headers=HTMX)
    assert response.status_code == 422
    focused = tags_with(text(response), "autofocus")
    assert len(focused) == 1 and 'value="system"' in focused[0]


def test_a_wizard_step_swapped_in_focuses_its_heading_and_an_invalid_one_its_first_error(app, client, sign_in):
    user = sign_in(client, onboarded=False)
    set_progress(app, user.clerk_id, 1)

    # Saved with htmx: the next step's heading takes the focus (a screen reader starts there).
    saved = post_step(client, "profile", {"bio": "", "location": "Lima", "timezone": "America/Lima"},
                      headers=WIZARD_HTMX)
    assert saved.status_code == 200
    assert tags_with(text(saved), "autofocus") == ['<h1 id="step-heading" tabindex="-1" autofocus>']

    # Refused: the first field to fix takes it instead, and the heading does not.
    refused = post_step(client, "goals", {"goal": "learn", "interests": []}, headers=WIZARD_HTMX)
    assert refused.status_code == 422
    focused = tags_with(text(refused), "autofocus")
    assert len(focused) == 1 and 'name="interests"' in focused[0] and 'value="software-engineering"' in focused[0]

    # A whole page leaves the focus where the browser puts it.
    assert tags_with(text(client.get("/onboarding/goals")), "autofocus") == []


# --- Busy labels ---------------------------------------------------------------------------------------


def test_submit_buttons_carry_their_busy_label_for_htmxs_request_class(app, client, member):
    member(client)
    page = text(client.get(PROFILE))
    assert (
        '<button type="submit"><span class="idle-label">Save profile</span>'
        '<span class="busy-label">Saving…</span></button>'
    ) in page
    assert 'hx-disabled-elt="find button[type=submit]"' in page
    assert "data-busy-label" not in page
