"""Accessibility in Chromium: axe-core on every page, in both themes, at desktop and phone widths,
and the settings area driven with the keyboard only.

Every page the product shows (landing, sign-in, each onboarding step, the dashboard, the six
settings sections, their error states, and the error pages: not found, database unavailable)
must have no violation that axe-core rates serious or critical, in the light and the dark theme,
at desktop and phone widths. Each page is loaded once and checked in all four looks (the theme
follows the browser's colour scheme, which is switched in place, as is the width); every
violation found on the way is reported at once, with its rule and the elements concerned.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from mentorly import create_app
from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, PHONE, LiveServer
from .conftest import base_config, dispose, make_session_token
from .emulator import free_port
from .onboarding_support import SETTINGS_SECTIONS, STEP_SLUGS, set_progress
from .test_browser_settings import live, open_page, person  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

BLOCKING = ("serious", "critical")
LOOKS = [("light", DESKTOP), ("dark", DESKTOP), ("light", PHONE), ("dark", PHONE)]


class Audit:
    """axe-core run on page after page, in each look; the serious and critical violations."""

    def __init__(self, artifacts=None) -> None:
        # A page with a violation is kept there as a screenshot.
        self.artifacts = artifacts
        self.axe = Axe()
        self.problems: list[str] = []
        self.pages: list[str] = []

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        for theme, viewport in LOOKS:
            look = look_name(theme, viewport)
            page.set_viewport_size(viewport)
            page.emulate_media(color_scheme=theme)
            # Colours are measured once the page has settled: fonts loaded, transitions (the
            # theme's colours, a button fading back from its busy state) finished. Endless
            # animations (spinners) are left.
            page.evaluate("""async () => {
                await document.fonts.ready;
                const finite = document.getAnimations()
                    .filter((animation) => animation.effect.getTiming().iterations !== Infinity);
                await Promise.all(finite.map((animation) => animation.finished.catch(() => null)));
            }""")
            expect_theme(page, theme)
            results = self.axe.run(page)
            for violation in results.response["violations"]:
                if violation["impact"] not in BLOCKING:
                    continue
                for node in violation["nodes"]:
                    why = " ".join(check["message"] for check in node["any"] + node["all"] + node["none"])
                    self.problems.append(f"{name} ({look}): {violation['id']} ({violation['impact']}) at "
                                         f"{' '.join(node['target'])}: {why}")
                if self.artifacts is not None:
                    page.screenshot(path=str(self.artifacts / f"axe-{look}-{re.sub(r'[^a-z0-9]+', '-', name)}.png"),
                                    full_page=True)
        self.pages.append(name)
        page.set_viewport_size(LOOKS[0][1])
        page.emulate_media(color_scheme=LOOKS[0][0])

    def assert_clean(self) -> None:
        assert self.problems == [], "serious or critical accessibility violations:\n" + "\n".join(self.problems)


def look_name(theme: str, viewport: dict) -> str:
    return f"{theme}-{'phone' if viewport == PHONE else 'desktop'}"


def set_look(live, clerk_id: str, theme: str, *, reduced_motion: bool = False) -> None:
    """The person's Appearance choices, which the server applies from the first paint."""
    with live.app.app_context():
        user = db.session.execute(select(User).where(User.clerk_id == clerk_id)).scalar_one()
        user.theme = theme
        user.reduced_motion = reduced_motion
        db.session.commit()


def expect_theme(page, theme: str) -> None:
    """Pico's palette in use is the one asked for: its background is dark or light."""
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", background)[:3])
    is_dark = red + green + blue < 3 * 128
    assert is_dark == (theme == "dark"), (theme, background)


def test_signed_out_pages_have_no_serious_violation(browser, live, artifacts):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    audit = Audit(artifacts)

    page.goto(f"{live.url}/")
    audit.check(page, "landing")
    # Mentorly's page around the sign-in form; the form itself is Clerk's, drawn by ClerkJS.
    page.goto(f"{live.url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in to Mentorly")).to_be_visible()
    audit.check(page, "sign-in")
    response = page.goto(f"{live.url}/no-such-page")
    assert response.status == 404
    audit.check(page, "not found")

    # The page shown while the database cannot be reached (503), from an app whose database
    # is a closed port.
    outage_app = create_app(base_config(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mentorly?connect_timeout=2"))
    with LiveServer(outage_app) as outage:
        context.add_cookies([{"name": "__session", "value": make_session_token("user_outage"), "url": outage.url}])
        response = page.goto(f"{outage.url}/dashboard")
        assert response.status == 503
        audit.check(page, "database unavailable")
    dispose(outage_app)

    assert len(audit.pages) == 4
    audit.assert_clean()
    context.close()


def test_onboarding_steps_and_their_errors_have_no_serious_violation(browser, live, emulator, artifacts):  # noqa: F811
    newcomer = emulator.create_user(username="new_person", first_name="Nia", last_name="Newcomer")
    with live.app.app_context():
        sync_user_to_db(newcomer)
    # Three steps saved, so that every step (the review too) can be opened.
    # The system theme: the page follows the colour scheme each look sets.
    set_progress(live.app, newcomer["id"], 3, theme="system", goal="learn", interests=["software-engineering"])
    context, page = open_page(browser, live, newcomer)
    audit = Audit(artifacts)

    for slug in STEP_SLUGS:
        page.goto(f"{live.url}/onboarding/{slug}")
        expect(page).to_have_url(f"{live.url}/onboarding/{slug}")
        audit.check(page, f"onboarding {slug}")

    # A username with spaces: the step comes back with the error at its field.
    page.goto(f"{live.url}/onboarding/about")
    page.get_by_label("Username").fill("no spaces allowed")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "onboarding about, with an error")

    # Goals with no interest picked: refused, with the message at the choices.
    page.goto(f"{live.url}/onboarding/goals")
    page.get_by_label("Software engineering").uncheck()
    with page.expect_response(lambda answer: answer.request.method == "POST") as answer:
        page.get_by_role("button", name="Save and continue").click()
    assert answer.value.status == 422
    expect(page.get_by_text("Pick at least")).to_be_visible()
    audit.check(page, "onboarding goals, with an error")

    assert len(audit.pages) == len(STEP_SLUGS) + 2
    audit.assert_clean()
    assert page.errors == []
    context.close()


def test_dashboard_and_settings_sections_have_no_serious_violation(browser, live, person, artifacts):  # noqa: F811
    set_look(live, person["id"], "system")  # the page follows the colour scheme each look sets
    context, page = open_page(browser, live, person)
    audit = Audit(artifacts)

    page.goto(f"{live.url}/dashboard")
    audit.check(page, "dashboard")
    for slug in SETTINGS_SECTIONS:
        page.goto(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_be_visible()
        audit.check(page, f"settings {slug}")

    assert len(audit.pages) == 1 + len(SETTINGS_SECTIONS)
    audit.assert_clean()
    context.close()


def test_settings_error_states_have_no_serious_violation(browser, live, person, artifacts):  # noqa: F811
    set_look(live, person["id"], "system")
    context, page = open_page(browser, live, person)
    audit = Audit(artifacts)

    # Profile, refused: a bio over its limit and a username with spaces.
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_label("Username").fill("not valid here")
    page.get_by_label("Bio").fill("x" * 161)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#bio-error")).to_be_visible()
    audit.check(page, "settings profile, with errors")

    # Security: deleting the account with the wrong confirmation word (422).
    page.goto(f"{live.url}/dashboard/settings/security")
    page.get_by_label("To confirm, type DELETE").fill("delete")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_label("To confirm, type DELETE")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "settings security, delete refused")

    # Notifications and Appearance, sent (without htmx) a choice they do not offer: refused
    # with the page drawn again around the error.
    for slug, field in (("notifications", "#digest_frequency option:checked"),
                        ("appearance", 'input[name="theme"]:checked')):
        page.goto(f"{live.url}/dashboard/settings/{slug}")
        with page.expect_response(lambda answer: answer.request.method == "POST") as answer:
            page.evaluate("""([field, form]) => {
                document.querySelector(field).value = 'not-a-choice';
                HTMLFormElement.prototype.submit.call(document.getElementById(form));
            }""", [field, f"{slug}-form"])
        assert answer.value.status == 422, slug
        page.wait_for_load_state("load")
        expect(page.locator(".form-alert, [aria-invalid=true]").first).to_be_visible()
        audit.check(page, f"settings {slug}, refused")

    response = page.goto(f"{live.url}/dashboard/settings/no-such-section")
    assert response.status == 404
    audit.check(page, "not found, signed in")

    assert len(audit.pages) == 5
    audit.assert_clean()
    context.close()


# --- Keyboard only ----------------------------------------------------------------------------

# Marks every control a person can Tab to (a radio group is one stop: Tab reaches its checked
# radio, the arrows the others), visible ones only, and returns their keys.
MARK_TAB_STOPS = """() => {
    const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]';
    let next = 0;
    const keys = [];
    for (const element of document.querySelectorAll(selector)) {
        if (element.disabled || element.tabIndex < 0) continue;
        if (!element.checkVisibility({visibilityProperty: true}) || element.getClientRects().length === 0) continue;
        const key = element.type === 'radio' ? `radio ${element.name}` : `stop ${next++}`;
        element.dataset.tabStop = key;
        if (!keys.includes(key)) keys.push(key);
    }
    return keys;
}"""

# The focused element, once its ring has faded in: its key, a description, and whether it shows
# a focus indicator (an outline, or the box-shadow ring Pico draws).
FOCUSED = """async () => {
    const finite = document.getAnimations()
        .filter((animation) => animation.effect.getTiming().iterations !== Infinity);
    await Promise.all(finite.map((animation) => animation.finished.catch(() => null)));
    const element = document.activeElement;
    if (!element || element === document.body) return null;
    // A link stretched over a whole card draws its ring on the `::after` that covers the card.
    const shows = (style) => (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
        || (style.boxShadow !== 'none' && /[1-9][0-9.]*px/.test(style.boxShadow));
    return {
        key: element.dataset.tabStop || null,
        what: `${element.tagName.toLowerCase()}#${element.id} "${(element.innerText || element.name || '').trim().slice(0, 40)}"`,
        indicated: shows(getComputedStyle(element)) || shows(getComputedStyle(element, '::after')),
    };
}"""


def tab_through(page, *, limit: int = 200) -> list[dict]:
    """Tab through a freshly loaded page (nothing focused yet) until the focus leaves it or
    comes round again."""
    stops: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or (stops and focused["key"] == stops[0]["key"]):
            break
        stops.append(focused)
    return stops


def assert_tab_reaches_everything(page, url: str) -> None:
    """On the page at `url`, Tab reaches every visible control, the skip link first, and each
    shows that it has the focus; nothing hidden takes it."""
    page.goto(url)
    page.wait_for_load_state("load")
    expected = page.evaluate(MARK_TAB_STOPS)
    stops = tab_through(page)
    reached = [stop["key"] for stop in stops]

    assert "Skip to content" in stops[0]["what"], (url, "the skip link comes first", stops[0])
    invisible = [stop["what"] for stop in stops if stop["key"] is None]
    assert invisible == [], (url, "focused while not visible", invisible)
    missed = [key for key in expected if key not in reached]
    assert missed == [], (url, "never reached by Tab", page.evaluate(
        "(keys) => keys.map((key) => document.querySelector(`[data-tab-stop='${key}']`).outerHTML.slice(0, 120))",
        missed))
    unindicated = [stop["what"] for stop in stops if not stop["indicated"]]
    assert unindicated == [], (url, "focused without a visible indicator", unindicated)


KEYBOARD_LOOKS = [
    pytest.param("light", DESKTOP, id="light-desktop"),
    pytest.param("dark", PHONE, id="dark-phone"),
]


@pytest.mark.parametrize("theme, viewport", KEYBOARD_LOOKS)
def test_tab_reaches_every_control_with_a_visible_focus(browser, live, person, theme, viewport):  # noqa: F811
    # Without motion, each focus ring is there at once rather than after Pico's fade.
    set_look(live, person["id"], theme, reduced_motion=True)
    context, page = open_page(browser, live, person, viewport=viewport, color_scheme=theme)
    pages = ["/dashboard"] + [f"/dashboard/settings/{slug}" for slug in SETTINGS_SECTIONS]

    for path in pages:
        assert_tab_reaches_everything(page, live.url + path)

    assert page.errors == []
    context.close()


def test_tab_reaches_every_control_on_the_landing_page_and_in_onboarding(browser, live, emulator):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    assert_tab_reaches_everything(context.new_page(), f"{live.url}/")
    context.close()

    newcomer = emulator.create_user(username="new_person", first_name="Nia", last_name="Newcomer")
    with live.app.app_context():
        sync_user_to_db(newcomer)
    set_progress(live.app, newcomer["id"], 3, reduced_motion=True, goal="learn", interests=["software-engineering"])
    context, page = open_page(browser, live, newcomer)
    for slug in STEP_SLUGS:
        assert_tab_reaches_everything(page, f"{live.url}/onboarding/{slug}")
    assert page.errors == []
    context.close()


@pytest.mark.parametrize("viewport", [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")])
def test_the_section_nav_works_with_tab_and_enter(browser, live, person, viewport):  # noqa: F811
    set_look(live, person["id"], "light", reduced_motion=True)
    context, page = open_page(browser, live, person, viewport=viewport)
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.wait_for_load_state("load")
    page.evaluate(MARK_TAB_STOPS)

    # From the top: the skip link, the site's links, then the six section links in order.
    stops = tab_through(page)
    ids = [stop["what"].split('"')[0].strip() for stop in stops]
    link_ids = [f"a#section-link-{slug}" for slug in SETTINGS_SECTIONS]
    assert all(link in ids for link in link_ids), ids
    positions = [ids.index(link) for link in link_ids]
    assert positions == sorted(positions) and positions[-1] - positions[0] == len(link_ids) - 1, ids

    # The first Tab shows the skip link; Enter on it takes the focus past the site's header.
    page.reload()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    # Back to the first link, then Tab to each next one and Enter: the section loads, the link
    # keeps the focus (with its ring), is marked current and is in view.
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#section-link-profile").focus()
    nav = page.locator(".settings-nav")
    for slug in SETTINGS_SECTIONS[1:]:
        page.keyboard.press("Tab")
        link = page.locator(f"#section-link-{slug}")
        expect(link).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_have_text(link.inner_text())
        expect(link).to_have_attribute("aria-current", "page")
        expect(link).to_be_focused()
        assert page.evaluate(FOCUSED)["indicated"], slug
        box, strip = link.bounding_box(), nav.bounding_box()
        assert strip["x"] - 1 <= box["x"] and box["x"] + box["width"] <= strip["x"] + strip["width"] + 1, (slug, box, strip)

    assert page.errors == []
    context.close()
