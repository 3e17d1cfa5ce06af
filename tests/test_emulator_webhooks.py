"""The emulator's webhook sender: Svix signatures, order, retries, the on/off switch."""

from __future__ import annotations

import json
import time

from svix.webhooks import Webhook

from .emulator import free_port

SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


def verify(emulator, hook) -> dict:
    Webhook(emulator.webhook_secret).verify(hook.body, {name: hook.headers[name] for name in SVIX_HEADERS})
    return json.loads(hook.body)


def test_each_change_is_one_signed_event_in_clerks_envelope(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    before_ms = int(time.time() * 1000)
    user = emulator.create_user(email="signed@example.test")
    emulator.api("DELETE", f"/users/{user['id']}")
    created, deleted = emulator.sent_webhooks()
    assert (created["type"], deleted["type"]) == ("user.created", "user.deleted")
    first, second = webhook_receiver.received
    envelope = verify(emulator, first)
    assert set(envelope) == {"data", "object", "type", "timestamp", "instance_id", "event_attributes"}
    assert envelope["object"] == "event" and envelope["instance_id"].startswith("ins_")
    assert before_ms <= envelope["timestamp"] <= int(time.time() * 1000), "milliseconds"
    assert envelope["data"]["id"] == user["id"]
    assert abs(int(first.headers["svix-timestamp"]) - time.time()) < 30, "seconds"
    assert first.headers["svix-id"] == created["id"] and first.headers["svix-id"] != second.headers["svix-id"]
    assert verify(emulator, second)["data"] == {"object": "user", "id": user["id"], "deleted": True}
    assert first.body.decode() == created["body"]


def test_a_failed_delivery_is_retried_with_the_same_message_id(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url, retry_delays=[0.05, 0.05, 0.05])
    webhook_receiver.fail_next(2, status=503)
    emulator.create_user()
    (delivery,) = emulator.sent_webhooks()
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 204]
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["error"] == "HTTP 503" and delivery["attempts"][2]["error"] is None
    hooks = webhook_receiver.received
    assert len(hooks) == 3 and len({hook.headers["svix-id"] for hook in hooks}) == 1
    for hook in hooks:
        verify(emulator, hook)  # each attempt is signed for its own timestamp


def test_a_delivery_that_never_succeeds_is_marked_failed_and_later_events_still_go_in_order(
        emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url, retry_delays=[0.02, 0.02])
    webhook_receiver.fail_next(3, status=500)
    user = emulator.create_user()
    for number in range(5):
        emulator.api("PATCH", f"/users/{user['id']}", json={"first_name": f"N{number}"})
    deliveries = emulator.sent_webhooks()
    assert [d["status"] for d in deliveries] == ["failed"] + ["delivered"] * 5
    assert len(deliveries[0]["attempts"]) == 3
    names = [verify(emulator, hook)["data"]["first_name"] for hook in webhook_receiver.accepted()]
    assert names == [f"N{number}" for number in range(5)]


def test_connection_errors_are_retried_and_logged(emulator):
    emulator.set_webhooks(True, url=f"http://127.0.0.1:{free_port()}/hook", retry_delays=[0.02])
    emulator.create_user()
    (delivery,) = emulator.sent_webhooks()
    assert delivery["status"] == "failed"
    assert [a["status_code"] for a in delivery["attempts"]] == [None, None]
    assert all("ConnectionError" in a["error"] for a in delivery["attempts"])


def test_redirects_count_as_failures(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url, retry_delays=[0.02])
    webhook_receiver.fail_next(1, status=302)
    emulator.create_user()
    (delivery,) = emulator.sent_webhooks()
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 204]


def test_webhooks_can_be_switched_off_and_on(emulator, webhook_receiver):
    emulator.set_webhooks(False, url=webhook_receiver.url)
    quiet = emulator.create_user()
    emulator.create_session(quiet["id"])
    assert emulator.sent_webhooks() == [] and webhook_receiver.received == []
    assert emulator.api("GET", f"/users/{quiet['id']}").status_code == 200, "the user exists all the same"
    emulator.set_webhooks(True)
    loud = emulator.create_user()
    (delivery,) = emulator.sent_webhooks()
    assert delivery["payload"]["data"]["id"] == loud["id"]
    assert [hook.json["data"]["id"] for hook in webhook_receiver.received] == [loud["id"]]


def test_many_quick_changes_arrive_in_the_order_they_were_made(emulator, webhook_receiver):
    emulator.set_webhooks(True, url=webhook_receiver.url)
    user = emulator.create_user()
    for number in range(9):
        emulator.api("PATCH", f"/users/{user['id']}/metadata", json={"public_metadata": {"step": number}})
    emulator.wait_for_webhooks()
    bodies = [hook.json for hook in webhook_receiver.received]
    assert [b["type"] for b in bodies] == ["user.created"] + ["user.updated"] * 9
    steps = [b["data"]["public_metadata"].get("step") for b in bodies[1:]]
    assert steps == list(range(9))
    stamps = [b["data"]["updated_at"] for b in bodies]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_the_webhook_url_can_be_given_at_start(emulator_factory, webhook_receiver):
    started = emulator_factory(webhook_url=webhook_receiver.url)
    user = started.create_user()
    session = started.create_session(user["id"])
    started.wait_for_webhooks()
    assert [hook.json["type"] for hook in webhook_receiver.received] == ["user.created", "session.created"]
    assert webhook_receiver.received[1].json["data"]["id"] == session.id
    started.reset()
    assert started.sent_webhooks() == []
    started.create_user()
    assert len(started.sent_webhooks()) == 1, "reset keeps the webhook URL given at start"
