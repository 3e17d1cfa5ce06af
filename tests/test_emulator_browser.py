"""The ClerkJS stand-in in Chromium: a page on an "app" origin loads it from the emulator, signs in
through the emulator's page, refreshes its token, opens the account page and signs out."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import jwt
import pytest

from .emulator import free_port

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><title>App page</title>
<script src="{emulator}/npm/@clerk/ui@1/dist/ui.browser.js"></script>
<script src="{emulator}/npm/@clerk/clerk-js@6/dist/clerk.browser.js" data-clerk-publishable-key="{key}"></script>
</head><body><h1>{path}</h1><div id="clerk"></div>
<script>
window.clerkReady = (async () => {{
  await Clerk.load({{ui: {{ClerkUI: window.__internal_ClerkUICtor}}}});
  document.body.dataset.user = Clerk.user ? Clerk.user.id : "none";
  if (location.pathname === "/sign-in" && !Clerk.user) Clerk.mountSignIn(document.getElementById("clerk"));
}})();
</script></body></html>"""


class AppStub:
    """A stand-in for the app's origin: every path answers with a page that loads ClerkJS."""

    def __init__(self) -> None:
        self.port = free_port()
        self.emulator_url = ""
        self.publishable_key = ""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = PAGE.format(emulator=stub.emulator_url, key=stub.publishable_key,
                                   path=self.path.split("?")[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def app_stub() -> Iterator[AppStub]:
    stub = AppStub()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def cookies_by_name(context) -> dict[str, str]:
    return {cookie["name"]: cookie["value"] for cookie in context.cookies()}


def test_clerkjs_stand_in_signs_in_refreshes_and_signs_out(browser, app_stub, emulator_factory):
    emulator = emulator_factory(app_url=app_stub.url)
    app_stub.emulator_url, app_stub.publishable_key = emulator.url, emulator.publishable_key
    context = browser.new_context()
    page = context.new_page()

    # Signed out: load() clears the cookie state, and mountSignIn goes to the emulator's page.
    page.goto(f"{app_stub.url}/sign-in?redirect_url=/dashboard")
    page.wait_for_url(f"{emulator.url}/sign-in?*")
    assert f"redirect_url={app_stub.url.replace(':', '%3A').replace('/', '%2F')}%2Fdashboard" in page.url
    page.get_by_label("Email address").fill("ada@example.test")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_role("button", name="Create account and sign in").click()

    page.wait_for_url(f"{app_stub.url}/dashboard")
    page.evaluate("window.clerkReady")
    user_id = page.locator("body").get_attribute("data-user")
    assert user_id.startswith("user_")
    assert page.evaluate("Clerk.user.primaryEmailAddress.emailAddress") == "ada@example.test"
    jar = cookies_by_name(context)
    claims = jwt.decode(jar["__session"], options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["azp"] == app_stub.url
    assert int(jar["__client_uat"]) > 0

    # getToken() fetches a fresh token and writes it into the page's cookie.
    token = page.evaluate("Clerk.session.getToken()")
    assert page.evaluate("document.cookie").count(token) >= 1
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == claims["sid"]

    # The account page, and back.
    page.evaluate("Clerk.openUserProfile()")
    page.wait_for_url(f"{emulator.url}/user?*")
    page.get_by_role("button", name="Turn on two-step verification").click()
    page.get_by_text("Two-step verification updated.").wait_for()
    assert emulator.api("GET", f"/users/{user_id}").json()["two_factor_enabled"] is True
    page.get_by_role("link", name="Back to Mentorly").click()
    page.wait_for_url(f"{app_stub.url}/dashboard")

    # signOut ends the session at the emulator and clears the cookies on the app's page.
    page.evaluate("window.clerkReady")
    page.evaluate("Clerk.signOut({redirectUrl: '/goodbye'})")
    page.wait_for_url(f"{app_stub.url}/goodbye")
    jar = cookies_by_name(context)
    assert "__session" not in jar and jar["__client_uat"] == "0"
    assert emulator.api("GET", f"/sessions/{claims['sid']}").json()["status"] == "ended"
    page.evaluate("window.clerkReady")
    assert page.locator("body").get_attribute("data-user") == "none"
    context.close()
