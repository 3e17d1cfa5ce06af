"""Cards in Chromium (Playwright): the dashboard's settings links are cards like its profile card,
and every settings section, Notifications and Appearance included, lays its content out in the
same cards. Geometry and computed styles are compared, and screenshots kept in test-artifacts/.

Uses the settings tests' server, emulator and signed-in person (tests/test_browser_settings.py).
"""

from __future__ import annotations

import pytest

from .browser import DESKTOP, PHONE
from .test_browser_settings import SECTIONS, live, open_page, person  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

SETTINGS = "/dashboard/settings"

# What makes a card look like a card (Pico's <article>): compared between cards.
CARD_STYLE = """element => { const s = getComputedStyle(element);
    return {background: s.backgroundColor, radius: s.borderRadius, shadow: s.boxShadow,
            padding: s.paddingTop + ' ' + s.paddingLeft}; }"""


def test_the_dashboards_settings_links_are_cards_like_the_profile_card(browser, live, person):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}/dashboard")
    profile_card = page.locator("article.profile-summary").evaluate(CARD_STYLE)
    cards = page.locator(".settings-links article.link-card")
    expect(cards).to_have_count(len(SECTIONS))
    boxes = []
    for index in range(len(SECTIONS)):
        card = cards.nth(index)
        assert card.evaluate(CARD_STYLE) == profile_card
        link = card.get_by_role("link")
        expect(link).to_have_count(1)
        assert link.get_attribute("href").startswith(f"{SETTINGS}/")
        boxes.append(card.bounding_box())
    # A grid: at desktop width more than one card in a row, every card of a row equally tall.
    rows: dict[float, list[dict]] = {}
    for box in boxes:
        rows.setdefault(round(box["y"]), []).append(box)
    assert len(rows) < len(SECTIONS)
    for row in rows.values():
        assert len({round(box["height"]) for box in row}) == 1

    # Focused from the keyboard, the whole card is outlined (the link's ::after covers it).
    first_link = cards.first.get_by_role("link")
    first_link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert first_link.evaluate("element => element === document.activeElement")
    after = first_link.evaluate("""element => { const s = getComputedStyle(element, '::after');
        const card = element.closest('article').getBoundingClientRect();
        return {shadow: s.boxShadow, width: parseFloat(s.width), card: card.width}; }""")
    assert after["shadow"] != "none" and abs(after["width"] - after["card"]) < 1

    # The whole card leads to its section, not only the words of the link.
    security = cards.filter(has_text="Security")
    box = security.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 10, box["y"] + box["height"] - 10)
    expect(page).to_have_url(f"{live.url}{SETTINGS}/security")
    assert page.errors == []
    context.close()


def test_on_a_phone_the_settings_cards_are_one_column_as_wide_as_the_profile_card(browser, live, person):
    context, page = open_page(browser, live, person, viewport=PHONE)
    page.goto(f"{live.url}/dashboard")
    profile = page.locator("article.profile-summary").bounding_box()
    cards = page.locator(".settings-links article.link-card")
    lefts_and_widths = {(round(box["x"]), round(box["width"]))
                        for box in (cards.nth(i).bounding_box() for i in range(cards.count()))}
    assert lefts_and_widths == {(round(profile["x"]), round(profile["width"]))}
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


@pytest.mark.parametrize("slug", ["notifications", "appearance"])
def test_notifications_and_appearance_use_the_same_cards_as_the_other_sections(browser, live, person, slug):
    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}{SETTINGS}/security")
    reference = page.locator("#settings-panel article.section-card").first
    reference_style = reference.evaluate(CARD_STYLE)
    reference_title = reference.locator("h3").evaluate("element => getComputedStyle(element).fontSize")
    reference_box = reference.bounding_box()

    page.goto(f"{live.url}{SETTINGS}/{slug}")
    cards = page.locator("#settings-panel article.section-card")
    assert cards.count() >= 1
    for index in range(cards.count()):
        card = cards.nth(index)
        assert card.evaluate(CARD_STYLE) == reference_style
        assert card.locator("h3").evaluate("element => getComputedStyle(element).fontSize") == reference_title
        box = card.bounding_box()
        assert (round(box["x"]), round(box["width"])) == (round(reference_box["x"]), round(reference_box["width"]))
    # Every control of the section is inside a card.
    controls = page.locator("#settings-panel :is(input, select, textarea):not([type=hidden])")
    assert controls.count() > 0
    outside = page.locator("#settings-panel :is(input, select, textarea):not([type=hidden]):not(article.section-card *)")
    assert outside.count() == 0
    context.close()


@pytest.mark.parametrize("name, viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_card_screenshots(browser, live, person, artifacts, name, viewport):
    context, page = open_page(browser, live, person, viewport=viewport)
    for path, label in [("/dashboard", "dashboard"), (f"{SETTINGS}/notifications", "notifications"),
                        (f"{SETTINGS}/appearance", "appearance"), (f"{SETTINGS}/security", "security")]:
        page.goto(f"{live.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], label
        for color_scheme in ("light", "dark"):  # the person's theme follows the device's
            page.emulate_media(color_scheme=color_scheme)
            page.wait_for_timeout(300)  # the colours' transition
            shot = artifacts / f"cards-{label}-{name}-{color_scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
    assert page.errors == []
    context.close()
