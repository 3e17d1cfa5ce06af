"""mentorly.htmx: which requests get a fragment, `Vary`, and merging client events."""

from __future__ import annotations

import json

import pytest
from flask import Flask, Response

from mentorly.htmx import add_vary_hx_request, is_fragment_request, toast, trigger_client_event


@pytest.fixture
def bare_app():
    return Flask(__name__)


@pytest.mark.parametrize(
    "headers, fragment",
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "false"}, False),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
        ({"HX-History-Restore-Request": "true"}, False),
        ({"HX-Boosted": "true"}, False),
    ],
)
def test_only_a_plain_htmx_request_gets_a_fragment(bare_app, headers, fragment):
    with bare_app.test_request_context(headers=headers):
        assert is_fragment_request() is fragment


@pytest.mark.parametrize(
    "existing, expected",
    [
        (None, {"toast": {"message": "Saved.", "level": "success"}}),
        ("refreshList", {"refreshList": None, "toast": {"message": "Saved.", "level": "success"}}),
        ("a, b", {"a": None, "b": None, "toast": {"message": "Saved.", "level": "success"}}),
        ('{"itemAdded": {"id": 7}}', {"itemAdded": {"id": 7}, "toast": {"message": "Saved.", "level": "success"}}),
    ],
    ids=["none", "bare-name", "comma-list", "json"],
)
def test_toast_merges_into_an_existing_hx_trigger(existing, expected):
    response = Response("ok")
    if existing is not None:
        response.headers["HX-Trigger"] = existing
    toast(response, "Saved.")
    assert json.loads(response.headers["HX-Trigger"]) == expected
    assert len(response.headers.getlist("HX-Trigger")) == 1


def test_events_keep_non_ascii_messages_header_safe():
    response = trigger_client_event(Response("ok"), "toast", {"message": "Gespeichert – danke ✓"})
    header = response.headers["HX-Trigger"]
    header.encode("latin-1")
    assert json.loads(header)["toast"]["message"] == "Gespeichert – danke ✓"


def test_vary_is_added_without_losing_other_values():
    response = Response("ok")
    response.vary.add("Cookie")
    add_vary_hx_request(response)
    assert set(response.vary) == {"Cookie", "HX-Request"}


def test_every_response_of_the_app_varies_on_hx_request(client):
    assert "HX-Request" in client.get("/healthz").headers["Vary"]
    assert "HX-Request" in client.get("/dashboard/settings/profile").headers["Vary"]
