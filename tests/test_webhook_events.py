"""Each Clerk event, signed by svix and posted over HTTP, and the rows it leaves behind."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import update

from mentorly.extensions import db
from mentorly.models import EndedSession, User

from .conftest import CLERK_DIR, load_payload
from .webhook_support import (
    BASE_MS,
    all_events,
    all_users,
    as_utc,
    clerk_user,
    email_entry,
    event,
    event_row,
    ms_to_datetime,
    session_event,
    user_row,
)

PAYLOADS = sorted(path.name for path in (CLERK_DIR / "payloads").glob("*.json"))
USER_PAYLOADS = [name for name in PAYLOADS if name.startswith(("user.created", "user.updated"))]
SESSION_PAYLOADS = [name for name in PAYLOADS if name.startswith("session.")]


def expected_columns(data: dict) -> dict:
    """What a users row must hold for a Clerk User object, read straight from the payload."""
    primary = [a for a in data.get("email_addresses") or [] if a["id"] == data.get("primary_email_address_id")]
    email = primary[0]["email_address"] if primary else None
    return {
        "clerk_id": data["id"],
        "email": email,
        "email_verified": bool(primary) and primary[0]["verification"]["status"] == "verified",
        "username": data.get("username") or None,
        "first_name": data.get("first_name") or None,
        "last_name": data.get("last_name") or None,
        "image_url": data.get("image_url") or None,
        "has_image": data.get("has_image") is True,
        "clerk_updated_at": data["updated_at"],
        "joined_at": ms_to_datetime(data.get("created_at")),
        "last_sign_in_at": ms_to_datetime(data.get("last_sign_in_at")),
        "last_active_at": ms_to_datetime(data.get("last_active_at")),
        "password_enabled": bool(data.get("password_enabled")),
        "two_factor_enabled": bool(data.get("two_factor_enabled")),
        "external_accounts": [
            {
                "id": account.get("id"),
                "provider": account.get("provider"),
                "email_address": account.get("email_address") or None,
                "username": account.get("username") or None,
                "verified": (account.get("verification") or {}).get("status") == "verified",
            }
            for account in data.get("external_accounts") or []
        ],
        "deleted_at": None,
    }


def assert_row_matches(user: User, data: dict) -> None:
    assert user is not None, f"no row for {data['id']}"
    for column, want in expected_columns(data).items():
        got = getattr(user, column)
        if column.endswith("_at") and column != "clerk_updated_at":
            got = as_utc(got)
        assert got == want, f"{column}: {got!r} != {want!r}"


def assert_app_defaults(user: User) -> None:
    assert (user.bio, user.website, user.location) == (None, None, None)
    assert (user.timezone, user.is_onboarded, user.points, user.level) == ("UTC", False, 0, 1)


# --- Clerk's published payloads ----------------------------------------------------------------


@pytest.mark.parametrize("name", USER_PAYLOADS)
def test_user_payload_becomes_a_matching_row(app, client, svix, name):
    payload = load_payload(name)
    response = svix.post(client, payload, msg_id=f"msg_{name}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "applied"}
    [user] = all_users(app)
    assert_row_matches(user, payload["data"])
    assert_app_defaults(user)
    [record] = all_events(app)
    assert (record.svix_id, record.type, record.clerk_id, record.status, record.error) == (
        f"msg_{name}",
        payload["type"],
        payload["data"]["id"],
        "applied",
        None,
    )
    assert json.loads(record.payload) == payload
    assert record.received_at is not None and record.processed_at is not None


def test_docs_example_picks_the_verified_primary_email(app, client, svix):
    payload = load_payload("user.created.clerk_docs_example.json")
    svix.post(client, payload)
    user = user_row(app, "user_29w83sxmDNGwOuEthce5gg56FcC")
    assert (user.email, user.email_verified) == ("example@example.org", True)
    assert user.clerk_updated_at == 1654012591835
    assert as_utc(user.joined_at) == ms_to_datetime(1654012591514)
    # profile_image_url is deprecated and differs here: image_url is the one kept.
    assert user.image_url == "https://img.clerk.com/xxxxxx"


def test_user_deleted_payload_leaves_a_tombstone(app, client, svix):
    svix.post(client, load_payload("user.created.openapi_example.json"))
    payload = load_payload("user.deleted.openapi_example.json")
    response = svix.post(client, payload, msg_id="msg_deleted")
    assert response.get_json() == {"status": "applied"}
    user = user_row(app, payload["data"]["id"])
    assert user.deleted_at is not None
    assert (user.email, user.username, user.first_name, user.last_name, user.image_url) == (None,) * 5
    assert (user.last_sign_in_at, user.email_verified, user.has_image, user.external_accounts) == (None, False, False, [])
    assert event_row(app, "msg_deleted").clerk_id == payload["data"]["id"]


def test_user_deleted_for_a_user_never_seen_records_a_tombstone(app, client, svix):
    payload = load_payload("user.deleted.openapi_example.json")
    assert svix.post(client, payload).get_json() == {"status": "applied"}
    [user] = all_users(app)
    assert (user.clerk_id, user.email, user.first_name) == (payload["data"]["id"], None, None)
    assert user.deleted_at is not None


def test_every_payload_in_sequence(app, client, svix):
    """All of Clerk's examples for one user, in the order Clerk would send them."""
    order = [
        "user.created.openapi_example.json",
        "session.created.openapi_example.json",
        "user.updated.openapi_example.json",
        "session.pending.openapi_example.json",
        "session.ended.openapi_example.json",
        "session.removed.openapi_example.json",
        "session.revoked.openapi_example.json",
        "user.deleted.openapi_example.json",
    ]
    assert sorted(order) == sorted(p for p in PAYLOADS if "clerk_docs" not in p)
    outcomes = [svix.post(client, load_payload(name), msg_id=f"msg_{i}").get_json()["status"] for i, name in enumerate(order)]
    assert outcomes == ["applied", "applied", "applied", "ignored", "applied", "applied", "applied", "applied"]
    [user] = all_users(app)
    assert user.deleted_at is not None and user.last_name is None
    assert [(e.svix_id, e.status) for e in all_events(app)] == [(f"msg_{i}", s) for i, s in enumerate(outcomes)]


def test_user_updated_payload_over_user_created(app, client, svix):
    svix.post(client, load_payload("user.created.openapi_example.json"))
    updated = load_payload("user.updated.openapi_example.json")
    assert svix.post(client, updated).get_json() == {"status": "applied"}
    [user] = all_users(app)
    assert_row_matches(user, updated["data"])
    assert (user.username, user.last_name, user.two_factor_enabled) == ("johndoe", "Doe Updated", True)


# --- Sessions ----------------------------------------------------------------------------------


def test_session_created_payload_records_the_user_and_last_active(app, client, svix):
    payload = load_payload("session.created.openapi_example.json")
    assert svix.post(client, payload).get_json() == {"status": "applied"}
    [user] = all_users(app)
    assert_row_matches(user, payload["data"]["user"])
    assert as_utc(user.last_active_at) == ms_to_datetime(payload["data"]["last_active_at"])
    assert all_events(app)[0].clerk_id == payload["data"]["user_id"]


@pytest.mark.parametrize("name", [n for n in SESSION_PAYLOADS if not n.startswith("session.created")])
def test_other_session_payloads_change_no_user_and_ended_ones_end_the_session(app, client, svix, name):
    svix.post(client, event("user.created", clerk_user("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S", updated_at=BASE_MS - 10)))
    before = user_row(app, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
    payload = load_payload(name)
    response = svix.post(client, payload, msg_id=f"msg_{name}")
    assert response.status_code == 200
    ends = payload["type"] in ("session.ended", "session.revoked", "session.removed")
    expected = "applied" if ends else "ignored"
    assert response.get_json() == {"status": expected}
    record = event_row(app, f"msg_{name}")
    assert (record.status, record.type, record.clerk_id) == (expected, payload["type"], payload["data"]["user_id"])
    with app.app_context():
        ended = db.session.get(EndedSession, payload["data"]["id"])
        assert (ended is not None) == ends
        if ends:
            assert (ended.clerk_id, ended.status) == (payload["data"]["user_id"], payload["type"].split(".")[1])
    after = user_row(app, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
    # The embedded (newer) user is not applied from these events.
    assert (after.first_name, after.clerk_updated_at, after.updated_at) == (
        before.first_name,
        before.clerk_updated_at,
        before.updated_at,
    )


def test_session_created_raises_last_active_and_never_lowers_it(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_s", updated_at=BASE_MS)))
    later = BASE_MS + 60_000
    assert svix.post(client, session_event("session.created", "user_s", later)).get_json() == {"status": "applied"}
    assert as_utc(user_row(app, "user_s").last_active_at) == ms_to_datetime(later)
    svix.post(client, session_event("session.created", "user_s", BASE_MS + 1_000))
    assert as_utc(user_row(app, "user_s").last_active_at) == ms_to_datetime(later)
    # A later user.updated carrying an older last_active_at does not lower it either.
    svix.post(client, event("user.updated", clerk_user("user_s", updated_at=BASE_MS + 2_000, first_name="Grace")))
    user = user_row(app, "user_s")
    assert (user.first_name, as_utc(user.last_active_at)) == ("Grace", ms_to_datetime(later))


@pytest.mark.parametrize("timestamp", [1_716_883_300, 1_716_883_300_000], ids=["seconds", "milliseconds"])
def test_session_created_without_last_active_uses_the_envelope_timestamp(app, client, svix, timestamp):
    svix.post(client, event("user.created", clerk_user("user_t", updated_at=BASE_MS, last_active_at=None)))
    delivery = session_event("session.created", "user_t", None)
    delivery["timestamp"] = timestamp
    assert svix.post(client, delivery).get_json() == {"status": "applied"}
    assert as_utc(user_row(app, "user_t").last_active_at) == ms_to_datetime(1_716_883_300_000)


def test_session_created_for_an_unknown_user_without_embedded_user_is_ignored(app, client, svix):
    response = svix.post(client, session_event("session.created", "user_unknown", BASE_MS), msg_id="msg_s")
    assert response.get_json()["status"] == "ignored"
    assert all_users(app) == []
    assert event_row(app, "msg_s").status == "ignored"


def test_session_created_embedding_another_user_changes_no_one(app, client, svix):
    delivery = session_event("session.created", "user_owner", BASE_MS, user=clerk_user("user_intruder"))
    response = svix.post(client, delivery, msg_id="msg_mismatch")
    assert response.status_code == 200
    assert response.get_json()["status"] in {"ignored", "failed"}
    assert all_users(app) == []
    assert event_row(app, "msg_mismatch") is not None


# --- Emails, usernames and the hand-over -------------------------------------------------------


def test_primary_email_is_chosen_by_id_not_position(app, client, svix):
    data = clerk_user("user_two_emails")
    data["email_addresses"] = [
        email_entry("idn_a", "first@example.org", "verified"),
        email_entry("idn_b", "primary@example.org", "unverified"),
    ]
    data["primary_email_address_id"] = "idn_b"
    svix.post(client, event("user.created", data))
    user = user_row(app, "user_two_emails")
    assert (user.email, user.email_verified) == ("primary@example.org", False)


def test_primary_email_switched_to_another_address(app, client, svix):
    data = clerk_user("user_switch", updated_at=BASE_MS)
    data["email_addresses"] = [
        email_entry("idn_old", "old@example.org", "verified"),
        email_entry("idn_new", "new@example.org", "unverified"),
    ]
    data["primary_email_address_id"] = "idn_old"
    svix.post(client, event("user.created", data))
    assert user_row(app, "user_switch").email == "old@example.org"

    data["email_addresses"][1]["verification"]["status"] = "verified"
    data["primary_email_address_id"] = "idn_new"
    data["updated_at"] = BASE_MS + 1
    assert svix.post(client, event("user.updated", data)).get_json() == {"status": "applied"}
    user = user_row(app, "user_switch")
    assert (user.email, user.email_verified) == ("new@example.org", True)

    # The old address is then removed; a different user may take it at once.
    data["email_addresses"] = data["email_addresses"][1:]
    data["updated_at"] = BASE_MS + 2
    svix.post(client, event("user.updated", data))
    svix.post(client, event("user.created", clerk_user("user_other", email="old@example.org")))
    assert user_row(app, "user_other").email == "old@example.org"
    assert user_row(app, "user_switch").email == "new@example.org"


def test_phone_only_and_username_only_users(app, client, svix):
    for clerk_id in ("user_phone_1", "user_phone_2"):
        data = clerk_user(clerk_id)
        data["phone_numbers"] = [{"id": f"idn_{clerk_id}", "phone_number": "+15555550100"}]
        data["primary_phone_number_id"] = f"idn_{clerk_id}"
        assert data["email_addresses"] == [] and data["primary_email_address_id"] is None
        response = svix.post(client, event("user.created", data))
        assert response.get_json() == {"status": "applied"}
    svix.post(client, event("user.created", clerk_user("user_name_only", username="only_a_name")))
    users = {u.clerk_id: u for u in all_users(app)}
    assert [(users[c].email, users[c].email_verified) for c in ("user_phone_1", "user_phone_2")] == [(None, False)] * 2
    assert (users["user_name_only"].email, users["user_name_only"].username) == (None, "only_a_name")


def test_primary_id_pointing_at_no_listed_address_means_no_email(app, client, svix):
    data = clerk_user("user_dangling", email="listed@example.org")
    data["primary_email_address_id"] = "idn_not_listed"
    svix.post(client, event("user.created", data))
    user = user_row(app, "user_dangling")
    assert (user.email, user.email_verified) == (None, False)


@pytest.mark.parametrize(
    "held, incoming",
    [
        (("taken@example.org", "ada"), ("taken@example.org", "ada")),
        (("Taken@Example.ORG", "Ada_L"), ("taken@example.org", "ada_l")),
        (("taken@example.org", "ada_l"), ("TAKEN@example.org", "ADA_L")),
        (("ÉLODIE@exemple.fr", "Élodie"), ("ÉLODIE@exemple.fr", "Élodie")),
        (("Élodie@Exemple.fr", "ÉLodie"), ("Élodie@exemple.fr", "Élodie")),
    ],
    ids=["same-case", "stale-row-upper", "incoming-upper", "non-ascii-same", "non-ascii-ascii-case"],
)
def test_incoming_user_takes_email_and_username_from_a_stale_row(app, client, svix, held, incoming):
    svix.post(client, event("user.created", clerk_user("user_stale", email=held[0], username=held[1])))
    with app.app_context():
        db.session.execute(update(User).where(User.clerk_id == "user_stale").values(bio="kept", points=7))
        db.session.commit()

    response = svix.post(client, event("user.created", clerk_user("user_new", email=incoming[0], username=incoming[1])), msg_id="msg_new")
    assert response.status_code == 200
    assert response.get_json() == {"status": "applied"}
    new, stale = user_row(app, "user_new"), user_row(app, "user_stale")
    assert (new.email, new.username) == incoming
    assert (stale.email, stale.username) == (None, None)
    assert (stale.first_name, stale.bio, stale.points, stale.deleted_at) == ("Ada", "kept", 7, None)
    assert event_row(app, "msg_new").status == "applied"


def test_hand_over_of_only_the_username(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_a", email="a@example.org", username="shared")))
    svix.post(client, event("user.created", clerk_user("user_b", email="b@example.org", username="SHARED")))
    a, b = user_row(app, "user_a"), user_row(app, "user_b")
    assert (a.email, a.username) == ("a@example.org", None)
    assert (b.email, b.username) == ("b@example.org", "SHARED")


def test_two_users_swapping_emails(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_a", email="one@example.org", updated_at=BASE_MS)))
    svix.post(client, event("user.created", clerk_user("user_b", email="two@example.org", updated_at=BASE_MS)))
    svix.post(client, event("user.updated", clerk_user("user_a", email="two@example.org", updated_at=BASE_MS + 1)))
    svix.post(client, event("user.updated", clerk_user("user_b", email="one@example.org", updated_at=BASE_MS + 1)))
    assert (user_row(app, "user_a").email, user_row(app, "user_b").email) == ("two@example.org", "one@example.org")
    assert {e.status for e in all_events(app)} == {"applied"}


def test_a_stale_event_does_not_take_anything_from_the_current_holder(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_a", email="x@example.org", updated_at=BASE_MS + 5)))
    svix.post(client, event("user.created", clerk_user("user_b", email="y@example.org", updated_at=BASE_MS + 5)))
    # user_b's old state claimed x@; it arrives late.
    response = svix.post(client, event("user.updated", clerk_user("user_b", email="x@example.org", updated_at=BASE_MS)))
    assert response.get_json()["status"] == "stale"
    assert (user_row(app, "user_a").email, user_row(app, "user_b").email) == ("x@example.org", "y@example.org")


def test_an_old_event_retried_late_takes_nothing_from_a_newer_holder(app, client, svix):
    """user_a had x@ (t0), renamed (t2, still x@), moved to y@ (t3); then user_b signed up with
    x@ (t4). The t2 event was refused for a while and its retry arrives after user_b's: it is
    newer than user_a's row, but older than user_b's, so user_b keeps x@."""
    svix.post(client, event("user.created", clerk_user("user_a", email="x@example.org", updated_at=BASE_MS)))
    svix.post(client, event("user.created", clerk_user("user_b", email="x@example.org", updated_at=BASE_MS + 4)))
    assert (user_row(app, "user_a").email, user_row(app, "user_b").email) == (None, "x@example.org")

    retried = clerk_user("user_a", email="x@example.org", first_name="Renamed", updated_at=BASE_MS + 2)
    response = svix.post(client, event("user.updated", retried), msg_id="msg_retried")
    assert response.get_json() == {"status": "applied"}
    a, b = user_row(app, "user_a"), user_row(app, "user_b")
    assert (a.first_name, a.email, a.clerk_updated_at) == ("Renamed", None, BASE_MS + 2)
    assert b.email == "x@example.org"

    svix.post(client, event("user.updated", clerk_user("user_a", email="y@example.org", updated_at=BASE_MS + 3)))
    assert (user_row(app, "user_a").email, user_row(app, "user_b").email) == ("y@example.org", "x@example.org")


# --- Field ownership ---------------------------------------------------------------------------


def test_app_owned_fields_survive_user_updated(app, client, svix):
    svix.post(client, event("user.created", clerk_user("user_owner", email="me@example.org", updated_at=BASE_MS)))
    app_fields = dict(
        bio="Mentor in distributed systems.",
        website="https://example.org",
        location="Lisbon",
        timezone="Europe/Lisbon",
        is_onboarded=True,
        onboarding_step=4,
        goal="both",
        interests=["python", "databases"],
        theme="dark",
        reduced_motion=True,
        points=120,
        level=3,
    )
    with app.app_context():
        db.session.execute(update(User).where(User.clerk_id == "user_owner").values(**app_fields))
        db.session.commit()

    updated = clerk_user(
        "user_owner", email="me@example.org", updated_at=BASE_MS + 1000, first_name="Changed", username="changed"
    )
    assert svix.post(client, event("user.updated", updated)).get_json() == {"status": "applied"}
    user = user_row(app, "user_owner")
    assert {name: getattr(user, name) for name in app_fields} == app_fields
    assert (user.first_name, user.username) == ("Changed", "changed")


def test_clerk_fields_are_all_replaced_by_user_updated(app, client, svix):
    created = clerk_user("user_full", email="full@example.org", username="full", updated_at=BASE_MS)
    svix.post(client, event("user.created", created))
    updated = clerk_user(
        "user_full",
        updated_at=BASE_MS + 5000,
        username=None,
        first_name=None,
        last_name="Only",
        image_url="https://img.clerk.com/new",
        password_enabled=False,
        two_factor_enabled=True,
        last_sign_in_at=BASE_MS + 4000,
        external_accounts=[
            {
                "object": "external_account",
                "id": "eac_1",
                "provider": "oauth_github",
                "email_address": "full@users.noreply.github.com",
                "username": "fullgh",
                "verification": {"status": "verified", "strategy": "oauth_github"},
            },
            {"object": "external_account", "id": "eac_2", "provider": "oauth_google", "email_address": "", "username": None},
        ],
    )
    assert svix.post(client, event("user.updated", updated)).get_json() == {"status": "applied"}
    user = user_row(app, "user_full")
    assert_row_matches(user, updated)
    assert user.external_accounts[0] == {
        "id": "eac_1",
        "provider": "oauth_github",
        "email_address": "full@users.noreply.github.com",
        "username": "fullgh",
        "verified": True,
    }


# --- What can never apply, and what we ignore --------------------------------------------------


@pytest.mark.parametrize(
    "delivery, reason",
    [
        (event("user.created", {"id": "user_no_updated_at"}), "updated_at"),
        (event("user.created", clerk_user("user_bad_names", first_name=["not", "text"])), "first_name"),
        (event("user.updated", clerk_user("user_bad_flag", two_factor_enabled="yes")), "two_factor_enabled"),
        (event("user.created", clerk_user("user_long", username="u" * 65)), "username"),
        (event("user.created", clerk_user("user_nul", first_name="a\x00b")), "first_name"),
        ({"type": "user.created", "data": "not an object"}, "data"),
        ({"type": "user.deleted", "data": {"deleted": True}}, "id"),
        ({"data": clerk_user("user_untyped")}, "type"),
    ],
    ids=["no-updated-at", "name-not-text", "flag-not-bool", "username-too-long", "nul", "data-not-object", "deleted-no-id", "no-type"],
)
def test_a_poison_event_is_recorded_failed_with_its_reason(app, client, svix, delivery, reason):
    response = svix.post(client, delivery, msg_id="msg_poison")
    assert response.status_code == 200
    assert response.get_json()["status"] == "failed"
    assert reason in response.get_json()["reason"]
    record = event_row(app, "msg_poison")
    assert record.status == "failed" and reason in record.error
    assert record.payload == json.dumps(delivery)
    assert all_users(app) == []
    # A retry of the same message is a duplicate, not a second failure.
    assert svix.post(client, delivery, msg_id="msg_poison").get_json()["status"] == "duplicate"
    assert len(all_events(app)) == 1


@pytest.mark.parametrize("event_type", ["email.created", "organization.created", "user.unknown_future_event", "ping"])
def test_other_event_types_are_recorded_ignored(app, client, svix, event_type):
    response = svix.post(client, {"type": event_type, "object": "event", "data": {"id": "x"}}, msg_id="msg_other")
    assert response.get_json() == {"status": "ignored"}
    assert event_row(app, "msg_other").status == "ignored"
    assert all_users(app) == []


# --- The log line ------------------------------------------------------------------------------


@pytest.fixture
def webhook_log(caplog):
    """The app's loggers do not propagate to the root; listen on them directly."""
    logger = logging.getLogger("mentorly")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="mentorly")
    yield caplog
    logger.removeHandler(caplog.handler)


def test_one_info_line_per_delivery_without_email(app, client, svix, webhook_log):
    svix.post(client, event("user.created", clerk_user("user_holder", email="secret.person@example.org", username="held")))
    webhook_log.clear()
    deliveries = [
        ("msg_log_1", event("user.created", clerk_user("user_logged", email="secret.person@example.org", username="held"))),
        ("msg_log_1", event("user.created", clerk_user("user_logged", email="secret.person@example.org", username="held"))),
        ("msg_log_2", {"type": "user.created", "data": {"id": "user_logged", "email": "secret.person@example.org"}}),
        ("msg_log_3", session_event("session.pending", "user_logged", BASE_MS)),
    ]
    expected = ["applied", "duplicate", "failed", "ignored"]
    for (msg_id, delivery), outcome in zip(deliveries, expected):
        webhook_log.clear()
        response = svix.post(client, delivery, msg_id=msg_id)
        assert response.get_json()["status"] == outcome
        info = [r for r in webhook_log.records if r.levelno == logging.INFO and r.name.startswith("mentorly")]
        assert len(info) == 1, [r.getMessage() for r in info]
        line = info[0].getMessage()
        assert f"type='{delivery['type']}'" in line
        assert f"svix_id={msg_id}" in line
        assert "clerk_id=user_logged" in line
        assert f"outcome={outcome}" in line
        assert re.search(r"ms=\d+\.\d", line)
        for record in webhook_log.records:
            if record.levelno <= logging.INFO:
                assert "@" not in record.getMessage(), record.getMessage()
            assert "secret.person" not in record.getMessage()


def test_a_refused_delivery_logs_one_info_line_too(app, client, svix, webhook_log):
    body = json.dumps(event("user.created", clerk_user("user_x", email="someone@example.org")))
    headers = svix.headers(body, "msg_refused")
    headers["svix-signature"] = "v1,bad"
    assert client.post("/api/webhooks/clerk", data=body, headers=headers).status_code == 400
    info = [r for r in webhook_log.records if r.levelno == logging.INFO]
    assert len(info) == 1
    assert "svix_id=msg_refused" in info[0].getMessage() and "ms=" in info[0].getMessage()
    assert "@" not in info[0].getMessage()


@pytest.mark.postgres
def test_a_user_event_is_one_statement_on_postgresql_and_a_listener_sees_it(app, svix):
    """On PostgreSQL a user event's claim, upsert and status are one statement, run through
    SQLAlchemy like every other: instrumentation listening to cursor events sees it, and
    listening changes nothing about what runs. Other events take the transaction path."""
    client = app.test_client()
    with app.app_context():
        engine = db.engine
    statements = []  # (the engine is this test's own: its listeners go with it)

    def watch(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", watch)
    assert svix.post(client, event("user.created", clerk_user("user_d", updated_at=BASE_MS + 2000))).status_code == 200
    stale = svix.post(client, event("user.updated", clerk_user("user_d", updated_at=BASE_MS)), msg_id="msg_d_old")
    assert stale.get_json()["status"] == "stale"
    assert len(statements) == 2
    for statement in statements:
        assert statement.startswith("WITH upsert AS (INSERT INTO users")
        assert "INSERT INTO webhook_events" in statement
    assert event_row(app, "msg_d_old").status == "stale"

    statements.clear()
    svix.post(client, event("user.deleted", {"object": "user", "id": "user_d", "deleted": True}, BASE_MS))
    assert [statement.split("(")[0].strip() for statement in statements] == [
        "INSERT INTO webhook_events",
        "INSERT INTO users",
    ]
    assert user_row(app, "user_d").deleted_at is not None
