"""htmx request details in one place: page or fragment, `Vary`, client events, focus, settings.

A fragment is sent only to an htmx request that is neither boosted (a boosted link swaps the
whole body) nor a history restore (htmx missed its cache on back/forward and needs the whole
page). Anything else, including a URL pasted into a new tab, gets the whole page.

`init_app` (called by the factory) installs what every response of the app needs: the
`Vary: HX-Request` hook, htmx's settings for the layout, and `claim_autofocus` for templates.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Request, Response, g, render_template, request
from jinja2_fragments.flask import render_block
from markupsafe import escape

TRIGGER_HEADER = "HX-Trigger"

# htmx's settings, rendered into `<meta name="htmx-config">` by the layout.
HTMX_CONFIG = {
    # 422 is a form with its errors at the fields, 403 a form asking the person to confirm it's
    # them first, 503 a form saying Clerk could not be reached: each is swapped like a success.
    # Other errors are not swapped (app.js shows a toast).
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "422", "swap": True},
        {"code": "403", "swap": True},
        {"code": "503", "swap": True},
        {"code": "[45]..", "swap": False, "error": True},
        {"code": "...", "swap": False},
    ],
    # htmx's indicator <style> would be an inline style, which the Content-Security-Policy refuses.
    "includeIndicatorStyles": False,
    # No page snapshots in sessionStorage (they would hold personal data and CSRF tokens): back
    # and forward ask the server, which answers a whole page to HX-History-Restore-Request
    # (app.js makes that request, and shows only the answer for the address still shown).
    "historyCacheSize": 0,
}


def is_htmx(req: Request | None = None) -> bool:
    """Any request htmx made (boosted and history restores included)."""
    return (req or request).headers.get("HX-Request") == "true"


def is_fragment_request(req: Request | None = None) -> bool:
    """True when the answer should be only the swapped part, not the whole page."""
    headers = (req or request).headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(template: str, block: str, *, title: str | None = None, **context: Any) -> str:
    """The whole page, or only `block` of the same template for a fragment request.

    A fragment starts with its `<title>` (htmx moves it into the document), so the tab and the
    history entry name the section shown. Templates see `fragment` to tell the two apart.
    """
    if is_fragment_request():
        html = render_block(template, block, fragment=True, page_title=title, **context)
        return f"<title>{escape(title)}</title>\n{html}" if title else html
    return render_template(template, fragment=False, page_title=title, **context)


def trigger_client_event(response: Response, name: str, detail: Any = None) -> Response:
    """Raise `name` in the browser, keeping any events already in `HX-Trigger`.

    The header may already hold a bare event name, a comma-separated list or a JSON object;
    each is kept, and the result is always a JSON object.
    """
    events: dict[str, Any] = {}
    existing = response.headers.get(TRIGGER_HEADER, "").strip()
    if existing.startswith("{"):
        try:
            parsed = json.loads(existing)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            events.update(parsed)
    elif existing:
        events.update({event.strip(): None for event in existing.split(",") if event.strip()})
    events[name] = detail
    # ensure_ascii keeps the header Latin-1 safe whatever the message says.
    response.headers[TRIGGER_HEADER] = json.dumps(events, ensure_ascii=True, separators=(",", ":"))
    return response


def toast(response: Response, message: str, level: str = "success") -> Response:
    """Show `message` in the page's toast (it hides itself after a few seconds)."""
    return trigger_client_event(response, "toast", {"message": message, "level": level})


def add_vary_hx_request(response: Response) -> Response:
    # The same URL answers a page or a fragment, so caches must key on HX-Request.
    if "Vary" in response.headers:
        response.vary.add("HX-Request")
    else:
        response.headers["Vary"] = "HX-Request"  # the common case, without parsing a header set
    return response


def claim_autofocus() -> bool:
    """True for the first caller in a response: the first error a template renders takes focus.

    Templates render in document order, so the field (or alert) that gets `autofocus` is the
    first one a person has to fix. The browser focuses it when the page loads; htmx focuses it
    when the content is swapped in. One response renders one form's errors.
    """
    if g.get("autofocus_claimed"):
        return False
    g.autofocus_claimed = True
    return True


def init_app(app: Flask) -> None:
    app.after_request(add_vary_hx_request)
    app.add_template_global(HTMX_CONFIG, "htmx_config")
    app.add_template_global(claim_autofocus)
