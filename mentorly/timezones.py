"""Time zones: the valid IANA names, and the `<select>` a person picks one from.

The rule that a profile's time zone must be one of `timezone_names()` (any IANA name, aliases
included) lives in `mentorly/profile.py`; this module knows the list and how to offer it: the
14 common zones first, then every other canonical zone (no `Factory`, `localtime` or legacy
alias such as `US/Pacific`). An alias a person already saved is still offered, selected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from flask import g
from markupsafe import Markup, escape
from wtforms import SelectField

from .form_widgets import html_params

COMMON_TIMEZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Africa/Lagos",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)


@cache
def timezone_names() -> frozenset[str]:
    # Scanning the zone database reads hundreds of files: once per process is enough.
    return frozenset(available_timezones())


@cache
def canonical_timezones() -> frozenset[str]:
    """The zones tzdata lists by country (zone1970.tab and zone.tab), and UTC."""
    names = {"UTC"}
    for table in ("zone1970.tab", "zone.tab"):
        for line in files("tzdata.zoneinfo").joinpath(table).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                names.add(line.split("\t")[2])
    return frozenset(names & timezone_names())


@cache
def listed_zones_of_aliases() -> dict[str, str]:
    """Each legacy name of a listed zone and that zone (Asia/Calcutta: Asia/Kolkata): some
    browsers still report the legacy name as their own time zone."""
    aliases = {}
    for line in files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8").splitlines():
        if line.startswith("L "):  # "L <zone> <legacy name>"
            _, zone, alias = line.split()
            if is_listed(zone):
                aliases[alias] = zone
    return aliases


@cache
def other_timezones() -> tuple[str, ...]:
    return tuple(sorted(canonical_timezones() - set(COMMON_TIMEZONES)))


def is_listed(name: str | None) -> bool:
    return name in canonical_timezones() or name in COMMON_TIMEZONES


def local_time(moment: datetime, zone: str | None = None) -> str:
    """`moment` as the viewer reads it: in `zone` (by default the signed-in person's profile time
    zone) with its abbreviation, e.g. "3 Dec 2026, 09:40 NZDT"; in UTC when none is set."""
    if zone is None:
        user = g.get("user")
        zone = user.timezone if user is not None else None
    tz = ZoneInfo(zone) if zone in timezone_names() else UTC
    return moment.astimezone(tz).strftime("%-d %b %Y, %H:%M %Z")


def timezone_label(name: str) -> str:
    return name.replace("_", " ")


@cache
def _options_markup(names: tuple[str, ...]) -> str:
    return "".join(f'<option value="{escape(name)}">{escape(timezone_label(name))}</option>' for name in names)


def timezone_options(names: tuple[str, ...], selected: str | None) -> Markup:
    """`<option>`s for `names`, built once per process; only the selected one is patched in."""
    markup = _options_markup(names)
    if selected:
        needle = f'<option value="{escape(selected)}">'
        markup = markup.replace(needle, needle[:-1] + " selected>", 1)
    return Markup(markup)


def other_timezones_group(selected: str | None, attributes: str = "") -> Markup:
    # A saved alias (valid, but not listed) comes first, so the select still shows it.
    saved_alias = selected if selected in timezone_names() and not is_listed(selected) else None
    return Markup(f'<optgroup label="All time zones"{attributes}>') + (
        timezone_options((saved_alias,), saved_alias) if saved_alias else Markup("")
    ) + timezone_options(other_timezones(), selected) + Markup("</optgroup>")


class TimezoneSelect:
    """A `<select>` of every IANA zone, the common ones first.

    With `defer_url`, the long group is fetched after the section is swapped in (htmx), so a
    section fragment stays small; only the current zone is sent inline. Whole pages send the
    full list, which keeps the form complete without JavaScript.
    """

    def __call__(self, field: "TimezoneField", defer_url: str | None = None, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        if field.flags.required:
            kwargs.setdefault("required", True)
        selected = field.data if isinstance(field.data, str) else None
        common = Markup('<optgroup label="Common time zones">') + timezone_options(
            COMMON_TIMEZONES, selected
        ) + Markup("</optgroup>")
        if defer_url is None:
            others = other_timezones_group(selected)
        else:
            inline = selected if selected in timezone_names() and selected not in COMMON_TIMEZONES else None
            url = f"{defer_url}?{urlencode({'selected': inline})}" if inline else defer_url
            attributes = Markup(' hx-get="{}" hx-trigger="load" hx-target="this" hx-swap="outerHTML"').format(url)
            others = Markup('<optgroup label="All time zones"{}>').format(attributes) + (
                timezone_options((inline,), inline) if inline else Markup("")
            ) + Markup("</optgroup>")
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>") + common + others + Markup("</select>")


class TimezoneField(SelectField):
    widget = TimezoneSelect()

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("default", "UTC")
        super().__init__(label, validators, choices=None, validate_choice=False, **kwargs)

    def iter_choices(self):  # pragma: no cover - the widget renders the options itself
        return iter(())
