"""The dashboard (signed in and onboarded) and the public landing page."""

from __future__ import annotations

import pytest

from tests.conftest import make_session_token
from tests.emulator import free_port
from tests.onboarding_support import HTMX, SETTINGS_SECTIONS, location_path, set_progress, text

pytestmark = pytest.mark.postgres


def test_the_dashboard_greets_the_user_with_their_profile(app, client, sign_in):
    user = sign_in(client, onboarded=True, first_name="Ada", last_name="Lovelace", username="ada_l",
                   image_url="https://img.clerk.com/ada.png")
    set_progress(app, user.clerk_id, 4, bio="Poet of <science>.\nAnalyst.", location="London",
                 points=120, level=3, goal="both", interests=["leadership", "design"])
    response = client.get("/dashboard")
    assert response.status_code == 200
    page = text(response)
    assert "Hello, Ada" in page
    assert "Ada Lovelace" in page and "@ada_l" in page and "London" in page
    assert "Poet of &lt;science&gt;.\nAnalyst." in page
    assert '<img src="https://img.clerk.com/ada.png" alt="Your avatar"' in page
    assert '<span class="avatar-initials" aria-hidden="true">AL</span>' in page  # under the image
    assert "<dt>Points</dt><dd>120</dd>" in page and "<dt>Level</dt><dd>3</dd>" in page
    assert "Both: learn and mentor" in page and "Design &amp; UX, Leadership &amp; management" in page
    for section in SETTINGS_SECTIONS:
        assert f'href="/dashboard/settings/{section}"' in page, section
    assert "Welcome to Mentorly" not in page  # only right after finishing onboarding


def test_the_dashboard_without_an_avatar_shows_initials(client, sign_in):
    sign_in(client, onboarded=True, first_name="grace", last_name=None, username="gh", image_url=None)
    page = text(client.get("/dashboard"))
    assert '<span class="avatar-initials" aria-hidden="true">G</span>' in page
    assert 'alt="Your avatar"' not in page


def test_the_dashboard_needs_a_signed_in_user(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert location_path(response) == "/sign-in?redirect_url=%2Fdashboard"
    htmx = client.get("/dashboard", headers=HTMX)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/sign-in")


def test_the_landing_page_offers_sign_in_when_signed_out(client):
    response = client.get("/")
    assert response.status_code == 200
    page = text(response)
    assert 'href="/sign-in"' in page and ">Sign in</a>" in page
    assert "Go to your dashboard" not in page


@pytest.mark.parametrize("onboarded", [True, False])
def test_the_landing_page_leads_a_signed_in_user_to_the_dashboard(client, sign_in, onboarded):
    sign_in(client, onboarded=onboarded)
    page = text(client.get("/"))
    assert '<a href="/dashboard" role="button">Go to your dashboard</a>' in page
    assert ">Sign in</a>" not in page
    assert ("set up your profile" in page) is not onboarded


def test_the_landing_page_renders_signed_out_when_clerk_cannot_be_asked(app, client):
    # A valid token for a user this app has not stored yet needs Clerk, which is unreachable.
    app.config["CLERK_API_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    client.set_cookie("__session", make_session_token("user_not_synced_yet"))
    response = client.get("/")
    assert response.status_code == 200
    assert ">Sign in</a>" in text(response)
