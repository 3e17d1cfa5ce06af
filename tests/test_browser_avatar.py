"""The avatar in Chromium (Playwright): "Remove avatar" only for an uploaded image, the preview of a
chosen file before it is uploaded, and the initials when the image cannot be loaded.

Uses the settings tests' server, emulator and signed-in person (tests/test_browser_settings.py).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import sync_user_to_db

from .browser import DESKTOP, PHONE, signed_in_cookies
from .test_browser_settings import live, open_page, person  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PROFILE = "/dashboard/settings/profile"
AVATAR_SIZE = 96


def png(color=(30, 160, 90), size=(64, 64)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, color).save(output, "PNG")
    return output.getvalue()


def upload_at_clerk(live, person) -> dict:
    """An image uploaded at Clerk (as Clerk's own profile UI would), and synced here."""
    response = live.emulator.api("POST", f"/users/{person['id']}/profile_image",
                                 files={"file": ("me.png", png(), "image/png")})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["has_image"] is True
    with live.app.app_context():
        sync_user_to_db(answer)
    return answer


def set_image_url(live, person, url: str) -> None:
    with live.app.app_context():
        user = db.session.execute(db.select(User).filter_by(clerk_id=person["id"])).scalar_one()
        user.image_url = url
        db.session.commit()


def circle_box(page, selector: str = ".avatar") -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None
    return box


def test_remove_avatar_is_offered_only_for_an_uploaded_image(browser, live, person):
    from playwright.sync_api import expect

    # Without an upload Clerk still gives an image_url (a generated picture): nothing to remove.
    assert person["has_image"] is False and person["image_url"]
    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}{PROFILE}")
    expect(page.get_by_role("button", name="Upload avatar")).to_be_visible()
    expect(page.get_by_role("button", name="Remove avatar")).to_have_count(0)

    upload_at_clerk(live, person)
    page.reload()
    remove = page.get_by_role("button", name="Remove avatar")
    expect(remove).to_be_visible()
    remove.click()
    expect(page.locator("#toasts .toast")).to_have_text("Avatar removed.")
    expect(page.get_by_role("button", name="Remove avatar")).to_have_count(0)
    assert live.emulator.api("GET", f"/users/{person['id']}").json()["has_image"] is False
    assert page.errors == []
    context.close()


def test_an_upload_through_the_form_then_offers_to_remove_it(browser, live, person, tmp_path):
    from playwright.sync_api import expect

    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}{PROFILE}")
    picture = tmp_path / "me.png"
    picture.write_bytes(png())
    page.locator("#avatar").set_input_files(str(picture))
    page.get_by_role("button", name="Upload avatar").click()
    expect(page.locator("#toasts .toast")).to_have_text("Avatar updated.")
    expect(page.get_by_role("button", name="Remove avatar")).to_be_visible()
    assert live.emulator.api("GET", f"/users/{person['id']}").json()["has_image"] is True
    context.close()


def test_a_chosen_file_shows_in_the_circle_before_it_is_uploaded(browser, live, person, tmp_path):
    from playwright.sync_api import expect

    live.app.config["SECURITY_HEADERS"] = True  # the production Content-Security-Policy
    set_image_url(live, person, None)  # the emulator's images are not Clerk's host: only the preview loads
    context, page = open_page(browser, live, person)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    response = page.goto(f"{live.url}{PROFILE}")
    assert "img-src" in response.headers["content-security-policy"]
    before = circle_box(page)

    picture = tmp_path / "chosen.png"
    picture.write_bytes(png((200, 40, 40)))
    page.locator("#avatar").set_input_files(str(picture))
    preview = page.locator("#avatar-circle img.avatar-preview")
    expect(preview).to_be_visible()
    assert preview.get_attribute("src").startswith("data:image/png;base64,")
    assert preview.get_attribute("alt") == "Preview of chosen.png"
    page.wait_for_function("document.querySelector('#avatar-circle img.avatar-preview').naturalWidth === 64")
    # The preview fills the circle, which keeps its size; nothing has been sent to Clerk.
    assert circle_box(page) == before
    preview_box = preview.bounding_box()
    assert (round(preview_box["width"]), round(preview_box["height"])) == (AVATAR_SIZE, AVATAR_SIZE)
    assert page.evaluate("getComputedStyle(document.querySelector('#avatar-circle img.avatar-preview'))"
                         ".getPropertyValue('object-fit')") == "cover"
    assert live.emulator.api("GET", f"/users/{person['id']}").json()["has_image"] is False

    # Choosing nothing takes the preview away again.
    page.locator("#avatar").set_input_files([])
    expect(preview).to_have_count(0)
    assert violations == [] and page.errors == []
    context.close()


def test_the_file_input_looks_like_the_other_fields(browser, live, person):
    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}{PROFILE}")
    style = """element => { const s = getComputedStyle(element);
        return [s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius, s.backgroundColor,
                s.fontSize, Math.round(element.getBoundingClientRect().height)]; }"""
    file_input = page.locator("#avatar").evaluate(style)
    text_input = page.locator("#location").evaluate(style)
    assert file_input == text_input
    # As wide as the column it sits in, as the text fields are.
    field = page.locator("#avatar-field").bounding_box()
    assert abs(page.locator("#avatar").bounding_box()["width"] - field["width"]) < 1
    context.close()


@pytest.mark.parametrize("path", ["/dashboard", PROFILE])
def test_an_image_that_cannot_be_loaded_leaves_the_initials(browser, live, person, path):
    from playwright.sync_api import expect

    set_image_url(live, person, f"{live.url}/static/no-such-avatar.png")  # a 404
    context, page = open_page(browser, live, person)
    page.goto(f"{live.url}{path}")
    circle = page.locator(".avatar").first
    expect(circle.locator("img")).to_be_hidden()
    initials = circle.locator(".avatar-initials")
    expect(initials).to_be_visible()
    expect(initials).to_have_text("BB")  # Bea Browser
    box = circle_box(page)
    assert (round(box["width"]), round(box["height"])) == (AVATAR_SIZE, AVATAR_SIZE)
    # The initials sit inside the circle.
    inner = initials.bounding_box()
    assert box["x"] <= inner["x"] and inner["x"] + inner["width"] <= box["x"] + box["width"]
    assert box["y"] <= inner["y"] and inner["y"] + inner["height"] <= box["y"] + box["height"]
    context.close()


def test_without_javascript_a_broken_image_stays_inside_the_circle(browser, live, person):
    set_image_url(live, person, f"{live.url}/static/no-such-avatar.png")
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    context.add_cookies(signed_in_cookies(live.url, live.emulator.create_session(person["id"], lifetime=3600)))
    page = context.new_page()
    page.goto(f"{live.url}{PROFILE}")
    box = circle_box(page)
    assert (round(box["width"]), round(box["height"])) == (AVATAR_SIZE, AVATAR_SIZE)
    assert page.locator(".avatar").evaluate("element => getComputedStyle(element).overflow") == "hidden"
    # The alt text, if the browser draws it, is transparent: the initials under it show.
    assert page.locator(".avatar img").evaluate("element => getComputedStyle(element).color") == "rgba(0, 0, 0, 0)"
    context.close()


@pytest.mark.parametrize("name, viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_avatar_screenshots(browser, live, person, artifacts, tmp_path, name, viewport):
    from playwright.sync_api import expect

    def shoot(what: str, *, full_page: bool = False) -> None:
        for color_scheme in ("light", "dark"):  # the person's theme follows the device's
            page.emulate_media(color_scheme=color_scheme)
            page.wait_for_timeout(300)  # the colours' transition
            page.screenshot(path=str(artifacts / f"avatar-{what}-{name}-{color_scheme}.png"), full_page=full_page)

    upload_at_clerk(live, person)
    context, page = open_page(browser, live, person, viewport=viewport)
    page.goto(f"{live.url}{PROFILE}")
    expect(page.get_by_role("button", name="Remove avatar")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shoot("uploaded")

    picture = tmp_path / "chosen.png"
    picture.write_bytes(png((200, 40, 40)))
    page.locator("#avatar").set_input_files(str(picture))
    expect(page.locator("#avatar-circle img.avatar-preview")).to_be_visible()
    shoot("preview")

    set_image_url(live, person, f"{live.url}/static/no-such-avatar.png")
    page.goto(f"{live.url}/dashboard")
    expect(page.locator(".avatar-initials").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shoot("broken-dashboard", full_page=True)
    context.close()
