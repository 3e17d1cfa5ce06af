"""The account functions the rest of Mentorly calls, on top of the one Clerk-user upsert."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from mentorly.clerk.objects import ClerkObjectError, parse_user
from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import (
    SyncResult,
    delete_user_from_db,
    get_user_by_clerk_id,
    mark_user_as_onboarded,
    sync_user_to_db,
    update_user_profile,
    upsert_clerk_user,
)

from .conftest import load_payload
from .webhook_support import BASE_MS, all_users, as_utc, clerk_user, email_entry, ms_to_datetime, user_row


# --- sync_user_to_db -----------------------------------------------------------------------------


def test_sync_creates_then_updates_the_row(app):
    with app.app_context():
        user = sync_user_to_db(clerk_user("user_sync", email="sync@example.org", username="syncer"))
        assert isinstance(user, User)
        assert (user.clerk_id, user.email, user.email_verified, user.username) == ("user_sync", "sync@example.org", True, "syncer")
        assert as_utc(user.joined_at) == ms_to_datetime(BASE_MS)

        again = sync_user_to_db(clerk_user("user_sync", email="sync@example.org", username="renamed", updated_at=BASE_MS + 1))
        assert again.id == user.id and again.username == "renamed"
    assert len(all_users(app)) == 1


def test_sync_of_a_backend_api_user_matches_the_webhook_path(app, client, svix):
    data = load_payload("user.created.clerk_docs_example.json")["data"]
    with app.app_context():
        synced = sync_user_to_db(data)
        synced_values = {c: getattr(synced, c) for c in ("email", "email_verified", "first_name", "last_name", "image_url", "clerk_updated_at")}
    delivered = dict(data, id="user_via_webhook")
    delivered["email_addresses"] = [dict(delivered["email_addresses"][0], email_address="other@example.org")]
    svix.post(client, {"type": "user.created", "data": delivered})
    row = user_row(app, "user_via_webhook")
    assert {c: getattr(row, c) for c in synced_values} == dict(synced_values, email="other@example.org")


def test_sync_keeps_a_newer_row(app):
    with app.app_context():
        sync_user_to_db(clerk_user("user_newer", username="newer", updated_at=BASE_MS + 10))
        older = sync_user_to_db(clerk_user("user_newer", username="older", updated_at=BASE_MS))
        assert older.username == "newer"


def test_sync_never_overwrites_app_owned_fields(app):
    with app.app_context():
        user = sync_user_to_db(clerk_user("user_keep"))
        user.bio, user.timezone, user.is_onboarded, user.onboarding_step = "Hello", "Asia/Tokyo", True, 4
        db.session.commit()
        user = sync_user_to_db(clerk_user("user_keep", first_name="New", updated_at=BASE_MS + 1))
        assert (user.first_name, user.bio, user.timezone, user.is_onboarded, user.onboarding_step) == ("New", "Hello", "Asia/Tokyo", True, 4)


def test_sync_hands_over_email_and_username_held_by_a_stale_row(app):
    with app.app_context():
        sync_user_to_db(clerk_user("user_stale", email="Mine@Example.org", username="Mine"))
        user = sync_user_to_db(clerk_user("user_fresh", email="mine@example.org", username="mine"))
        assert (user.email, user.username) == ("mine@example.org", "mine")
        stale = db.session.scalars(select(User).where(User.clerk_id == "user_stale")).one()
        assert (stale.email, stale.username, stale.first_name) == (None, None, "Ada")


def test_sync_returns_none_for_a_deleted_user(app):
    with app.app_context():
        sync_user_to_db(clerk_user("user_dead"))
        delete_user_from_db("user_dead")
        assert sync_user_to_db(clerk_user("user_dead", updated_at=BASE_MS + 1)) is None
    assert user_row(app, "user_dead").first_name is None


@pytest.mark.parametrize(
    "data",
    [
        {"id": "user_x"},
        {"id": "", "updated_at": BASE_MS},
        {"id": "user x", "updated_at": BASE_MS},
        {"id": "user_x", "updated_at": -1},
        {"id": "user_x", "updated_at": True},
        {"id": "user_x", "updated_at": BASE_MS, "deleted": True},
        {"id": "user_x", "updated_at": BASE_MS, "email_addresses": "x@example.org"},
        {"id": "user_x", "updated_at": BASE_MS, "external_accounts": [1]},
        {"id": "user_x", "updated_at": BASE_MS, "image_url": "https://x/" + "a" * 2048},
        ["not", "an", "object"],
    ],
)
def test_sync_refuses_what_is_not_a_clerk_user(app, data):
    with app.app_context():
        with pytest.raises(ClerkObjectError):
            sync_user_to_db(data)
    assert all_users(app) == []


def test_upsert_reports_stale_and_applied(app):
    with app.app_context():
        with db.engine.begin() as conn:
            assert upsert_clerk_user(conn, parse_user(clerk_user("user_u", updated_at=BASE_MS + 5))) is SyncResult.APPLIED
            assert upsert_clerk_user(conn, parse_user(clerk_user("user_u", updated_at=BASE_MS))) is SyncResult.STALE
            assert upsert_clerk_user(conn, parse_user(clerk_user("user_u", updated_at=BASE_MS + 5))) is SyncResult.APPLIED


def test_primary_email_by_id_and_unverified(app):
    data = clerk_user("user_emails")
    data["email_addresses"] = [email_entry("idn_1", "one@example.org"), email_entry("idn_2", "two@example.org", "unverified")]
    data["primary_email_address_id"] = "idn_2"
    with app.app_context():
        user = sync_user_to_db(data)
        assert (user.email, user.email_verified) == ("two@example.org", False)


# --- get_user_by_clerk_id ------------------------------------------------------------------------


def test_get_user_by_clerk_id(app):
    with app.app_context():
        assert get_user_by_clerk_id("user_nobody") is None
        sync_user_to_db(clerk_user("user_here"))
        assert get_user_by_clerk_id("user_here").clerk_id == "user_here"
        delete_user_from_db("user_here")
        assert get_user_by_clerk_id("user_here") is None


# --- update_user_profile (app-owned fields, validated by the settings form rules) --------------


def test_update_user_profile_saves_app_owned_fields(app):
    with app.app_context():
        sync_user_to_db(clerk_user("user_prof"))
        user = update_user_profile(
            "user_prof", bio="Teaching SQL.", website="example.org", location="Porto", timezone="Europe/Lisbon"
        )
        assert (user.bio, user.website, user.location, user.timezone) == (
            "Teaching SQL.",
            "https://example.org",
            "Porto",
            "Europe/Lisbon",
        )
    stored = user_row(app, "user_prof")
    assert (stored.website, stored.timezone) == ("https://example.org", "Europe/Lisbon")


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"bio": "x" * 161}, "bio"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "ftp://example.org"}, "website"),
        ({"location": "y" * 101}, "location"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"username": "clerk_owns_this"}, "username"),
        ({"first_name": "Clerk"}, "first_name"),
        ({"points": "1000"}, "points"),
        ({"bio": "ok", "timezone": "Nowhere/Special"}, "timezone"),
    ],
)
def test_update_user_profile_rejects_invalid_or_foreign_fields(app, fields, bad):
    from mentorly.profile import ProfileError

    with app.app_context():
        sync_user_to_db(clerk_user("user_prof", username="prof"))
        with pytest.raises(ProfileError) as caught:
            update_user_profile("user_prof", **fields)
        assert bad in caught.value.errors
        db.session.rollback()
    user = user_row(app, "user_prof")
    assert (user.bio, user.website, user.location, user.timezone, user.username, user.points) == (
        None,
        None,
        None,
        "UTC",
        "prof",
        0,
    )


def test_update_user_profile_of_an_unknown_user(app):
    with app.app_context():
        with pytest.raises(LookupError):
            update_user_profile("user_missing", bio="hi")


# --- mark_user_as_onboarded ----------------------------------------------------------------------


def test_mark_user_as_onboarded(app):
    with app.app_context():
        sync_user_to_db(clerk_user("user_onb"))
        assert get_user_by_clerk_id("user_onb").is_onboarded is False
        assert mark_user_as_onboarded("user_onb").is_onboarded is True
        assert mark_user_as_onboarded("user_onb").is_onboarded is True  # idempotent
    assert user_row(app, "user_onb").is_onboarded is True
    with app.app_context():
        with pytest.raises(LookupError):
            mark_user_as_onboarded("user_missing")
        delete_user_from_db("user_onb")
        with pytest.raises(LookupError):
            mark_user_as_onboarded("user_onb")


# --- delete_user_from_db -------------------------------------------------------------------------


def test_delete_user_from_db_leaves_a_tombstone(app):
    with app.app_context():
        sync_user_to_db(
            clerk_user(
                "user_del",
                email="del@example.org",
                username="deleter",
                external_accounts=[{"id": "eac_1", "provider": "oauth_google", "email_address": "del@gmail.example"}],
            )
        )
        db.session.execute(
            update(User).where(User.clerk_id == "user_del").values(bio="b", website="https://w.example", location="l")
        )
        db.session.commit()
        delete_user_from_db("user_del")
        delete_user_from_db("user_del")  # twice is fine
        delete_user_from_db("user_never_seen")  # a tombstone for an id we never had
    user = user_row(app, "user_del")
    assert user.deleted_at is not None
    for column in ("email", "username", "first_name", "last_name", "image_url", "bio", "website", "location", "last_sign_in_at"):
        assert getattr(user, column) is None, column
    assert (user.email_verified, user.external_accounts) == (False, [])
    never = user_row(app, "user_never_seen")
    assert never is not None and never.deleted_at is not None
    with app.app_context():
        # Its email and username are free again.
        fresh = sync_user_to_db(clerk_user("user_next", email="del@example.org", username="deleter"))
        assert (fresh.email, fresh.username) == ("del@example.org", "deleter")
