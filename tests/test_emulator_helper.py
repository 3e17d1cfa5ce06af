"""tests/emulator.py itself: the process helper that other tests rely on."""

from __future__ import annotations

import base64
import socket

import pytest

from .emulator import EmulatorError, EmulatorProcess


def test_a_port_taken_meanwhile_is_replaced_unless_it_was_asked_for(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        process = EmulatorProcess(tmp_path / "a")
        process.port = taken
        with process:
            assert process.port != taken
            assert process.control("GET", "/health")["url"] == process.url
        with pytest.raises(EmulatorError, match="Address already in use"):
            EmulatorProcess(tmp_path / "b", port=taken).start()


def test_keys_and_app_settings_point_at_the_running_emulator(emulator):
    health = emulator.control("GET", "/health")
    assert health["publishable_key"] == emulator.publishable_key
    host = base64.b64decode(emulator.publishable_key.removeprefix("pk_test_") + "==").decode()
    assert host == f"127.0.0.1:{emulator.port}$"
    config = emulator.app_config()
    assert config["CLERK_API_URL"] == f"http://127.0.0.1:{emulator.port}/v1"
    assert config["CLERK_SECRET_KEY"] == emulator.secret_key and config["CLERK_WEBHOOK_SIGNING_SECRET"].startswith("whsec_")
    assert emulator.api("GET", "/users/count", key=config["CLERK_SECRET_KEY"]).status_code == 200


def test_the_default_port_gives_the_configured_publishable_key():
    from mentorly.config import EMULATOR_PORT, EMULATOR_PUBLISHABLE_KEY
    from mentorly.emulator import publishable_key_for

    assert publishable_key_for(f"http://127.0.0.1:{EMULATOR_PORT}") == EMULATOR_PUBLISHABLE_KEY


@pytest.mark.parametrize("round_", [1, 2])
def test_the_emulator_fixture_starts_clean(emulator, round_):
    """Run twice: the second run sees nothing of what the first left behind."""
    assert emulator.api("GET", "/users/count").json()["total_count"] == 0
    assert emulator.sent_webhooks(wait=0) == [] and emulator.control("GET", "/faults")["faults"] == []
    emulator.create_user()
    emulator.fault("error", count=3)
