"""The Notifications section: each event x channel switch, and the digest frequency.

A post is one of three kinds of change (the hidden `scope` field says which):
- `switch`: one switch, named by `event` and `channel`; it is on when the checkbox's own field
  (`<event>_<channel>`) is present. A toggle sends this with htmx, so two open tabs never undo
  each other's other switches.
- `digest`: only `digest_frequency` (the select, changed with htmx).
- `all`: the whole form, as its Save button posts it without JavaScript; an absent checkbox
  means off.
Anything unknown (an event, a channel, a frequency, a scope, a stray field) is refused with a
422 that names it, and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_wtf import FlaskForm
from sqlalchemy.dialects import postgresql, sqlite
from wtforms import BooleanField, HiddenField, SelectField

from ..auth.session import onboarded_required
from ..extensions import db
from ..htmx import is_htmx, toast
from ..models import DIGEST_FREQUENCIES, NOTIFICATION_CHANNELS, NOTIFICATION_EVENTS, NotificationSettings
from . import bp
from .sections import render_section, section_saved

SLUG = "notifications"
SCOPES = ("all", "switch", "digest")
SWITCHES = tuple(
    NotificationSettings.column(event, channel) for event in NOTIFICATION_EVENTS for channel in NOTIFICATION_CHANNELS
)
# The fields a notifications post may carry; anything else is refused by name.
KNOWN_FIELDS = frozenset({"csrf_token", "scope", "event", "channel", "digest_frequency", *SWITCHES})


# --- The stored settings --------------------------------------------------------------------------


def notification_settings_for(user_id: int) -> NotificationSettings:
    """The user's settings row, created with the defaults the first time it is needed.

    `INSERT ... ON CONFLICT DO NOTHING`, then a read: of two first requests at once, the second
    insert does nothing (it waits for the first on PostgreSQL) and both read the same row. The
    insert is committed at once.
    """
    row = db.session.get(NotificationSettings, user_id)
    if row is not None:
        return row
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(NotificationSettings).values(user_id=user_id).on_conflict_do_nothing())
    db.session.commit()
    return db.session.get(NotificationSettings, user_id, populate_existing=True)


def save_notification_settings(user_id: int, changes: dict[str, Any]) -> NotificationSettings:
    """Set the given columns (already validated) on the user's row."""
    row = notification_settings_for(user_id)
    for name, value in changes.items():
        setattr(row, name, value)
    db.session.commit()
    return row


# --- The form -------------------------------------------------------------------------------------


def _listed(options: dict[str, str]) -> str:
    return ", ".join(options)


def unknown_event_message(event: str) -> str:
    return f"Unknown notification event {event!r}; the events are: {_listed(NOTIFICATION_EVENTS)}."


def unknown_channel_message(channel: str) -> str:
    return f"Unknown notification channel {channel!r}; the channels are: {_listed(NOTIFICATION_CHANNELS)}."


def unknown_field_message(name: str) -> str:
    """Why a posted field is not a notification setting, as precisely as its name allows."""
    for event in NOTIFICATION_EVENTS:
        if name.startswith(event + "_"):
            return unknown_channel_message(name.removeprefix(event + "_"))
    for channel in NOTIFICATION_CHANNELS:
        if name.endswith("_" + channel):
            return unknown_event_message(name.removesuffix("_" + channel))
    return f"Unknown notification setting {name!r}."


class NotificationsForm(FlaskForm):
    """Every switch (added below), the digest frequency, and which of them a post changes."""

    channel_labels = tuple(NOTIFICATION_CHANNELS.values())
    digest_choices = tuple(DIGEST_FREQUENCIES.items())

    scope = HiddenField(default="all")
    event = HiddenField()
    channel = HiddenField()
    digest_frequency = SelectField(
        "Digest email",
        choices=DIGEST_FREQUENCIES,
        validate_choice=False,  # checked in `validate`, with a message that lists the choices
        description="A summary of what you missed, by email.",
    )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        self.form_errors = [unknown_field_message(name) for name in request.form if name not in KNOWN_FIELDS]
        scope = self.scope.data or "all"
        if scope not in SCOPES:
            self.scope.errors = [f"Unknown kind of change {scope!r}; it must be one of: {', '.join(SCOPES)}."]
        if scope == "switch":
            if self.event.data not in NOTIFICATION_EVENTS:
                self.event.errors = [unknown_event_message(self.event.data or "")]
            if self.channel.data not in NOTIFICATION_CHANNELS:
                self.channel.errors = [unknown_channel_message(self.channel.data or "")]
        if scope in ("all", "digest") and self.digest_frequency.data not in DIGEST_FREQUENCIES:
            self.digest_frequency.errors = [
                f"Unknown digest frequency {self.digest_frequency.data or ''!r}; "
                f"choose one of: {_listed(DIGEST_FREQUENCIES)}."
            ]
        return valid and not self.messages()

    def messages(self) -> list[str]:
        """Every reason this post was refused, for the alert above the form."""
        fields = (self.csrf_token, self.scope, self.event, self.channel, self.digest_frequency)
        return [*self.form_errors, *(message for field in fields for message in field.errors)]

    def changes(self) -> dict[str, Any]:
        """The columns this post sets (after `validate`)."""
        scope = self.scope.data or "all"
        if scope == "switch":
            column = NotificationSettings.column(self.event.data, self.channel.data)
            return {column: bool(self[column].data)}
        if scope == "digest":
            return {"digest_frequency": self.digest_frequency.data}
        changes: dict[str, Any] = {column: bool(self[column].data) for column in SWITCHES}
        changes["digest_frequency"] = self.digest_frequency.data
        return changes

    def switch_rows(self) -> list[dict[str, Any]]:
        """What the template draws: one row per event, one switch per channel."""
        return [
            {
                "event": event,
                "label": label,
                "switches": [
                    {
                        "channel": channel,
                        "channel_label": channel_label,
                        "field": self[NotificationSettings.column(event, channel)],
                    }
                    for channel, channel_label in NOTIFICATION_CHANNELS.items()
                ],
            }
            for event, label in NOTIFICATION_EVENTS.items()
        ]


for _event, _event_label in NOTIFICATION_EVENTS.items():
    for _channel, _channel_label in NOTIFICATION_CHANNELS.items():
        setattr(
            NotificationsForm,
            NotificationSettings.column(_event, _channel),
            BooleanField(f"{_channel_label}: {_event_label}"),
        )


def saved_message(changes: dict[str, Any]) -> str:
    if len(changes) == 1:
        ((name, value),) = changes.items()
        if name == "digest_frequency":
            return "Digest email turned off." if value == "off" else f"Digest email set to {value}."
        for event, event_label in NOTIFICATION_EVENTS.items():
            for channel, channel_label in NOTIFICATION_CHANNELS.items():
                if name == NotificationSettings.column(event, channel):
                    state = "on" if value else "off"
                    return f"{channel_label} notifications for {event_label.lower()} turned {state}."
    return "Notification settings saved."


# --- The view -------------------------------------------------------------------------------------


def _stored_form() -> NotificationsForm:
    return NotificationsForm(formdata=None, obj=notification_settings_for(g.user.id))


@bp.route("/notifications", methods=["GET", "POST"])
@onboarded_required
def notifications() -> Response:
    if request.method == "GET":
        return render_section(SLUG, form=_stored_form())

    form = NotificationsForm()
    toggled = is_htmx() and form.scope.data in ("switch", "digest")
    if not form.validate():
        if toggled:
            # A toggle is not swapped (it keeps its place and the focus): the toast says why,
            # and the section comes back with the stored values for anyone who swaps it.
            response = render_section(SLUG, status=422, form=_stored_form())
            return toast(response, "Not saved: " + " ".join(form.messages()), "error")
        return render_section(SLUG, status=422, form=form)

    changes = form.changes()
    save_notification_settings(g.user.id, changes)
    message = saved_message(changes)
    if toggled:
        return toast(render_section(SLUG, form=_stored_form()), message)
    return section_saved(SLUG, message, form=_stored_form())
