"""Svix delivers only roughly in order: Clerk's `updated_at` and tombstones decide what sticks."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import delete_user_from_db

from .webhook_support import (
    BASE_MS,
    all_events,
    all_users,
    clerk_user,
    deleted_event,
    event,
    event_row,
    session_event,
    user_row,
    users_snapshot,
)

PERSONAL = ("email", "username", "first_name", "last_name", "image_url", "bio", "website", "location", "goal", "last_sign_in_at")


def statuses(app) -> list[tuple[str, str]]:
    return [(e.svix_id, e.status) for e in all_events(app)]


def test_user_updated_before_user_created(app, client, svix):
    created = clerk_user("user_o", email="first@example.org", first_name="Before", updated_at=BASE_MS)
    updated = clerk_user("user_o", email="second@example.org", first_name="After", updated_at=BASE_MS + 1000)
    assert svix.post(client, event("user.updated", updated), msg_id="msg_upd").get_json() == {"status": "applied"}
    response = svix.post(client, event("user.created", created), msg_id="msg_cre")
    assert response.status_code == 200
    assert response.get_json()["status"] == "stale"
    [user] = all_users(app)
    assert (user.email, user.first_name, user.clerk_updated_at) == ("second@example.org", "After", BASE_MS + 1000)
    assert statuses(app) == [("msg_upd", "applied"), ("msg_cre", "stale")]
    assert event_row(app, "msg_cre").error


def test_an_older_update_after_a_newer_one_is_stale_and_changes_nothing(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_o", username="v1", updated_at=BASE_MS)))
    svix.post(client, event("user.updated", clerk_user("user_o", username="v3", updated_at=BASE_MS + 3000)))
    before = users_snapshot(app)
    response = svix.post(client, event("user.updated", clerk_user("user_o", username="v2", updated_at=BASE_MS + 2000)), msg_id="msg_old")
    assert response.status_code == 200
    assert response.get_json()["status"] == "stale"
    assert users_snapshot(app) == before  # every column, updated_at included
    assert user_row(app, "user_o").username == "v3"
    record = event_row(app, "msg_old")
    assert record.status == "stale" and record.processed_at is not None


def test_the_same_updated_at_again_under_a_new_id_is_applied_and_harmless(app, client, svix):
    data = clerk_user("user_o", username="same", updated_at=BASE_MS)
    svix.post(client, event("user.created", data), msg_id="msg_a")
    assert svix.post(client, event("user.updated", data), msg_id="msg_b").get_json() == {"status": "applied"}
    assert user_row(app, "user_o").username == "same"


@pytest.mark.parametrize("late", [("user.updated",), ("user.created",), ("user.updated", "user.created")])
def test_nothing_after_user_deleted_brings_the_user_back(app, client, svix, late):
    svix.post(client, event("user.created", clerk_user("user_gone", email="gone@example.org", username="gone", updated_at=BASE_MS)))
    with app.app_context():
        db.session.execute(
            update(User)
            .where(User.clerk_id == "user_gone")
            .values(bio="about me", website="https://me.example", goal="learn", interests=["python"])
        )
        db.session.commit()
    assert svix.post(client, deleted_event("user_gone"), msg_id="msg_del").get_json() == {"status": "applied"}
    tombstone = user_row(app, "user_gone")
    assert tombstone.deleted_at is not None
    for index, event_type in enumerate(late):
        # Later than the deletion by Clerk's clock too: the tombstone still wins.
        data = clerk_user("user_gone", email="gone@example.org", username="gone", updated_at=BASE_MS + 10_000 * (index + 1))
        response = svix.post(client, event(event_type, data), msg_id=f"msg_late_{index}")
        assert response.status_code == 200
        assert response.get_json()["status"] == "stale"
    user = user_row(app, "user_gone")
    assert user.deleted_at == tombstone.deleted_at
    assert all(getattr(user, column) is None for column in PERSONAL)
    assert (user.email_verified, user.external_accounts, user.interests) == (False, [], [])
    assert [s for _, s in statuses(app)][-len(late):] == ["stale"] * len(late)


def test_a_deletion_that_arrives_first_still_wins(app, client, svix):
    assert svix.post(client, deleted_event("user_early")).get_json() == {"status": "applied"}
    for event_type in ("user.created", "user.updated"):
        data = clerk_user("user_early", email="early@example.org", updated_at=BASE_MS + 99_000)
        assert svix.post(client, event(event_type, data)).get_json()["status"] == "stale"
    [user] = all_users(app)
    assert user.deleted_at is not None and user.email is None and user.first_name is None


def test_session_created_after_deletion_revives_nothing(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_s", updated_at=BASE_MS, last_active_at=BASE_MS)))
    svix.post(client, deleted_event("user_s"))
    embedded = clerk_user("user_s", email="s@example.org", updated_at=BASE_MS + 5000)
    delivery = session_event("session.created", "user_s", BASE_MS + 5000, user=embedded)
    response = svix.post(client, delivery)
    assert response.status_code == 200
    assert response.get_json()["status"] == "ignored"
    user = user_row(app, "user_s")
    assert user.deleted_at is not None and user.email is None and user.first_name is None


def test_deleting_twice_keeps_the_first_deletion_time(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_d")))
    svix.post(client, deleted_event("user_d"), msg_id="msg_del_1")
    first = user_row(app, "user_d").deleted_at
    assert svix.post(client, deleted_event("user_d"), msg_id="msg_del_2").get_json() == {"status": "applied"}
    assert user_row(app, "user_d").deleted_at == first


def test_a_tombstone_frees_its_email_and_username_for_a_new_user(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_old", email="reuse@example.org", username="reuse")))
    svix.post(client, deleted_event("user_old"))
    response = svix.post(client, event("user.created", clerk_user("user_new", email="REUSE@example.org", username="Reuse")))
    assert response.get_json() == {"status": "applied"}
    assert (user_row(app, "user_new").email, user_row(app, "user_new").username) == ("REUSE@example.org", "Reuse")
    assert user_row(app, "user_old").deleted_at is not None


def test_a_local_deletion_is_a_tombstone_for_the_webhook_too(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_local", email="local@example.org", updated_at=BASE_MS)))
    with app.app_context():
        delete_user_from_db("user_local")
    response = svix.post(client, event("user.updated", clerk_user("user_local", email="local@example.org", updated_at=BASE_MS + 1)))
    assert response.get_json()["status"] == "stale"
    user = user_row(app, "user_local")
    assert user.deleted_at is not None and user.email is None


def test_a_shuffled_history_ends_at_the_newest_state(app, client, svix):
    versions = [clerk_user("user_h", username=f"name{i}", updated_at=BASE_MS + i * 1000) for i in range(6)]
    order = [3, 0, 5, 1, 4, 2]
    outcomes = []
    for i in order:
        kind = "user.created" if i == 0 else "user.updated"
        outcomes.append(svix.post(client, event(kind, versions[i]), msg_id=f"msg_{i}").get_json()["status"])
    assert outcomes == ["applied", "stale", "applied", "stale", "stale", "stale"]
    user = user_row(app, "user_h")
    assert (user.username, user.clerk_updated_at) == ("name5", BASE_MS + 5000)
    assert len(all_events(app)) == 6
