"""The profile's fields and their rules: names, username, bio, website, location, time zone.

Every way a profile changes uses these definitions and only these: the settings forms and the
onboarding wizard's forms declare their fields with `ProfileField.field()` (WTForms), and
`update_user_profile` checks its arguments with `validate_profile_fields` (no form involved).
A rule is a plain check `(label, value)` that raises RuleBroken with a message for people; the
WTForms validators here only adapt those checks, so the page and the function cannot disagree.

Nothing here imports a blueprint: `mentorly.users`, `mentorly.settings` and
`mentorly.onboarding` all depend on this module, never the other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlsplit

import regex
from wtforms.validators import InputRequired, Optional, StopValidation

from .form_widgets import StringField, TextAreaField
from .timezones import TimezoneField, timezone_names

if TYPE_CHECKING:
    from .models import User

NAME_MAX = 256
USERNAME_MIN, USERNAME_MAX = 4, 64
BIO_MAX = 160
# A visible character may be several code points (a family emoji is up to ~11); this bound
# only stops a few visible characters carrying thousands of combining marks.
BIO_MAX_CODE_POINTS = BIO_MAX * 12
WEBSITE_MAX = 2048
LOCATION_MAX = 100

APP_OWNED_FIELDS = ("bio", "website", "location", "timezone")
CLERK_OWNED_FIELDS = ("first_name", "last_name", "username")

USERNAME_TAKEN = "That username is taken. Please try another."

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


class RuleBroken(ValueError):
    """A value breaks a profile rule; str() is the message for people."""


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


# --- Rules: each takes the field's label and its cleaned, non-empty value -----------------------

Check = Callable[[str, str], None]


def no_control_characters(label: str, value: str) -> None:
    if CONTROL_CHARACTERS.search(value):
        raise RuleBroken(f"{label} contains characters that are not allowed.")


def at_most(limit: int) -> Check:
    def check(label: str, value: str) -> None:
        if len(value) > limit:
            # WTForms' own wording for Length, which these fields used before.
            raise RuleBroken(f"Field cannot be longer than {limit} characters.")

    return check


def username_rules(label: str, value: str) -> None:
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX:
        raise RuleBroken(f"Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long.")
    if not USERNAME_CHARACTERS.fullmatch(value):
        raise RuleBroken("Username can use only letters a–z, digits 0–9, underscores and hyphens.")
    if value.isdigit():
        raise RuleBroken("Username must contain at least one letter, underscore or hyphen.")


def visible_length_at_most(limit: int, max_code_points: int) -> Check:
    """At most `limit` visible characters (see `visible_length`)."""

    def check(label: str, value: str) -> None:
        count = visible_length(value)
        if count > limit:
            raise RuleBroken(f"{label} can be at most {limit} characters (it has {count}).")
        if len(value) > max_code_points:
            raise RuleBroken(f"{label} contains too many combining characters.")

    return check


def website_rules(label: str, value: str) -> None:
    if len(value) > WEBSITE_MAX:
        raise RuleBroken(f"Website must be at most {WEBSITE_MAX} characters.")
    scheme = URL_SCHEME.match(value)
    if not scheme or scheme.group(1).lower() not in ("http", "https"):
        raise RuleBroken("Website must be an http:// or https:// address.")
    if any(character.isspace() for character in value):
        raise RuleBroken("Website cannot contain spaces.")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise RuleBroken("Website is not a valid address.") from None
    if "@" in parts.netloc:
        # `https://mentorly.example@elsewhere.example` reads as one site and opens another.
        raise RuleBroken("Website cannot contain a user name or password.")
    if not HOSTNAME.fullmatch(hostname) or ("." not in hostname.strip(".") and hostname != "localhost"):
        raise RuleBroken("Website needs a domain name, like example.com.")


def timezone_rules(label: str, value: str) -> None:
    if value not in timezone_names():
        raise RuleBroken("Choose a time zone from the list.")


# --- The fields ---------------------------------------------------------------------------------


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


class FollowsRules:
    """A field's rules as one WTForms validator: the first rule broken stops the chain."""

    def __init__(self, spec: "ProfileField") -> None:
        self.spec = spec

    def __call__(self, form: Any, field: Any) -> None:
        problem = self.spec.broken_rule(field.data or "")
        if problem:
            raise StopValidation(problem)


@dataclass(frozen=True)
class ProfileField:
    """One profile field: its label, how input is cleaned, the rules, and how it is entered.

    An optional field skips its rules when left blank and is stored as NULL; a required one
    shows `required` (the message) when blank.
    """

    name: str
    label: str
    field_class: type = StringField
    filters: tuple[Callable[[Any], Any], ...] = ()
    rules: tuple[Check, ...] = ()
    required: str | None = None
    description: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def clean(self, value: Any) -> Any:
        for apply in self.filters:
            value = apply(value)
        return value

    def broken_rule(self, value: str) -> str | None:
        """The message of the first rule `value` (cleaned) breaks, or None."""
        for rule in self.rules:
            try:
                rule(self.label, value)
            except RuleBroken as exc:
                return str(exc)
        return None

    def check(self, raw: str) -> tuple[Any, list[str]]:
        """Clean `raw` as a form would and apply the rules: (the value to store, messages).

        The same steps as the form field: filters, then required/optional on the raw input
        (WTForms' InputRequired and Optional), then the rules on the cleaned value.
        """
        value = self.clean(raw)
        if self.required is not None:
            if not raw:
                return value, [self.required]
        elif not raw.strip():
            return self.stored(value), []
        problem = self.broken_rule(value or "")
        return self.stored(value), [problem] if problem else []

    def stored(self, value: Any) -> Any:
        """As the row keeps it: an optional field left blank is NULL."""
        return value if self.required is not None else (value or None)

    def validators(self) -> list[Any]:
        first = InputRequired(self.required) if self.required is not None else Optional()
        return [first, FollowsRules(self)] if self.rules else [first]

    def field(self) -> Any:
        """The WTForms field for a form class (`first_name = FIRST_NAME.field()`)."""
        return self.field_class(
            self.label,
            self.validators(),
            filters=list(self.filters),
            description=self.description or "",
            render_kw=dict(self.attributes) or None,
            **self.options,
        )


FIRST_NAME = ProfileField(
    "first_name",
    "First name",
    filters=(strip,),
    rules=(no_control_characters, at_most(NAME_MAX)),
    attributes={"autocomplete": "given-name"},
)
LAST_NAME = ProfileField(
    "last_name",
    "Last name",
    filters=(strip,),
    rules=(no_control_characters, at_most(NAME_MAX)),
    attributes={"autocomplete": "family-name"},
)
# Optional as declared: `fit_username_to_instance` makes it required, or removes it, per the
# Clerk instance's setting.
USERNAME = ProfileField(
    "username",
    "Username",
    filters=(strip, lower),
    rules=(username_rules,),
    description=f"{USERNAME_MIN}–{USERNAME_MAX} characters: letters a–z, digits, _ and -.",
    attributes={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
)
BIO = ProfileField(
    "bio",
    "Bio",
    field_class=CountedTextAreaField,
    filters=(normalise_line_breaks, strip),
    rules=(no_control_characters, visible_length_at_most(BIO_MAX, BIO_MAX_CODE_POINTS)),
    description="A line or two about you, shown on your profile.",
    attributes={"rows": 4},
    options={"max_characters": BIO_MAX},
)
WEBSITE = ProfileField(
    "website",
    "Website",
    filters=(strip, normalise_website),
    rules=(no_control_characters, website_rules),
    description="http or https; example.com becomes https://example.com.",
    attributes={"inputmode": "url", "autocomplete": "url", "spellcheck": "false"},
)
LOCATION = ProfileField(
    "location",
    "Location",
    filters=(strip,),
    rules=(no_control_characters, at_most(LOCATION_MAX)),
    attributes={"autocomplete": "address-level2"},
)
TIMEZONE = ProfileField(
    "timezone",
    "Time zone",
    field_class=TimezoneField,
    rules=(timezone_rules,),
    required="Choose a time zone.",
)

PROFILE_FIELDS = {spec.name: spec for spec in (FIRST_NAME, LAST_NAME, USERNAME, BIO, WEBSITE, LOCATION, TIMEZONE)}
USERNAME_REQUIRED = "Choose a username."


def fit_username_to_instance(form: Any, mode: str) -> None:
    """Shape a form's username field to the Clerk instance's setting (`clerk.instance`): gone
    where usernames are off, required where the instance requires one, optional otherwise."""
    if mode == "off":
        del form.username
    elif mode == "required":
        form.username.validators = [InputRequired(USERNAME_REQUIRED), FollowsRules(USERNAME)]
        form.username.flags.required = True
        form.username.flags.optional = False


# --- Which values go where ------------------------------------------------------------------------


def clerk_changes(data: Mapping[str, Any], user: User) -> dict[str, str | None]:
    """The Clerk-owned values in `data` (a form's cleaned data) that differ from the row.

    An empty name is None: it clears the name at Clerk.
    """
    changes: dict[str, str | None] = {}
    for name in CLERK_OWNED_FIELDS:
        if name not in data:
            continue  # not on the form (a username where the instance has none)
        value = data.get(name) or None
        if value != getattr(user, name):
            changes[name] = value
    return changes


def app_owned_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The app-owned values in `data` (a form's cleaned data) as the row stores them."""
    return {name: PROFILE_FIELDS[name].stored(data.get(name)) for name in APP_OWNED_FIELDS}


def validate_profile_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check app-owned profile fields against the rules; return them cleaned, as stored.

    Only the fields given are checked and returned. A Clerk-owned or unknown field, or a value
    that breaks a rule, raises ProfileError with the messages keyed by field.
    """
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in APP_OWNED_FIELDS:
            owner = "Clerk" if name in CLERK_OWNED_FIELDS else "nobody"
            errors[name] = [f"{name} is not an app-owned profile field (owner: {owner})."]
        elif value is not None and not isinstance(value, str):
            errors[name] = [f"{name} must be text."]
        else:
            cleaned[name], messages = PROFILE_FIELDS[name].check(value or "")
            if messages:
                errors[name] = messages
    if errors:
        raise ProfileError(errors)
    return cleaned
