"""What every page of the site shares: the favicon, and error pages in the site's layout."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.postgres


# --- favicon ------------------------------------------------------------------------------------


def test_the_app_serves_its_favicon_and_every_page_links_it(client):
    page = client.get("/").get_data(as_text=True)
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link, "the layout links an SVG icon"
    for url in (link.group(1), "/favicon.ico"):
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.mimetype == "image/svg+xml"
            assert b"<svg" in response.data


def test_the_emulator_serves_a_favicon_and_its_pages_link_it(emulator):
    page = emulator.http.get(f"{emulator.url}/sign-in")
    assert '<link rel="icon" href="/favicon.ico"' in page.text
    response = emulator.http.get(f"{emulator.url}/favicon.ico")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in response.content
