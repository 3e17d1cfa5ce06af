"""`flask users export` and `flask users delete`, on PostgreSQL built by the migrations, with the
local Clerk emulator (over HTTP) as Clerk."""

from __future__ import annotations

import json

import pytest

from mentorly.extensions import db
from mentorly.models import User
from mentorly.users import sync_user_to_db, update_user_profile
from tests.webhook_support import user_row, users_snapshot

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(make_app, emulator):
    return make_app(**emulator.app_config(jwks=True))


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def person(app, emulator):
    """A Clerk user (in the emulator) stored here, with a bio only Mentorly holds."""
    clerk_user = emulator.create_user(email="zoe@example.test", username="zoe_z", first_name="Zoë")
    with app.app_context():
        sync_user_to_db(emulator.api("GET", f"/users/{clerk_user['id']}").json())
        update_user_profile(clerk_user["id"], bio="Ich höre gern zu.")
    return clerk_user["id"]


def clerk_has(emulator, clerk_id: str) -> bool:
    return emulator.api("GET", f"/users/{clerk_id}").status_code == 200


def without_generated_at(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "generated_at"}


def test_export_writes_the_same_json_as_the_download(app, runner, emulator, person):
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(clerk_id=person)).scalar_one()
        user.is_onboarded = True
        db.session.commit()
    client = app.test_client()
    client.set_cookie("__session", emulator.sign_in(person))
    downloaded = client.get("/dashboard/settings/security/your-data")
    assert downloaded.status_code == 200

    result = runner.invoke(args=["users", "export", person])

    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)
    assert without_generated_at(exported) == without_generated_at(json.loads(downloaded.get_data()))
    assert exported["clerk"]["first_name"] == "Zoë" and exported["profile"]["bio"] == "Ich höre gern zu."


def test_export_to_a_file(app, runner, person, tmp_path):
    target = tmp_path / "request-1234.json"
    result = runner.invoke(args=["users", "export", person, "--output", str(target)])
    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["account"]["clerk_id"] == person and data["clerk"]["username"] == "zoe_z"
    assert "Ich höre gern zu." in target.read_text(encoding="utf-8")


def test_export_of_an_unknown_user_fails(runner):
    result = runner.invoke(args=["users", "export", "user_nobody"])
    assert result.exit_code == 1 and "no user user_nobody" in result.output


def test_delete_with_yes_deletes_at_clerk_then_here(app, runner, emulator, person):
    result = runner.invoke(args=["users", "delete", person, "--yes"])

    assert result.exit_code == 0, result.output
    assert f"deleted {person} at Clerk; the row here is a tombstone" in result.output
    assert not clerk_has(emulator, person)
    row = user_row(app, person)
    assert row.deleted_at is not None
    assert (row.email, row.username, row.first_name, row.bio) == (None, None, None, None)
    # Its export is what is left: a tombstone.
    exported = json.loads(runner.invoke(args=["users", "export", person]).output)
    assert exported["account"]["deleted_at"] is not None and exported["clerk"]["email"] is None


def test_delete_asks_first(app, runner, emulator, person):
    before = users_snapshot(app)
    refused = runner.invoke(args=["users", "delete", person], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert clerk_has(emulator, person) and users_snapshot(app) == before

    confirmed = runner.invoke(args=["users", "delete", person], input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"Delete {person} at Clerk and here? This cannot be undone" in confirmed.output
    assert not clerk_has(emulator, person) and user_row(app, person).deleted_at is not None


@pytest.mark.parametrize("fault", [{"mode": "error", "status": 503}, {"mode": "rate_limit", "retry_after": 30}],
                         ids=["503", "429"])
def test_delete_when_clerk_is_down_deletes_nothing(app, runner, emulator, person, fault):
    before = users_snapshot(app)
    emulator.fault(path="/v1/users", method="DELETE", **fault)

    result = runner.invoke(args=["users", "delete", person, "--yes"])

    assert result.exit_code == 1
    assert "nothing was deleted" in result.output
    assert clerk_has(emulator, person)
    assert users_snapshot(app) == before


def test_delete_of_a_user_clerk_no_longer_has_tombstones_the_row(app, runner, emulator, person):
    assert emulator.api("DELETE", f"/users/{person}").status_code == 200
    result = runner.invoke(args=["users", "delete", person, "--yes"])
    assert result.exit_code == 0, result.output
    assert f"Clerk had no user {person} (deleted already); the row here is a tombstone" in result.output
    assert user_row(app, person).deleted_at is not None


def test_delete_of_a_user_only_clerk_has_leaves_a_tombstone(app, runner, emulator):
    clerk_user = emulator.create_user()
    result = runner.invoke(args=["users", "delete", clerk_user["id"], "--yes"])
    assert result.exit_code == 0, result.output
    assert "is not stored here, but Clerk has it" in result.output
    assert not clerk_has(emulator, clerk_user["id"])
    assert user_row(app, clerk_user["id"]).deleted_at is not None  # a late user.created cannot revive it


@pytest.mark.parametrize(
    ("clerk_id", "message"),
    [("user_neverexisted", "no user user_neverexisted, here or at Clerk"),
     ("not-a-clerk-id", "'not-a-clerk-id' is not a Clerk user id")],
)
def test_delete_of_an_unknown_user_writes_nothing(app, runner, clerk_id, message):
    result = runner.invoke(args=["users", "delete", clerk_id, "--yes"])
    assert result.exit_code == 1 and message in result.output
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(User)).scalar() == 0


def test_delete_is_harmless_twice(app, runner, emulator, person):
    assert runner.invoke(args=["users", "delete", person, "--yes"]).exit_code == 0
    tombstone = users_snapshot(app)
    again = runner.invoke(args=["users", "delete", person, "--yes"])
    assert again.exit_code == 0, again.output
    assert "deleted here already" in again.output
    assert users_snapshot(app) == tombstone
