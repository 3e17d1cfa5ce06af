"""What every page of the site shares: the favicon, and error pages in the site's layout."""

from __future__ import annotations

import json
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


# --- error pages --------------------------------------------------------------------------------

HTMX = {"HX-Request": "true"}


@pytest.fixture
def failing_app(make_app):
    """An app whose /__test/... routes fail with each status, exceptions handled as in production."""
    from flask import abort

    app = make_app(PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=1024)

    @app.get("/__test/crash")
    def crash():
        raise RuntimeError("boom")

    @app.get("/__test/gone")
    def gone():
        abort(410)

    @app.get("/__test/unavailable")
    def unavailable():
        abort(503)

    @app.post("/__test/upload")
    def upload():
        from flask import request

        return str(len(request.get_data()))

    return app


def error_request(status: int) -> tuple[str, str, dict]:
    """How to provoke `status`: method, URL and request arguments."""
    return {
        400: ("POST", "/sign-out", {}),  # a form without its CSRF token
        404: ("GET", "/no/such/page", {}),
        405: ("DELETE", "/", {}),
        410: ("GET", "/__test/gone", {}),
        413: ("POST", "/__test/upload", {"data": b"x" * 4096}),
        500: ("GET", "/__test/crash", {}),
        503: ("GET", "/__test/unavailable", {}),
    }[status]


STATUSES = [400, 404, 405, 410, 413, 500, 503]


@pytest.mark.parametrize("status", STATUSES)
def test_error_pages_use_the_site_layout_with_a_way_home(failing_app, status):
    method, url, kwargs = error_request(status)
    with failing_app.test_client() as client:
        response = client.open(url, method=method, **kwargs)
        page = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert 'class="site-header"' in page  # templates/base.html
    assert 'rel="icon"' in page
    assert re.search(r'<a href="/">[^<]*home', page)
    assert "Not Found" not in page and "Internal Server Error" not in page and "Bad Request" not in page
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_a_signed_in_person_meets_a_missing_page_in_their_own_header_and_theme(app, client, sign_in):
    from mentorly.extensions import db
    from mentorly.models import User

    user = sign_in(client)
    with app.app_context():
        db.session.get(User, user.id).theme = "dark"
        db.session.commit()
    response = client.get("/dashboard/settings/no-such-section")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'data-theme="dark"' in page
    assert 'href="/dashboard"' in page and "Sign out" in page

    client.delete_cookie("__session")
    page = client.get("/no/such/page").get_data(as_text=True)
    assert "Sign out" not in page and "data-theme" not in page


@pytest.mark.parametrize("status", STATUSES)
def test_an_htmx_request_for_an_error_gets_a_toast_not_a_page(failing_app, status):
    method, url, kwargs = error_request(status)
    with failing_app.test_client() as client:
        response = client.open(url, method=method, headers=HTMX, **kwargs)
        body = response.get_data(as_text=True)
    assert response.status_code == status
    assert body == ""
    assert response.headers["HX-Reswap"] == "none"
    event = json.loads(response.headers["HX-Trigger"])["toast"]
    assert event["level"] == "error" and event["message"]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_the_webhook_endpoint_still_answers_json_errors(client, method):
    response = client.open("/api/webhooks/clerk", method=method)
    assert response.status_code == 405
    assert response.is_json and "error" in response.get_json()
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404
    assert response.is_json and "error" in response.get_json()
