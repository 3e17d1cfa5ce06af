"""Every page under the production Content-Security-Policy, in Chromium: no violations.

The app runs with MENTORLY_ENV=production (CSP, HSTS, secure cookies) on a real HTTP server; the
browser listens for `securitypolicyviolation` events and CSP console errors while each page loads
and settles. Requests that would leave this machine (ClerkJS from the Frontend API host, Clerk's
images) are aborted by the browser context, which is not a CSP matter.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from mentorly import create_app
from mentorly.extensions import db
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, LiveServer
from .conftest import TEST_JWT_KEY, clerk_user, make_session_token
from .test_production import production_env

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
                     line: e.lineNumber, sample: e.sample});
});
"""
SIGNED_IN_PAGES = [
    "/dashboard",
    "/dashboard/settings/profile",
    "/dashboard/settings/notifications",
    "/dashboard/settings/security",
    "/dashboard/settings/billing",
    "/dashboard/settings/appearance",
    "/dashboard/settings/integrations",
]


@pytest.fixture
def production_site(monkeypatch, tmp_path, database_url):
    env = production_env(database_url, CLERK_JWT_KEY=TEST_JWT_KEY, CLERK_AUTHORIZED_PARTIES="http://localhost")
    for name in list(os.environ):
        if name.startswith(("MENTORLY_", "CLERK_")):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.startswith(("MENTORLY_", "CLERK_")) or name in ("SECRET_KEY", "DATABASE_URL"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MENTORLY_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app()

    @app.get("/_inline_probe")
    def inline_probe():
        # What the policy must catch: an inline script and an inline style.
        return '<!doctype html><p style="color: red">x</p><script>document.title = "ran"</script>'

    with app.app_context():
        onboarded = sync_user_to_db(clerk_user(email="csp@example.com"))
        onboarded.is_onboarded = True
        onboarded.onboarding_step = 4
        newcomer = sync_user_to_db(clerk_user(email="new@example.com"))
        db.session.commit()
        ids = (onboarded.clerk_id, newcomer.clerk_id)
    with LiveServer(app) as server:
        yield server, ids
    with app.app_context():
        db.engine.dispose()


def visit(browser, base_url: str, paths: list[str], clerk_id: str | None) -> dict[str, list]:
    context = browser.new_context(viewport=DESKTOP)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base_url)
                  else route.abort())
    if clerk_id:
        now = str(int(datetime.now(UTC).timestamp()))
        context.add_cookies([
            {"name": "__session", "value": make_session_token(clerk_id, azp="http://localhost", lifetime=600),
             "url": base_url},
            {"name": "__client_uat", "value": now, "url": base_url},
        ])
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text)
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text else None)
    found: dict[str, list] = {}
    try:
        for path in paths:
            console.clear()
            response = page.goto(base_url + path, wait_until="load")
            assert response is not None and response.status == 200, (path, response and response.status)
            assert "default-src 'self'" in (response.headers.get("content-security-policy") or ""), path
            page.wait_for_timeout(300)  # let scripts run (htmx, our glue) and inject what they inject
            violations = page.evaluate("window.__csp") + console
            if violations:
                found[path] = violations
    finally:
        context.close()
    return found


def test_every_page_renders_under_the_production_csp(browser, production_site):
    server, (onboarded, newcomer) = production_site
    found = visit(browser, server.url, ["/", "/sign-in"], None)
    found.update(visit(browser, server.url, SIGNED_IN_PAGES, onboarded))
    found.update(visit(browser, server.url, ["/onboarding"], newcomer))
    assert found == {}


def test_the_listener_catches_inline_script_and_style(browser, production_site):
    server, _ = production_site
    found = visit(browser, server.url, ["/_inline_probe"], None)
    directives = {v["directive"] for v in found["/_inline_probe"] if isinstance(v, dict)}
    assert {"script-src-elem", "style-src-attr"} <= directives
