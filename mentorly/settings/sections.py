"""What every settings section shares: the navigation, rendering, and the answer to a save.

A section is one module in this package (its routes and forms) and one template,
`templates/settings/<slug>.html`, that extends `settings/shell.html` and fills `block section`.
An htmx navigation gets that block alone, followed by the section links out of band (so the
navigation marks the section sent); every other request gets the whole page.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import Response, flash, make_response, redirect, render_template, url_for

from ..htmx import is_fragment_request, render_page_or_fragment, toast


class Section(NamedTuple):
    slug: str
    label: str
    summary: str


# The navigation, in order. The route of each is `settings.<slug>`.
SECTIONS = (
    Section("profile", "Profile", "Your name, photo and how others see you"),
    Section("notifications", "Notifications", "What we tell you about, and how"),
    Section("security", "Security", "Sign-in, two-factor and sessions"),
    Section("billing", "Billing", "Plan, points and level"),
    Section("appearance", "Appearance", "Theme and motion"),
    Section("integrations", "Integrations", "Connected accounts"),
)
SECTIONS_BY_SLUG = {section.slug: section for section in SECTIONS}


def render_section(slug: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """The section's page, or only its block (and the marked section links) for htmx."""
    section = SECTIONS_BY_SLUG[slug]
    body = render_page_or_fragment(
        f"settings/{slug}.html",
        "section",
        title=f"{section.label} · Settings · Mentorly",
        sections=SECTIONS,
        section=section,
        **context,
    )
    if is_fragment_request():
        body += render_template("settings/_section_links.html", sections=SECTIONS, section=section, oob=True)
    response = make_response(body, status)
    if headers:
        response.headers.update(headers)
    return response


def section_saved(slug: str, message: str, **context: Any) -> Response:
    """After a successful save: the section again with a toast (htmx), else redirect after POST.

    The 303 makes the browser GET the section, so a reload never re-posts the form.
    """
    if is_fragment_request():
        return toast(render_section(slug, **context), message)
    flash(message, "success")
    return redirect(url_for(f"settings.{slug}"), code=303)
