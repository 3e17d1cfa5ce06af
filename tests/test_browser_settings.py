"""The settings area in real Chromium (Playwright), served by a real server thread on PostgreSQL
built by the migrations, with the Clerk emulator behind it.

What only a browser can show: htmx swapping one section while the page stays (a marker on
`window` survives), the pushed URLs and back/forward, the live bio counter, "Saving…", the toast
that hides itself, and how the page looks at desktop and phone widths (screenshots are kept in
test-artifacts/).
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
from flask import request

from mentorly.extensions import db
from mentorly.profile import visible_length
from mentorly.users import get_user_by_clerk_id, sync_user_to_db

from .browser import DESKTOP, PHONE, LiveServer, signed_in_cookies

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

SECTIONS = [
    ("notifications", "Notifications"),
    ("security", "Security"),
    ("billing", "Billing"),
    ("appearance", "Appearance"),
    ("integrations", "Integrations"),
    ("profile", "Profile"),
]


@pytest.fixture
def live(make_app, emulator) -> Iterator[LiveServer]:
    # Signed in through the emulator's sessions, so its JWKS (not the test key) verifies tokens.
    app = make_app(**emulator.app_config(jwks=True))
    app.config["SLOW_POSTS"] = 0.0
    app.config["SLOW_GETS"] = {}

    # Lets a test hold a save open long enough to see the button while it runs, or slow the
    # answers for some pages so that they arrive after later ones (as a real network may).
    @app.before_request
    def slow_posts():
        if request.method == "POST" and app.config["SLOW_POSTS"]:
            time.sleep(app.config["SLOW_POSTS"])
        if request.method == "GET" and request.path in app.config["SLOW_GETS"]:
            time.sleep(app.config["SLOW_GETS"][request.path])

    with LiveServer(app) as server:
        server.emulator = emulator
        yield server


@pytest.fixture
def person(live, emulator):
    """A user in the emulator (Clerk) and here, onboarded; returns its Clerk object."""
    clerk_user = emulator.create_user(username="browser_user", first_name="Bea", last_name="Browser")
    with live.app.app_context():
        user = sync_user_to_db(clerk_user)
        user.is_onboarded = True
        user.onboarding_step = 4
        db.session.commit()
    return clerk_user


def stored(live, person):
    """The person's row as the database has it now."""
    with live.app.app_context():
        user = get_user_by_clerk_id(person["id"])
        db.session.expunge(user)
        return user


def open_page(browser, live, person, *, viewport=DESKTOP, color_scheme="light"):
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme, reduced_motion="no-preference")
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(person["id"], lifetime=3600)))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return context, page


def section_title(page) -> str:
    return page.locator("#section-title").inner_text()


def test_navigation_swaps_only_the_section_and_history_restores_it(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.evaluate("window.__marker = 'still the same page'")
    nav = page.locator(".settings-nav")

    for slug, label in SECTIONS:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page).to_have_url(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_have_text(label)
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        assert nav.locator('[aria-current="page"]').count() == 1
        assert page.evaluate("window.__marker") == "still the same page"
        assert page.title() == f"{label} · Settings · Mentorly"

    # Back through every section, then forward again: the URL and the section agree each time.
    visited = ["profile"] + [slug for slug, _ in SECTIONS]
    labels = dict(SECTIONS)
    for slug in reversed(visited[:-1]):
        page.go_back()
        expect(page).to_have_url(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_have_text(labels[slug])
        expect(nav.get_by_role("link", name=labels[slug], exact=True)).to_have_attribute("aria-current", "page")
    for slug in visited[1:3]:
        page.go_forward()
        expect(page).to_have_url(f"{live.url}/dashboard/settings/{slug}")
        expect(page.locator("#section-title")).to_have_text(labels[slug])
    assert page.evaluate("window.__marker") == "still the same page"
    assert page.errors == []
    context.close()


def test_profile_counter_errors_saving_toast_and_reload(browser, live, person, emulator, artifacts):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/notifications")
    # Profile arrives as a fragment: its long time zone list is fetched after the swap.
    page.locator(".settings-nav").get_by_role("link", name="Profile", exact=True).click()
    expect(page).to_have_url(f"{live.url}/dashboard/settings/profile")
    expect(page.locator("#timezone option")).to_have_count(len(_all_zone_options(live)), timeout=5000)

    bio = page.get_by_label("Bio")
    counter = page.locator("#bio-counter")
    expect(counter).to_have_text("0 / 160")
    bio.fill("hello")
    expect(counter).to_have_text("5 / 160")
    bio.fill("\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1eb\U0001f1f7")  # a family and a flag: 3 characters
    expect(counter).to_have_text("3 / 160")
    bio.fill("line one\nline two")
    expect(counter).to_have_text("17 / 160")

    too_long = "\U0001f600" * 100 + "x" * 61
    bio.fill(too_long)
    expect(counter).to_have_text("161 / 160")
    expect(counter).to_have_class("field-counter over")
    page.get_by_role("button", name="Save profile").click()
    error = page.locator("#bio-error")
    expect(error).to_have_text("Bio can be at most 160 characters (it has 161).")
    expect(page.get_by_label("Bio")).to_have_value(too_long)
    expect(page.get_by_label("Bio")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Bio")).to_be_focused()

    page.get_by_label("First name").fill("Beatrice")
    page.get_by_label("Last name").fill("Browning")
    page.get_by_label("Username").fill("Bea_Browning")
    saved_bio = "Mentor for people learning to ship web apps \U0001f680"
    page.get_by_label("Bio").fill(saved_bio)
    page.get_by_label("Website").fill("bea.example")
    page.get_by_label("Location").fill("Lisbon")
    page.get_by_label("Time zone").select_option("Europe/Lisbon")

    live.app.config["SLOW_POSTS"] = 0.8
    # The toast's lifetime, timed in the page: Playwright's polling would see it late on a busy
    # machine.
    page.evaluate("""() => {
        window.__toastTimes = {};
        new MutationObserver((changes) => {
            for (const change of changes) {
                if ([...change.addedNodes].some((node) => node.classList?.contains("toast"))) {
                    window.__toastTimes.shown = performance.now();
                }
                if ([...change.removedNodes].some((node) => node.classList?.contains("toast"))) {
                    window.__toastTimes.hidden = performance.now();
                }
            }
        }).observe(document.getElementById("toasts"), {childList: true});
    }""")
    save = page.get_by_role("button", name="Save profile")
    save.click()
    busy = page.locator(".profile-form button[type=submit]")
    # What a person sees (innerText): the idle label is hidden while the request runs.
    expect(busy).to_have_text("Saving…", timeout=700, use_inner_text=True)
    expect(busy).to_be_disabled()
    toast = page.locator("#toasts .toast")
    expect(toast).to_have_text("Profile saved.", timeout=5000)
    live.app.config["SLOW_POSTS"] = 0.0
    page.screenshot(path=str(artifacts / "settings-profile-saved-desktop-light.png"))
    expect(page.get_by_role("button", name="Save profile")).to_be_enabled()
    expect(page.locator("#bio-error")).to_have_count(0)
    expect(toast).to_have_count(0, timeout=6000)
    times = page.evaluate("window.__toastTimes")
    hidden_after = (times["hidden"] - times["shown"]) / 1000
    assert 2.5 <= hidden_after <= 4.5, hidden_after

    page.reload()
    expect(page.get_by_label("First name")).to_have_value("Beatrice")
    expect(page.get_by_label("Last name")).to_have_value("Browning")
    expect(page.get_by_label("Username")).to_have_value("bea_browning")
    expect(page.get_by_label("Bio")).to_have_value(saved_bio)
    expect(page.get_by_label("Website")).to_have_value("https://bea.example")
    expect(page.get_by_label("Location")).to_have_value("Lisbon")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Lisbon")
    expect(page.locator("#bio-counter")).to_have_text(f"{visible_length(saved_bio)} / 160")

    at_clerk = emulator.api("GET", f"/users/{person['id']}").json()
    assert (at_clerk["first_name"], at_clerk["last_name"], at_clerk["username"]) == (
        "Beatrice", "Browning", "bea_browning"
    )
    assert page.errors == []
    context.close()


def _all_zone_options(live) -> list[str]:
    from mentorly.timezones import COMMON_TIMEZONES, other_timezones

    return list(COMMON_TIMEZONES) + list(other_timezones())


def test_without_javascript_the_profile_form_posts_and_redirects(browser, live, person):
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(person["id"], lifetime=3600)))
    page = context.new_page()
    page.goto(f"{live.url}/dashboard/settings/billing")
    page.get_by_role("link", name="Profile", exact=True).click()
    expect(page).to_have_url(f"{live.url}/dashboard/settings/profile")
    assert page.locator("#timezone option").count() == len(_all_zone_options(live))
    page.get_by_label("Location").fill("Porto")
    page.get_by_role("button", name="Save profile").click()
    expect(page).to_have_url(f"{live.url}/dashboard/settings/profile")
    expect(page.locator("#toasts .toast")).to_have_text("Profile saved.")
    expect(page.get_by_label("Location")).to_have_value("Porto")
    context.close()


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("name, viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_profile_screenshots(browser, live, person, artifacts, name, viewport, color_scheme):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person, viewport=viewport, color_scheme=color_scheme)
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_label("Bio").fill("x" * 161)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#bio-error")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    red, green, blue = (int(part) for part in page.evaluate(
        "getComputedStyle(document.documentElement).backgroundColor.match(/\\d+/g).slice(0, 3)"
    ))
    assert (red + green + blue > 600) if color_scheme == "light" else (red + green + blue < 200)
    path = artifacts / f"settings-profile-{name}-{color_scheme}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    context.close()


# --- What htmx and the server do, without our own JavaScript ------------------------------------


def test_htmx_sends_the_csrf_token_from_the_bodys_hx_headers(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    # htmx's settings came from the page's <meta name="htmx-config">.
    assert page.evaluate("[htmx.config.historyCacheSize, htmx.config.includeIndicatorStyles]") == [0, False]
    assert page.evaluate("htmx.config.responseHandling.some((rule) => rule.code === '422' && rule.swap)")
    # Without the form's own token field, only the header htmx takes from <body> can carry it.
    assert "X-CSRFToken" in page.locator("body").get_attribute("hx-headers")
    assert page.locator('meta[name="csrf-token"]').count() == 0
    page.evaluate("document.querySelectorAll('.profile-form input[name=csrf_token]').forEach((el) => el.remove())")
    page.get_by_label("Location").fill("Valparaíso")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#toasts .toast")).to_have_text("Profile saved.", timeout=5000)
    assert stored(live, person).location == "Valparaíso"
    assert page.errors == []
    context.close()


def test_the_busy_label_comes_from_htmxs_request_class(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    form = page.locator(".profile-form")
    live.app.config["SLOW_POSTS"] = 0.8
    page.get_by_role("button", name="Save profile").click()
    # While the request runs, htmx marks the form and disables its button; CSS swaps the label.
    busy = page.get_by_role("button", name="Saving…")
    expect(busy).to_be_visible(timeout=700)
    expect(busy).to_be_disabled()
    expect(form).to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(page.locator("#toasts .toast")).to_have_text("Profile saved.", timeout=5000)
    live.app.config["SLOW_POSTS"] = 0.0
    idle = page.get_by_role("button", name="Save profile")
    expect(idle).to_be_enabled()
    expect(page.locator(".profile-form")).not_to_have_class(re.compile(r"\bhtmx-request\b"))
    assert idle.evaluate("(button) => button.innerText") == "Save profile"
    assert page.errors == []
    context.close()


def test_the_server_marks_the_current_section_and_the_clicked_link_keeps_the_focus(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    nav = page.locator(".settings-nav")

    # A section fetched without changing the address: the mark follows what the server sent,
    # not the URL.
    page.evaluate("htmx.ajax('GET', '/dashboard/settings/billing', {target: '#settings-panel'})")
    expect(page.locator("#section-title")).to_have_text("Billing")
    assert page.url == f"{live.url}/dashboard/settings/profile"
    expect(nav.get_by_role("link", name="Billing", exact=True)).to_have_attribute("aria-current", "page")
    assert nav.locator('[aria-current="page"]').count() == 1

    # From the keyboard: the link that was followed still has the focus after the swap.
    nav.get_by_role("link", name="Security", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live.url}/dashboard/settings/security")
    expect(nav.get_by_role("link", name="Security", exact=True)).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Security", exact=True)).to_be_focused()
    assert page.errors == []
    context.close()


def test_the_first_invalid_field_takes_the_focus_from_autofocus(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_label("Website").fill("javascript:alert(1)")
    page.get_by_label("Location").fill("x" * 101)
    page.get_by_role("button", name="Save profile").click()
    website = page.get_by_label("Website")
    expect(page.locator("#website-error")).to_be_visible()
    expect(website).to_have_attribute("autofocus", "")
    expect(website).to_be_focused()
    expect(page.get_by_label("Location")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Location")).not_to_be_focused()
    assert page.locator("[autofocus]").count() == 1
    assert page.errors == []
    context.close()


# --- History, console errors and layout (issue #15) -------------------------------------------


def settled_section(page, live, slug: str, label: str) -> None:
    """The address and the panel both show `slug`'s section (waits for each to settle)."""
    from playwright.sync_api import expect

    page.wait_for_url(f"{live.url}/dashboard/settings/{slug}")
    expect(page.locator("#section-title")).to_have_text(label)
    expect(page.locator(".settings-nav [aria-current='page']")).to_have_text(label)


def panel_agrees_with_address(page) -> None:
    """Once no request is running, the panel's heading and the marked link are the address's
    section, and stay so."""
    agrees = """() => {
        if (document.querySelector(".htmx-request")) return false;
        const link = document.querySelector(".settings-nav [aria-current='page']");
        const title = document.querySelector("#section-title");
        return !!link && !!title && new URL(link.href).pathname === location.pathname
            && link.textContent.trim() === title.textContent.trim();
    }"""
    try:
        page.wait_for_function(agrees)
    except Exception as error:
        state = page.evaluate("""() => [location.pathname, document.querySelector("#section-title")?.textContent,
            document.querySelectorAll(".htmx-request").length]""")
        raise AssertionError(f"address, panel and requests running: {state}") from error
    page.wait_for_timeout(300)
    assert page.evaluate(agrees), (page.evaluate("location.pathname"), section_title(page))


def test_fast_clicks_then_many_backs_and_forwards_keep_the_panel_on_the_address(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    nav = page.locator(".settings-nav")
    labels = dict(SECTIONS)
    # As fast as a person clicking: no wait for each section to arrive. The last click wins.
    for slug, label in SECTIONS:
        nav.get_by_role("link", name=label, exact=True).click()
    settled_section(page, live, "profile", "Profile")
    # Back and forward through whatever that left in the history: the panel always agrees.
    for step in ["back", "back", "forward", "back", "forward", "forward"]:
        (page.go_back if step == "back" else page.go_forward)(wait_until="commit")
        panel_agrees_with_address(page)

    # Through the sections again, each click a moment after the last has arrived.
    page.goto(f"{live.url}/dashboard/settings/profile")
    for slug, label in SECTIONS:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"{live.url}/dashboard/settings/{slug}")
    settled_section(page, live, "profile", "Profile")

    history = ["profile"] + [slug for slug, _ in SECTIONS]
    position = len(history) - 1
    steps = ["back"] * 4 + ["forward"] * 2 + ["back", "forward", "forward", "back"]
    for step in steps:
        if step == "back":
            page.go_back(wait_until="commit")
            position -= 1
        else:
            page.go_forward(wait_until="commit")
            position += 1
        slug = history[position]
        panel_agrees_with_address(page)  # settled, and stays so
        settled_section(page, live, slug, labels[slug])
        assert page.locator("#section-title").inner_text() == labels[slug]
        assert page.url == f"{live.url}/dashboard/settings/{slug}"

    # An answer that arrives late (a slow network) must not replace a later step's section:
    # Back to a slow Appearance, at once Back again to Billing, which answers first.
    live.app.config["SLOW_GETS"] = {"/dashboard/settings/appearance": 1.0}
    while position < len(history) - 1:
        page.go_forward(wait_until="commit")
        position += 1
    settled_section(page, live, "profile", "Profile")
    page.go_back(wait_until="commit")  # integrations
    settled_section(page, live, "integrations", "Integrations")
    page.go_back(wait_until="commit")  # appearance, slow
    page.wait_for_timeout(100)
    page.go_back(wait_until="commit")  # billing
    position -= 3
    settled_section(page, live, "billing", "Billing")
    page.wait_for_timeout(1500)  # the slow answer has come and gone
    expect(page.locator("#section-title")).to_have_text("Billing")
    assert page.url == f"{live.url}/dashboard/settings/billing"
    live.app.config["SLOW_GETS"] = {}

    # Quick steps without waiting in between (the browser may coalesce some): wherever they
    # end, the panel agrees with the address.
    for _ in range(3):
        page.go_back(wait_until="commit")
    page.go_forward(wait_until="commit")
    panel_agrees_with_address(page)

    # A section clicked on a slow network, then Back before it arrives: its late answer is not
    # shown (nor its URL pushed) over the section Back went to.
    live.app.config["SLOW_GETS"] = {"/dashboard/settings/billing": 1.0}
    page.goto(f"{live.url}/dashboard/settings/notifications")
    nav.get_by_role("link", name="Security", exact=True).click()
    settled_section(page, live, "security", "Security")
    nav.get_by_role("link", name="Billing", exact=True).click()
    page.wait_for_timeout(100)
    page.go_back(wait_until="commit")
    settled_section(page, live, "notifications", "Notifications")
    page.wait_for_timeout(1500)
    expect(page.locator("#section-title")).to_have_text("Notifications")
    assert page.url == f"{live.url}/dashboard/settings/notifications"
    live.app.config["SLOW_GETS"] = {}
    assert page.errors == []
    context.close()


def test_a_save_answered_after_the_person_moved_on_does_not_replace_the_section(browser, live, person):
    """Save the profile on a slow connection, then go to Security before the answer: Security
    stays, under its own address; the save itself is done."""
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_label("Bio").fill("Saved while I looked elsewhere")
    live.app.config["SLOW_POSTS"] = 1.0
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_timeout(100)
    page.locator(".settings-nav").get_by_role("link", name="Security", exact=True).click()
    settled_section(page, live, "security", "Security")
    page.wait_for_timeout(1500)  # the save's answer has come and gone
    live.app.config["SLOW_POSTS"] = 0.0
    panel_agrees_with_address(page)
    expect(page.locator("#section-title")).to_have_text("Security")
    assert page.url == f"{live.url}/dashboard/settings/security"
    assert stored(live, person).bio == "Saved while I looked elsewhere"
    assert page.errors == []
    context.close()


def test_a_switch_whose_save_fails_shows_what_is_stored(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard/settings/notifications")
    switch = page.locator("input[role=switch]").first
    expect(switch).to_be_checked()
    url = f"{live.url}/dashboard/settings/notifications"

    def failing_saves(fail):
        return lambda route: fail(route) if route.request.method == "POST" else route.continue_()

    # The server errs, then the network fails: each time the switch goes back, with a toast.
    for fail in (lambda route: route.fulfill(status=500, body=""), lambda route: route.abort()):
        page.route(url, failing_saves(fail))
        switch.click()
        expect(page.locator(".toast-error").last).to_be_visible()
        expect(switch).to_be_checked()
        page.unroute(url)

    # A save that succeeds keeps its value; a later failure goes back to that one, not further.
    with page.expect_response(lambda response: response.request.method == "POST") as saved:
        switch.click()
    assert saved.value.ok
    expect(switch).not_to_be_checked()
    page.route(url, failing_saves(lambda route: route.fulfill(status=500, body="")))
    switch.click()
    expect(page.locator(".toast-error").last).to_be_visible()
    expect(switch).not_to_be_checked()

    # The digest list too.
    digest = page.locator("#digest_frequency")
    before = digest.input_value()
    other = page.locator("#digest_frequency option").evaluate_all(
        "(options, before) => options.map((o) => o.value).find((v) => v !== before)", before)
    digest.select_option(other)
    expect(digest).to_have_value(before)
    assert page.errors == []
    context.close()


def inside_viewport(box, viewport) -> bool:
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


@pytest.mark.parametrize("slug", ["integrations", "appearance"])
def test_on_a_phone_the_current_section_tab_is_in_view(browser, live, person, slug):
    context, page = open_page(browser, live, person, viewport=PHONE)
    page.goto(f"{live.url}/dashboard/settings/{slug}")
    current = page.locator(".settings-nav [aria-current='page']")
    current.wait_for()
    page.wait_for_timeout(300)
    box = current.bounding_box()
    assert box is not None and inside_viewport(box, PHONE), box
    # The strip shows there is more: a mask fades the edge the strip can scroll to.
    mask = page.locator(".settings-nav").evaluate(
        "nav => getComputedStyle(nav).maskImage || getComputedStyle(nav).webkitMaskImage")
    assert mask and mask != "none"

    # After an htmx swap to a section at the other end, its tab comes into view too.
    page.locator(".settings-nav").get_by_role("link", name="Profile", exact=True).click()
    page.wait_for_url(f"{live.url}/dashboard/settings/profile")
    page.wait_for_timeout(400)
    box = page.locator(".settings-nav [aria-current='page']").bounding_box()
    assert box is not None and inside_viewport(box, PHONE), box
    context.close()


def test_the_desktop_nav_sits_at_the_top_of_a_long_section_and_stays(browser, live, person):
    viewport = {"width": 1280, "height": 800}
    context, page = open_page(browser, live, person, viewport=viewport)
    # Profile, arrived at from a short section by htmx.
    page.goto(f"{live.url}/dashboard/settings/billing")
    nav = page.locator(".settings-nav")
    nav.get_by_role("link", name="Profile", exact=True).click()
    settled_section(page, live, "profile", "Profile")
    panel = page.locator("#settings-panel")
    nav_box, panel_box = nav.bounding_box(), panel.bounding_box()
    assert panel_box["height"] > nav_box["height"] * 2
    assert abs(nav_box["y"] - panel_box["y"]) <= 4, (nav_box, panel_box)
    # Scrolled down the section, the nav is still in view at the top.
    page.mouse.wheel(0, 600)
    page.wait_for_function("window.scrollY >= 300")
    nav_box = nav.bounding_box()
    assert 0 <= nav_box["y"] <= 40, nav_box
    context.close()


def test_on_a_phone_a_toast_hides_nothing_and_goes_without_javascript(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person, viewport=PHONE)
    page.goto(f"{live.url}/dashboard/settings/profile")
    save = page.get_by_role("button", name="Save profile")
    save.scroll_into_view_if_needed()
    for _ in range(2):
        save.click()
        expect(page.locator(".toast").last).to_be_visible()
        save = page.get_by_role("button", name="Save profile")
        expect(save).to_be_enabled()
    save_box = save.bounding_box()
    for toast in page.locator(".toast").all():
        box = toast.bounding_box()
        if box is None:
            continue
        overlap = not (box["x"] + box["width"] <= save_box["x"] or save_box["x"] + save_box["width"] <= box["x"]
                       or box["y"] + box["height"] <= save_box["y"] or save_box["y"] + save_box["height"] <= box["y"])
        assert not overlap, (box, save_box)
    context.close()

    # Without JavaScript the flashed toast still leaves after a few seconds (a CSS animation).
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(person["id"], lifetime=3600)))
    page = context.new_page()
    page.goto(f"{live.url}/dashboard/settings/profile")
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_load_state()
    toast = page.locator(".toast").first
    expect(toast).to_be_visible()
    expect(toast).to_be_hidden(timeout=8000)
    context.close()
