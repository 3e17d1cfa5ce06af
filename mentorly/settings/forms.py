"""The profile forms: every rule about a profile field lives here, and only here.

The settings page, the onboarding wizard and `update_user_profile` all validate through these
classes: `ProfileNamesForm` (Clerk-owned names and username), `ProfileDetailsForm` (app-owned
bio, website, location, timezone), `ProfileForm` (both) and `AvatarForm`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit
from zoneinfo import available_timezones

import regex
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup, escape
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, StopValidation, ValidationError

from ..avatars import AVATAR_MAX_BYTES, AvatarBusy, PreparedAvatar, prepare_avatar
from ..extensions import db
from ..models import User

NAME_MAX = 256
USERNAME_MIN, USERNAME_MAX = 4, 64
BIO_MAX = 160
# A visible character may be several code points (a family emoji is up to ~11); this bound
# only stops a few visible characters carrying thousands of combining marks.
BIO_MAX_CODE_POINTS = BIO_MAX * 12
WEBSITE_MAX = 2048
LOCATION_MAX = 100

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

APP_OWNED_FIELDS = ("bio", "website", "location", "timezone")
CLERK_OWNED_FIELDS = ("first_name", "last_name", "username")

USERNAME_CHARACTERS = re.compile(r"[a-z0-9_-]+")
# Everything but tab and line feed below U+0020, DEL and the C1 controls; PostgreSQL refuses NUL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
URL_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
HOSTNAME = re.compile(r"[\w-]+(\.[\w-]+)*\.?", re.UNICODE)


class ProfileError(ValueError):
    """Profile fields that cannot be saved; `errors` maps each field to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in self.errors.items()))


# --- Filters: how input is cleaned before the rules see it ------------------------------------


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def normalise_line_breaks(value: Any) -> Any:
    """Browsers submit a textarea's line breaks as CRLF; a person sees one break."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def normalise_website(value: Any) -> Any:
    """A bare domain (`example.com`, `example.com:8080/x`, `//example.com`) gets `https://`."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith("//"):
        return "https:" + value
    scheme = URL_SCHEME.match(value)
    # `example.com:8080` looks like a scheme followed by a port: that is still a bare domain.
    if scheme and not re.match(r"\d+(/|$)", value[scheme.end():]):
        return value
    return "https://" + value


def visible_length(value: str) -> int:
    """Characters as a person counts them: grapheme clusters (an emoji or a flag is one).

    The counter in the page counts the same way (`Intl.Segmenter`), after the same line-break
    normalisation, so the two agree.
    """
    return len(regex.findall(r"\X", value))


# --- Validators --------------------------------------------------------------------------------


def no_control_characters(form: Any, field: Any) -> None:
    if isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
        raise StopValidation(f"{field.label.text} contains characters that are not allowed.")


def username_rules(form: Any, field: Any) -> None:
    value = field.data or ""
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX:
        raise StopValidation(f"Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long.")
    if not USERNAME_CHARACTERS.fullmatch(value):
        raise StopValidation("Username can use only letters a–z, digits 0–9, underscores and hyphens.")
    if value.isdigit():
        raise StopValidation("Username must contain at least one letter, underscore or hyphen.")


class VisibleLength:
    """At most `max` visible characters (see `visible_length`)."""

    def __init__(self, max: int, max_code_points: int) -> None:
        self.max = max
        self.max_code_points = max_code_points

    def __call__(self, form: Any, field: Any) -> None:
        value = field.data or ""
        count = visible_length(value)
        if count > self.max:
            raise StopValidation(f"{field.label.text} can be at most {self.max} characters (it has {count}).")
        if len(value) > self.max_code_points:
            raise StopValidation(f"{field.label.text} contains too many combining characters.")


def website_rules(form: Any, field: Any) -> None:
    value = field.data or ""
    if len(value) > WEBSITE_MAX:
        raise StopValidation(f"Website must be at most {WEBSITE_MAX} characters.")
    scheme = URL_SCHEME.match(value)
    if not scheme or scheme.group(1).lower() not in ("http", "https"):
        raise StopValidation("Website must be an http:// or https:// address.")
    if any(character.isspace() for character in value):
        raise StopValidation("Website cannot contain spaces.")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise StopValidation("Website is not a valid address.") from None
    if "@" in parts.netloc:
        # `https://mentorly.example@elsewhere.example` reads as one site and opens another.
        raise StopValidation("Website cannot contain a user name or password.")
    if not HOSTNAME.fullmatch(hostname) or ("." not in hostname.strip(".") and hostname != "localhost"):
        raise StopValidation("Website needs a domain name, like example.com.")


def timezone_rules(form: Any, field: Any) -> None:
    if field.data not in timezone_names():
        raise StopValidation("Choose a time zone from the list.")


# --- Time zones ---------------------------------------------------------------------------------


@cache
def timezone_names() -> frozenset[str]:
    # Scanning the zone database reads hundreds of files: once per process is enough.
    return frozenset(available_timezones())


@cache
def other_timezones() -> tuple[str, ...]:
    return tuple(sorted(timezone_names() - set(COMMON_TIMEZONES)))


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
    return Markup(f'<optgroup label="All time zones"{attributes}>') + timezone_options(
        other_timezones(), selected
    ) + Markup("</optgroup>")


class TimezoneSelect:
    """A `<select>` of every IANA zone, the common ones first.

    With `defer_url`, the long group is fetched after the section is swapped in (htmx), so a
    section fragment stays small; only the current zone is sent inline. Whole pages send the
    full list, which keeps the form complete without JavaScript.
    """

    def __call__(self, field: "TimezoneField", defer_url: str | None = None, **kwargs: Any) -> Markup:
        from wtforms.widgets import html_params

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
        return Markup("<select {}>").format(Markup(html_params(name=field.name, **kwargs))) + common + others + Markup(
            "</select>"
        )


class TimezoneField(SelectField):
    widget = TimezoneSelect()

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("default", "UTC")
        super().__init__(label, validators, choices=None, validate_choice=False, **kwargs)

    def iter_choices(self):  # pragma: no cover - the widget renders the options itself
        return iter(())


class CountedTextAreaField(TextAreaField):
    """A textarea whose length limit the page shows live (`max_characters`)."""

    def __init__(self, label: str | None = None, validators: Any = None, *, max_characters: int, **kwargs: Any) -> None:
        self.max_characters = max_characters
        render_kw = dict(kwargs.pop("render_kw", None) or {})
        # A data attribute, not `maxlength`: the browser's maxlength counts UTF-16 units, so it
        # would stop a person at 80 emoji while the rule allows 160.
        render_kw.setdefault("data-max-characters", max_characters)
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    @property
    def character_count(self) -> int:
        return visible_length(self.data or "")


# --- Avatars (the images themselves: mentorly/avatars.py) ------------------------------------


def avatar_rules(form: "AvatarForm", field: Any) -> None:
    upload = field.data
    data = upload.stream.read(AVATAR_MAX_BYTES + 1)
    try:
        form.prepared = prepare_avatar(data)
    except ValueError as exc:
        raise StopValidation(str(exc)) from None
    except AvatarBusy as exc:
        form.busy = True
        raise StopValidation(str(exc)) from None


# --- The forms ----------------------------------------------------------------------------------


class ProfileNamesForm(FlaskForm):
    """First and last name and username: Clerk owns them, so a save goes to Clerk first."""

    first_name = StringField(
        "First name",
        [Optional(), no_control_characters, Length(max=NAME_MAX)],
        filters=[strip],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Last name",
        [Optional(), no_control_characters, Length(max=NAME_MAX)],
        filters=[strip],
        render_kw={"autocomplete": "family-name"},
    )
    username = StringField(
        "Username",
        [InputRequired("Choose a username."), username_rules],
        filters=[strip, lower],
        description=f"{USERNAME_MIN}–{USERNAME_MAX} characters: letters a–z, digits, _ and -.",
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        """`user` is the person editing: their own username does not count as taken."""
        self.user = user
        super().__init__(*args, **kwargs)

    def validate_username(self, field: Any) -> None:
        query = select(User.id).where(
            func.lower(User.username) == field.data.lower(), User.deleted_at.is_(None)
        )
        if self.user is not None:
            query = query.where(User.id != self.user.id)
        if db.session.execute(query.limit(1)).first() is not None:
            raise ValidationError("That username is taken. Please try another.")

    def clerk_changes(self, user: User) -> dict[str, str | None]:
        """The Clerk-owned values that differ from the row (None clears a name)."""
        changes: dict[str, str | None] = {}
        for name in CLERK_OWNED_FIELDS:
            value = self[name].data or None
            if value != getattr(user, name):
                changes[name] = value
        return changes


class ProfileDetailsForm(FlaskForm):
    """Bio, website, location and time zone: Mentorly owns them."""

    bio = CountedTextAreaField(
        "Bio",
        [Optional(), no_control_characters, VisibleLength(BIO_MAX, BIO_MAX_CODE_POINTS)],
        max_characters=BIO_MAX,
        filters=[normalise_line_breaks, strip],
        description="A line or two about you, shown on your profile.",
        render_kw={"rows": 4},
    )
    website = StringField(
        "Website",
        [Optional(), no_control_characters, website_rules],
        filters=[strip, normalise_website],
        description="http or https; example.com becomes https://example.com.",
        render_kw={"inputmode": "url", "autocomplete": "url", "spellcheck": "false"},
    )
    location = StringField(
        "Location",
        [Optional(), no_control_characters, Length(max=LOCATION_MAX)],
        filters=[strip],
        render_kw={"autocomplete": "address-level2"},
    )
    timezone = TimezoneField("Timezone", [InputRequired("Choose a time zone."), timezone_rules])

    def app_owned_values(self) -> dict[str, Any]:
        """The cleaned values as stored (an empty text field is stored as NULL)."""
        values: dict[str, Any] = {name: self[name].data or None for name in APP_OWNED_FIELDS}
        values["timezone"] = self.timezone.data
        return values


class ProfileForm(ProfileNamesForm, ProfileDetailsForm):
    """The whole Profile section."""


class AvatarForm(FlaskForm):
    avatar = FileField(
        "Avatar",
        [FileRequired("Choose an image to upload."), avatar_rules],
        description="PNG, JPEG, GIF or WebP, up to 10 MB. Large images are scaled down.",
        render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"},
    )
    prepared: PreparedAvatar | None = None
    busy = False  # refused unread: other avatars were being processed (try again shortly)


class RemoveAvatarForm(FlaskForm):
    """Only the CSRF token: removing the avatar needs no input."""


# --- For code outside a request (update_user_profile) -----------------------------------------


def validate_profile_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate app-owned profile fields with `ProfileDetailsForm`; return them cleaned.

    Only the fields given are checked and returned. A Clerk-owned or unknown field, or a value
    that breaks a rule, raises ProfileError with the messages keyed by field.
    """
    errors: dict[str, list[str]] = {}
    formdata = MultiDict()
    for name, value in fields.items():
        if name not in APP_OWNED_FIELDS:
            owner = "Clerk" if name in CLERK_OWNED_FIELDS else "nobody"
            errors[name] = [f"{name} is not an app-owned profile field (owner: {owner})."]
        elif value is not None and not isinstance(value, str):
            errors[name] = [f"{name} must be text."]
        else:
            formdata[name] = value or ""
    if errors:
        raise ProfileError(errors)

    form = ProfileDetailsForm(formdata=formdata, meta={"csrf": False})
    form.validate()
    errors = {name: list(form[name].errors) for name in formdata if form[name].errors}
    if errors:
        raise ProfileError(errors)
    cleaned = form.app_owned_values()
    return {name: cleaned[name] for name in formdata}
