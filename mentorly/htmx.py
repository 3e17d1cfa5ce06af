"""htmx request details in one place: page or fragment, `Vary`, and client events.

A fragment is sent only to an htmx request that is neither boosted (a boosted link swaps the
whole body) nor a history restore (htmx missed its cache on back/forward and needs the whole
page). Anything else, including a URL pasted into a new tab, gets the whole page.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Request, Response, render_template, request
from jinja2_fragments.flask import render_block
from markupsafe import escape

TRIGGER_HEADER = "HX-Trigger"


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


def init_app(app: Flask) -> None:
    app.after_request(add_vary_hx_request)
