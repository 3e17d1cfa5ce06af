"""Settings from the environment: production's fail-fast, URL normalisation, the seed's secret name."""

from __future__ import annotations

import re

import pytest

from mentorly.config import (
    EMULATOR_WEBHOOK_SECRET,
    PRODUCTION_REQUIRED,
    ConfigError,
    load_settings,
    normalise_database_url,
)

# The settings the specification marks "production: required".
SPEC_REQUIRED = ("SECRET_KEY", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY", "CLERK_WEBHOOK_SIGNING_SECRET")
KNOWN_SETTINGS = SPEC_REQUIRED + ("DATABASE_URL", "WEBHOOK_SECRET", "CLERK_API_URL", "CLERK_JWT_KEY", "MENTORLY_ENV")


def named(message: str) -> set[str]:
    """The setting names a message mentions, as whole words (CLERK_SECRET_KEY is not SECRET_KEY)."""
    return {name for name in KNOWN_SETTINGS if re.search(rf"(?<![A-Z_]){name}(?![A-Z_])", message)}


PRODUCTION = {
    "MENTORLY_ENV": "production",
    "SECRET_KEY": "s" * 64,
    "DATABASE_URL": "postgresql://app:pw@db.internal:5432/mentorly",
    "CLERK_SECRET_KEY": "sk_live_abc",
    "CLERK_PUBLISHABLE_KEY": "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k",
    "CLERK_WEBHOOK_SIGNING_SECRET": "whsec_cHJvZHVjdGlvbi1zZWNyZXQ=",
    "CLERK_AUTHORIZED_PARTIES": "https://mentorly.example",
}


def test_complete_production_settings_load(tmp_path):
    settings = load_settings(tmp_path, environ=PRODUCTION)
    assert settings["MENTORLY_ENV"] == "production"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://app:pw@db.internal:5432/mentorly"
    assert settings["CLERK_WEBHOOK_SIGNING_SECRET"] == PRODUCTION["CLERK_WEBHOOK_SIGNING_SECRET"]
    assert settings["CLERK_API_URL"] == "https://api.clerk.com/v1"
    assert settings["CLERK_EMULATOR"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()  # production never invents a key


def test_production_names_every_missing_setting_in_one_message(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"MENTORLY_ENV": "production"})
    assert named(str(caught.value)) == set(SPEC_REQUIRED)
    assert set(PRODUCTION_REQUIRED) == set(SPEC_REQUIRED)


@pytest.mark.parametrize("missing", SPEC_REQUIRED)
def test_production_names_exactly_the_missing_one(tmp_path, missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ=environ)
    assert named(str(caught.value)) == {missing}


def test_blank_values_count_as_missing(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ=dict(PRODUCTION, SECRET_KEY="   ", CLERK_SECRET_KEY=""))
    assert named(str(caught.value)) == {"SECRET_KEY", "CLERK_SECRET_KEY"}


def test_the_app_factory_refuses_to_start_in_production(tmp_path, monkeypatch):
    from mentorly import create_app

    for name in (*PRODUCTION_REQUIRED, "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MENTORLY_ENV", "production")
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert named(str(caught.value)) == set(SPEC_REQUIRED)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u:p@h/db?sslmode=require", "postgresql+psycopg://u:p@h/db?sslmode=require"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///instance/mentorly.db", "sqlite:///instance/mentorly.db"),
    ],
)
def test_database_urls_are_normalised(tmp_path, given, expected):
    assert normalise_database_url(given) == expected
    settings = load_settings(tmp_path, environ={"MENTORLY_ENV": "development", "DATABASE_URL": given})
    assert settings["SQLALCHEMY_DATABASE_URI"] == expected


def test_production_normalises_a_heroku_style_url(tmp_path):
    settings = load_settings(tmp_path, environ=dict(PRODUCTION, DATABASE_URL="postgres://app@db/mentorly"))
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://app@db/mentorly"


def test_webhook_secret_is_accepted_as_the_signing_secret(tmp_path):
    environ = {k: v for k, v in PRODUCTION.items() if k != "CLERK_WEBHOOK_SIGNING_SECRET"}
    environ["WEBHOOK_SECRET"] = "whsec_c2VlZC1uYW1l"
    settings = load_settings(tmp_path, environ=environ)
    assert settings["CLERK_WEBHOOK_SIGNING_SECRET"] == "whsec_c2VlZC1uYW1l"
    development = load_settings(tmp_path, environ={"WEBHOOK_SECRET": "whsec_ZGV2"})
    assert development["CLERK_WEBHOOK_SIGNING_SECRET"] == "whsec_ZGV2"


def test_the_full_name_wins_over_the_alias(tmp_path):
    settings = load_settings(
        tmp_path, environ={"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_ZnVsbA==", "WEBHOOK_SECRET": "whsec_YWxpYXM="}
    )
    assert settings["CLERK_WEBHOOK_SIGNING_SECRET"] == "whsec_ZnVsbA=="


def test_development_needs_nothing(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings["MENTORLY_ENV"] == "development"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'mentorly.db'}"
    assert settings["CLERK_WEBHOOK_SIGNING_SECRET"] == EMULATOR_WEBHOOK_SECRET
    assert settings["CLERK_EMULATOR"] is True
    # The secret key is generated once and then reused.
    key = settings["SECRET_KEY"]
    assert len(key) >= 32 and (tmp_path / "secret_key").read_text().strip() == key
    assert load_settings(tmp_path, environ={})["SECRET_KEY"] == key


def test_an_unknown_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"MENTORLY_ENV": "staging"})
    assert "MENTORLY_ENV" in str(caught.value)


@pytest.mark.postgres
def test_the_app_verifies_deliveries_with_the_alias_secret(tmp_path, make_app):
    """End to end: a secret given only as WEBHOOK_SECRET is the one deliveries are checked with."""
    import json

    from .conftest import Svix

    alias = "whsec_" + "c2VlZC1zdHlsZS1zZWNyZXQtZm9yLXRoZS13ZWJob29r"
    settings = load_settings(tmp_path, environ={"MENTORLY_ENV": "testing", "WEBHOOK_SECRET": alias, "SECRET_KEY": "k"})
    app = make_app(CLERK_WEBHOOK_SIGNING_SECRET=settings["CLERK_WEBHOOK_SIGNING_SECRET"])
    client = app.test_client()
    body = json.dumps({"type": "ping", "object": "event", "data": {}})
    assert client.post("/api/webhooks/clerk", data=body, headers=Svix(alias).headers(body)).get_json() == {"status": "ignored"}
    assert client.post("/api/webhooks/clerk", data=body, headers=Svix().headers(body)).status_code == 400
