"""Registering mailboxes: credentials sealed at rest, never taken from the command line, clear errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from tiegraph.core.backoff import backoff_seconds
from tiegraph.ingest.mailbox_setup import MailboxSetupError, google_entry, imap_entry, msgraph_entry
from tiegraph.ingest.secrets import SecretBox, SecretKeyError
from tiegraph.settings import Settings


def _development(home: Path) -> Settings:
    """Development settings with no configured key (whatever the environment running the tests says)."""
    return Settings(home=home, secret_key=SecretStr(""), environment="development")


def test_secrets_round_trip_and_the_sealed_form_reveals_nothing(tmp_path: Path) -> None:
    box = SecretBox.from_settings(_development(tmp_path))
    sealed = box.seal({"password": "hunter2"})
    assert "hunter2" not in sealed
    assert box.open(sealed) == {"password": "hunter2"}


def test_development_generates_one_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    sealed = SecretBox.from_settings(_development(tmp_path)).seal({"k": 1})
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SecretBox.from_settings(_development(tmp_path)).open(sealed) == {"k": 1}


def test_another_key_cannot_open_the_credentials(tmp_path: Path) -> None:
    sealed = SecretBox.from_settings(_development(tmp_path / "a")).seal({"k": 1})
    with pytest.raises(SecretKeyError, match="add the mailbox again"):
        SecretBox.from_settings(_development(tmp_path / "b")).open(sealed)


def test_a_malformed_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(SecretKeyError, match=r"Fernet\.generate_key"):
        SecretBox.from_settings(Settings(secret_key=SecretStr("not-a-key")))


def test_production_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ValidationError, match="TIEGRAPH_SECRET_KEY"):
        Settings(environment="production", neo4j_password=SecretStr("pw"), secret_key=SecretStr(""))


def test_imap_password_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_IMAP_PW", "pw")
    config, secret = imap_entry(
        owner="me@acme.com", host="h", port=993, user="me", password_env="ACME_IMAP_PW", tls=True, folders=[]
    )
    assert secret == {"password": "pw"} and "pw" not in json.dumps(config)
    monkeypatch.delenv("ACME_IMAP_PW")
    with pytest.raises(MailboxSetupError, match="ACME_IMAP_PW is not set"):
        imap_entry(
            owner="me@acme.com", host="h", port=993, user="me", password_env="ACME_IMAP_PW", tls=True, folders=[]
        )


def test_google_needs_exactly_one_credential_file(tmp_path: Path) -> None:
    token = tmp_path / "token.json"
    token.write_text(json.dumps({"refresh_token": "r", "client_id": "c"}))
    config, secret = google_entry(owner="me@acme.com", token_file=token, service_account_key=None, api_endpoint=None)
    assert secret == {"authorized_user": {"refresh_token": "r", "client_id": "c"}}
    assert config == {"owner": "me@acme.com", "api_endpoint": None}
    with pytest.raises(MailboxSetupError, match="exactly one"):
        google_entry(owner="me@acme.com", token_file=token, service_account_key=token, api_endpoint=None)
    token.write_text("{not json")
    with pytest.raises(MailboxSetupError, match="not JSON"):
        google_entry(owner="me@acme.com", token_file=token, service_account_key=None, api_endpoint=None)


def test_msgraph_client_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_SECRET", "s")
    config, secret = msgraph_entry(
        owner="me@acme.com",
        client_id="c",
        directory_tenant="t",
        client_secret_env="GRAPH_SECRET",
        token_file=None,
        api_endpoint=None,
        authority=None,
    )
    assert secret == {"client_secret": "s"}
    assert set(config) == {"owner", "client_id", "directory_tenant", "api_endpoint", "authority"}


def test_backoff_doubles_and_is_bounded() -> None:
    assert [backoff_seconds(n) for n in range(5)] == [0.0, 2.0, 4.0, 8.0, 16.0]
    assert backoff_seconds(1000) == 300.0
