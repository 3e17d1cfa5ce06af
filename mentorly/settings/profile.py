"""The Profile section: names and username (Clerk's), bio and the rest (ours), the avatar.

The subject is always the signed-in user (`g.user`): no form field names a user. Clerk-owned
values go to Clerk first and are stored from Clerk's answer through `sync_user_to_db`, so the
row never claims something Clerk refused. If Clerk cannot be reached, nothing changes here.
The app-owned values are stored through `update_user_profile`, by the same rules the form uses.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, make_response, request, url_for
from flask_wtf import FlaskForm

from ..auth.session import onboarded_required
from ..clerk.client import ClerkAPIError, ClerkUnavailable, clerk_client
from ..models import User
from ..timezones import other_timezones_group, timezone_names
from ..users import sync_user_to_db, update_user_profile
from . import bp
from .forms import AvatarForm, ProfileForm, RemoveAvatarForm
from .sections import render_section, section_saved

# How long a browser may keep the (identical for everyone) list of all time zones.
TIMEZONES_MAX_AGE = 24 * 60 * 60


@bp.route("/profile", methods=["GET", "POST"])
@onboarded_required
def profile():
    if request.method == "GET":
        return _render()
    intent = request.form.get("intent", "profile")
    if intent == "profile":
        return _save_profile(g.user)
    if intent == "avatar":
        return _upload_avatar(g.user)
    if intent == "remove_avatar":
        return _remove_avatar(g.user)
    abort(400, description="Unknown form.")


@bp.get("/profile/timezones")
@onboarded_required
def timezones():
    """The long "All time zones" group, fetched by the profile fragment after it is swapped in."""
    selected = request.args.get("selected")
    response = make_response(other_timezones_group(selected if selected in timezone_names() else None))
    response.headers["Cache-Control"] = f"private, max-age={TIMEZONES_MAX_AGE}"
    return response


def _save_profile(user: User) -> Response:
    form = ProfileForm(user=user, obj=user)
    if not form.validate_on_submit():
        return _render(form=form, status=422)
    changes = form.clerk_changes(user)
    if changes:
        try:
            answer = clerk_client().update_user(user.clerk_id, **changes)
        except ClerkAPIError as exc:
            _show_clerk_errors(form, exc)
            return _render(form=form, status=422)
        except ClerkUnavailable as exc:
            form.form_errors.append(f"Your profile was not saved. {exc}")
            return _render(form=form, status=503, headers={"Retry-After": "5"})
        if sync_user_to_db(answer) is None:
            abort(410)  # deleted (at Clerk, then here) while editing
    update_user_profile(user.clerk_id, **form.app_owned_values())
    return section_saved("profile", "Profile saved.", **_context())


def _upload_avatar(user: User) -> Response:
    form = AvatarForm()
    if not form.validate_on_submit():
        if form.busy:  # the message is at the field; the same upload succeeds in a moment
            return _render(avatar_form=form, status=503, headers={"Retry-After": "5"})
        return _render(avatar_form=form, status=422)
    image = form.prepared
    try:
        answer = clerk_client().set_profile_image(user.clerk_id, image.data, image.filename, image.content_type)
    except ClerkAPIError as exc:
        form.avatar.errors = [*form.avatar.errors, *_messages(exc)]
        return _render(avatar_form=form, status=422)
    except ClerkUnavailable as exc:
        form.form_errors.append(f"Your avatar was not changed. {exc}")
        return _render(avatar_form=form, status=503, headers={"Retry-After": "5"})
    sync_user_to_db(answer)
    return section_saved("profile", "Avatar updated.", **_context())


def _remove_avatar(user: User) -> Response:
    form = RemoveAvatarForm()
    if not form.validate_on_submit():
        return _render(remove_avatar_form=form, status=422)
    try:
        answer = clerk_client().delete_profile_image(user.clerk_id)
    except ClerkAPIError as exc:
        avatar_form = AvatarForm(formdata=None)
        avatar_form.form_errors.extend(_messages(exc))
        return _render(avatar_form=avatar_form, status=422)
    except ClerkUnavailable as exc:
        avatar_form = AvatarForm(formdata=None)
        avatar_form.form_errors.append(f"Your avatar was not removed. {exc}")
        return _render(avatar_form=avatar_form, status=503, headers={"Retry-After": "5"})
    sync_user_to_db(answer)
    return section_saved("profile", "Avatar removed.", **_context())


def _show_clerk_errors(form: FlaskForm, exc: ClerkAPIError) -> None:
    """Clerk's verdicts at the fields they name (e.g. a username taken in Clerk)."""
    for param, messages in exc.field_errors.items():
        if param in form and param != "csrf_token":
            form[param].errors = [*form[param].errors, *messages]
        else:
            form.form_errors.extend(messages)
    form.form_errors.extend(exc.messages)


def _messages(exc: ClerkAPIError) -> list[str]:
    return [message for messages in exc.field_errors.values() for message in messages] + exc.messages


def _context(**forms: Any) -> dict[str, Any]:
    user = g.user
    context = {
        "form": ProfileForm(formdata=None, user=user, obj=user),
        "avatar_form": AvatarForm(formdata=None),
        "remove_avatar_form": RemoveAvatarForm(formdata=None),
        "timezones_url": url_for("settings.timezones"),
    }
    context.update(forms)
    return context


def _render(*, status: int = 200, headers: dict[str, str] | None = None, **forms: Any) -> Response:
    return render_section("profile", status=status, headers=headers, **_context(**forms))
