"""Every write to `users` goes through mentorly/users.py: its account functions, and the views
that call them.

`writes_outside_users_py` watches every INSERT, UPDATE and DELETE on `users` that reaches the
database (ORM flushes and Core statements alike) and notes the ones issued while no function of
mentorly/users.py is running. The HTTP tests save the Profile, Appearance and every onboarding
step under it, so a view that assigned to the row and committed would be caught.
"""

from __future__ import annotations

import re
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

import mentorly.users
from mentorly.extensions import db
from mentorly.models import INTERESTS, MAX_INTERESTS, User
from mentorly.profile import ProfileError
from mentorly.users import (
    delete_user_from_db,
    get_user_by_clerk_id,
    is_username_taken,
    save_onboarding_step,
    sync_user_to_db,
    tombstone_user,
    update_appearance,
    update_user_profile,
)

from .conftest import clerk_user
from .onboarding_support import load_user, post_step
from .sections_support import page_csrf
from .settings_support import member  # noqa: F401  (a fixture)
from .settings_support import HTMX, PROFILE, csrf_token, profile_data

USERS_PY = Path(mentorly.users.__file__).resolve()
WRITES_USERS = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+users\b", re.IGNORECASE)


def _in_users_py() -> bool:
    return any(Path(frame.f_code.co_filename).resolve() == USERS_PY for frame, _ in traceback.walk_stack(None))


@contextmanager
def writes_outside_users_py() -> Iterator[list[str]]:
    """The statements that wrote `users` from outside mentorly/users.py while the block ran."""
    offenders: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if WRITES_USERS.match(statement) and not _in_users_py():
            offenders.append(statement.split("\n")[0])

    event.listen(Engine, "before_cursor_execute", watch)
    try:
        yield offenders
    finally:
        event.remove(Engine, "before_cursor_execute", watch)


def store(app, **fields) -> str:
    with app.app_context():
        return sync_user_to_db(clerk_user(**fields)).clerk_id


# --- The watch itself ---------------------------------------------------------------------------


def test_the_watch_sees_a_write_made_elsewhere(app):
    clerk_id = store(app)
    with app.app_context(), writes_outside_users_py() as offenders:
        user = get_user_by_clerk_id(clerk_id)
        user.bio = "written by hand"
        db.session.commit()
        sync_user_to_db(clerk_user(clerk_id))
    assert len(offenders) == 1 and offenders[0].upper().startswith("UPDATE USERS")


# --- update_appearance ----------------------------------------------------------------------------


def test_update_appearance_stores_the_theme_and_motion(app):
    clerk_id = store(app)
    with app.app_context():
        user = update_appearance(clerk_id, theme="dark", reduced_motion=True)
        assert (user.theme, user.reduced_motion) == ("dark", True)
    stored = load_user(app, clerk_id)
    assert (stored.theme, stored.reduced_motion) == ("dark", True)


def test_update_appearance_refuses_an_unknown_theme_and_an_unknown_user(app):
    clerk_id = store(app)
    with app.app_context():
        with pytest.raises(ValueError, match="system, light, dark"):
            update_appearance(clerk_id, theme="neon", reduced_motion=True)
        with pytest.raises(LookupError):
            update_appearance("user_missing", theme="dark", reduced_motion=False)
    stored = load_user(app, clerk_id)
    assert (stored.theme, stored.reduced_motion) == ("system", False)


# --- save_onboarding_step -------------------------------------------------------------------------


def test_a_step_stores_its_answers_and_the_progress_together(app):
    clerk_id = store(app)
    with app.app_context():
        save_onboarding_step(clerk_id, 2, bio="Hi\r\nthere", website="ada.example", location="", timezone="Asia/Tokyo")
    stored = load_user(app, clerk_id)
    assert (stored.bio, stored.website, stored.location, stored.timezone, stored.onboarding_step) == (
        "Hi\nthere", "https://ada.example", None, "Asia/Tokyo", 2
    )


def test_progress_never_falls_when_an_earlier_step_is_saved_again(app):
    clerk_id = store(app)
    with app.app_context():
        save_onboarding_step(clerk_id, 3, goal="learn", interests=["design"])
        save_onboarding_step(clerk_id, 1)
        assert save_onboarding_step(clerk_id, 2, location="Porto").onboarding_step == 3
    assert load_user(app, clerk_id).onboarding_step == 3


def test_goals_are_stored_in_the_lists_order(app):
    clerk_id = store(app)
    with app.app_context():
        save_onboarding_step(clerk_id, 3, goal="both", interests=["public-speaking", "design", "design"])
    stored = load_user(app, clerk_id)
    assert (stored.goal, stored.interests) == ("both", ["design", "public-speaking"])


@pytest.mark.parametrize(
    "answers",
    [
        {"goal": "spectate"},
        {"goal": None},
        {"interests": ["design", "knitting"]},
        {"interests": list(INTERESTS)[: MAX_INTERESTS + 1]},
    ],
    ids=["unknown-goal", "no-goal", "unknown-interest", "too-many-interests"],
)
def test_goals_not_offered_are_refused_and_nothing_is_stored(app, answers):
    clerk_id = store(app)
    with app.app_context():
        with pytest.raises(ValueError):
            save_onboarding_step(clerk_id, 3, **answers)
    stored = load_user(app, clerk_id)
    assert (stored.goal, stored.interests, stored.onboarding_step) == (None, [], 0)


def test_a_profile_answer_that_breaks_a_rule_stores_nothing_not_even_the_step(app):
    clerk_id = store(app)
    with app.app_context():
        with pytest.raises(ProfileError) as caught:
            save_onboarding_step(clerk_id, 2, bio="fine", website="javascript:alert(1)")
        assert list(caught.value.errors) == ["website"]
        with pytest.raises(ProfileError):
            save_onboarding_step(clerk_id, 1, username="clerk_owns_this")
    stored = load_user(app, clerk_id)
    assert (stored.bio, stored.website, stored.username, stored.onboarding_step) == (None, None, None, 0)


def test_a_deleted_user_has_no_steps_to_save(app):
    clerk_id = store(app)
    with app.app_context():
        delete_user_from_db(clerk_id)
        with pytest.raises(LookupError):
            save_onboarding_step(clerk_id, 1)


# --- is_username_taken ------------------------------------------------------------------------------


def test_is_username_taken_ignores_case_the_asker_and_deleted_users(app):
    with app.app_context():
        ada = sync_user_to_db(clerk_user(username="ada_l"))
        gone = sync_user_to_db(clerk_user(username="gone_user"))
        assert is_username_taken("ADA_L")
        assert not is_username_taken("Ada_L", other_than=ada)
        assert not is_username_taken("someone_else")
        delete_user_from_db(gone.clerk_id)
        assert not is_username_taken("gone_user")


# --- The views write through users.py -------------------------------------------------------------


def test_the_profile_section_saves_through_users_py(app, client, member):
    user = member(client)
    token = csrf_token(client)
    with writes_outside_users_py() as offenders:
        response = client.post(PROFILE, data=profile_data(user, token, bio="Mentor.", website="bea.example"), headers=HTMX)
    assert response.status_code == 200
    assert offenders == []
    stored = load_user(app, user.clerk_id)
    assert (stored.bio, stored.website) == ("Mentor.", "https://bea.example")


def test_the_appearance_section_saves_through_users_py(app, client, sign_in):
    user = sign_in(client)
    token = page_csrf(client, "appearance")
    with writes_outside_users_py() as offenders:
        response = client.post(
            "/dashboard/settings/appearance", data={"csrf_token": token, "theme": "dark", "reduced_motion": "y"}
        )
    assert response.status_code == 303
    assert offenders == []
    stored = load_user(app, user.clerk_id)
    assert (stored.theme, stored.reduced_motion) == ("dark", True)


def test_the_onboarding_steps_save_through_users_py(app, client, sign_in):
    user = sign_in(client, onboarded=False, username="onboarding_writer")
    with writes_outside_users_py() as offenders:
        # The names are Clerk's and unchanged here, so this step only records the progress.
        about = post_step(client, "about", {"first_name": user.first_name, "last_name": user.last_name,
                                            "username": user.username})
        profile = post_step(client, "profile", {"bio": "Hello.", "location": "Accra", "timezone": "Africa/Accra",
                                                "website": ""})
        goals = post_step(client, "goals", {"goal": "learn", "interests": ["leadership", "design"]})
    assert [about.status_code, profile.status_code, goals.status_code] == [303, 303, 303]
    assert offenders == []
    stored = load_user(app, user.clerk_id)
    assert (stored.bio, stored.location, stored.timezone, stored.website) == ("Hello.", "Accra", "Africa/Accra", None)
    assert (stored.goal, stored.interests, stored.onboarding_step) == ("learn", ["design", "leadership"], 3)


@pytest.fixture
def clerk_pg_app(emulator, make_app):
    """The app with Clerk = the emulator (its JWKS verifies the tokens)."""
    return make_app(CLERK_JWT_KEY=None, **emulator.app_config())


@pytest.mark.postgres
def test_with_clerk_the_wizard_and_the_profile_still_write_only_through_users_py(clerk_pg_app, emulator):
    """Names go to Clerk and come back through sync_user_to_db; finishing marks the row onboarded."""
    person = emulator.create_user(email="grace@example.test", first_name="Grace", last_name=None, username=None)
    client = clerk_pg_app.test_client()
    client.set_cookie("__session", emulator.sign_in(person["id"]))
    with writes_outside_users_py() as offenders:
        client.get("/onboarding")  # the first request stores the user just in time
        steps = [
            post_step(client, "about", {"first_name": "Grace", "last_name": "Hopper", "username": "grace_h"}),
            post_step(client, "profile", {"bio": "Compilers.", "location": "", "timezone": "America/New_York"}),
            post_step(client, "goals", {"goal": "mentor", "interests": ["software-engineering"]}),
            post_step(client, "review", {}),
        ]
        token = csrf_token(client)
        stored = load_user(clerk_pg_app, person["id"])
        saved = client.post(
            PROFILE, data=profile_data(stored, token, last_name="Murray Hopper", location="Arlington"), headers=HTMX
        )
    assert [response.status_code for response in steps] == [303, 303, 303, 303]
    assert saved.status_code == 200
    assert offenders == []
    stored = load_user(clerk_pg_app, person["id"])
    assert (stored.is_onboarded, stored.onboarding_step, stored.username) == (True, 4, "grace_h")
    assert (stored.last_name, stored.location, stored.bio) == ("Murray Hopper", "Arlington", "Compilers.")


@pytest.mark.postgres
def test_a_save_racing_a_deletion_never_writes_onto_the_tombstone(app):
    """A deletion (the webhook, or Delete account in another tab) commits while a profile save
    is on its way: the save finds no live user, and the tombstone keeps nothing personal."""
    with app.app_context():
        sync_user_to_db(clerk_user("user_race"))
        deleting = db.engine.connect()
        transaction = deleting.begin()
        tombstone_user(deleting, "user_race")  # written, not yet committed
        committing = threading.Timer(0.5, transaction.commit)
        committing.start()
        try:
            with pytest.raises(LookupError):
                update_user_profile("user_race", bio="written after the deletion")
        finally:
            committing.join()
            deleting.close()
        db.session.rollback()
        row = db.session.execute(select(User).where(User.clerk_id == "user_race")).scalar_one()
        assert row.deleted_at is not None and row.bio is None
