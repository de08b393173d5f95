"""Gmail connector against a local fake Gmail (tests/fakes/google_fake.py) through the real
google-api-python-client and google-auth: paging, batched metadata reads, history, expiry,
throttling and tokens. Unit-style: no Kafka, no Neo4j."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from email.header import Header
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.google_fake import GoogleFake
from tests.fakes.samples import decoded, own_messages, real_messages
from tests.stack import shared_data
from tiegraph.core.records import MailMessage
from tiegraph.ingest import gmail
from tiegraph.ingest.base import Connector, ConnectorAuthError, ConnectorThrottled, Cursor, SyncBatch
from tiegraph.ingest.headers import parse_message

OWNER = "owner@example.org"


@pytest.fixture
def fake() -> Iterator[GoogleFake]:
    with GoogleFake().running() as server:
        assert isinstance(server, GoogleFake)
        yield server


def connect(fake: GoogleFake, secret: dict[str, Any] | None = None) -> Connector:
    config = {"owner": OWNER, "tenant": "acme", "api_endpoint": fake.url}
    return gmail.from_config(config, secret or {"authorized_user": fake.authorized_user()})


async def drain(connector: Connector, cursor: Cursor) -> list[SyncBatch]:
    return [batch async for batch in connector.sync(cursor)]


def keys(batches: list[SyncBatch]) -> list[str]:
    return [m.dedupe_key for b in batches for m in b.messages]


def fill(fake: GoogleFake, count: int) -> None:
    for headers in own_messages(count):
        fake.add_message(headers)


async def test_full_pass_pages_through_every_message_then_hands_over_to_history(fake: GoogleFake) -> None:
    fill(fake, 230)  # three pages of 100
    batches = await drain(connect(fake), {})
    assert [len(b.messages) for b in batches] == [100, 100, 30]
    assert [b.backfilling for b in batches] == [True, True, False]
    assert batches[0].cursor == {"backfill_history_id": "1230", "page_token": "100"}
    assert batches[-1].cursor == {"history_id": "1230"}
    assert len(set(keys(batches))) == 230
    assert all(m.mailbox == OWNER and m.tenant == "acme" and m.folder == "INBOX" for b in batches for m in b.messages)
    assert sum(1 for route, _ in fake.calls if route == "batch") == 5  # at most 50 metadata reads per HTTP batch


async def test_backfill_resumes_from_its_page_token_and_catches_mail_that_arrived_meanwhile(fake: GoogleFake) -> None:
    fill(fake, 150)
    connector = connect(fake)
    first = await anext(aiter(connector.sync({})))  # the runner stopped after the first batch
    late = fake.add_message([("From", "late@example.com"), ("To", OWNER), ("Date", "Tue, 2 Jun 2026 10:00:00 +0000")])
    rest = await drain(connect(fake), first.cursor)
    assert len(first.messages) + sum(len(b.messages) for b in rest) >= 150
    assert rest[-1].cursor == {"history_id": "1150"}  # captured before the pass: the late mail is still ahead
    changes = await drain(connect(fake), rest[-1].cursor)
    assert [m.source_id for b in changes for m in b.messages] == [f"gmail:{OWNER}:{late.id}"]
    assert changes[-1].cursor == {"history_id": str(late.history_id)}


async def test_a_page_token_google_no_longer_accepts_restarts_the_backfill(fake: GoogleFake) -> None:
    fill(fake, 30)
    batches = await drain(connect(fake), {"backfill_history_id": "1010", "page_token": "stale-token"})
    assert len(set(keys(batches))) == 30
    assert batches[-1].cursor == {"history_id": "1010"}  # mail after 1010 is read again by history: harmless


async def test_history_pages_move_the_cursor_record_by_record(fake: GoogleFake) -> None:
    fill(fake, 3)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    for headers in own_messages(250)[3:]:
        fake.add_message(headers)
    batches = await drain(connect(fake), cursor)
    assert [len(b.messages) for b in batches] == [100, 100, 47]
    assert [b.cursor["history_id"] for b in batches] == ["1103", "1203", "1250"]
    assert not any(b.backfilling for b in batches)
    assert len(set(keys(batches))) == 247


async def test_expired_history_restarts_the_full_pass_without_duplicates(fake: GoogleFake) -> None:
    fill(fake, 120)
    cursor = (await drain(connect(fake), {}))[-1].cursor
    fill_more = own_messages(130)[120:]
    for headers in fill_more:
        fake.add_message(headers)
    fake.forget_history()
    batches = await drain(connect(fake), cursor)
    assert batches[0].backfilling
    assert len(keys(batches)) == len(set(keys(batches))) == 130
    assert batches[-1].cursor == {"history_id": "1130"}


async def test_rate_limit_raises_throttled_with_retry_after_and_the_cursor_stays(fake: GoogleFake) -> None:
    fill(fake, 120)
    fake.fail(
        "messages.list", 429, retry_after=7, body={"error": {"code": 429, "errors": [{"reason": "rateLimitExceeded"}]}}
    )
    with pytest.raises(ConnectorThrottled) as throttled:
        await drain(connect(fake), {})
    assert throttled.value.retry_after == 7.0
    # 403 rateLimitExceeded inside a batch part (Gmail's per-user limit) is throttling too.
    fake.fail("messages.get", 403, body={"error": {"code": 403, "errors": [{"reason": "userRateLimitExceeded"}]}})
    yielded: list[SyncBatch] = []
    with pytest.raises(ConnectorThrottled) as throttled:
        async for batch in connect(fake).sync({}):
            yielded.append(batch)
    assert yielded == [] and throttled.value.retry_after == 30.0  # no batch, so no cursor moved
    batches = await drain(connect(fake), {})  # after the pause the same cursor reads everything
    assert len(set(keys(batches))) == 120


async def test_a_token_that_expires_mid_sync_is_refreshed_at_the_fakes_token_uri(fake: GoogleFake) -> None:
    fill(fake, 150)
    connector = connect(fake)
    stream = aiter(connector.sync({}))
    first = await anext(stream)
    fake.expire_access_tokens()
    rest = [b async for b in stream]
    assert len(set(keys([first, *rest]))) == 150
    assert fake.issued == 2


async def test_revoked_refresh_token_is_an_auth_error_a_person_can_act_on(fake: GoogleFake) -> None:
    fill(fake, 5)
    fake.revoke_refresh_tokens()
    with pytest.raises(ConnectorAuthError, match=f"refresh token for {OWNER} was revoked.*reconnect"):
        await drain(connect(fake), {})


async def test_a_missing_scope_is_an_auth_error_not_a_retry(fake: GoogleFake) -> None:
    fake.fail("profile", 403, body={"error": {"code": 403, "errors": [{"reason": "insufficientPermissions"}]}})
    with pytest.raises(ConnectorAuthError, match=f"denied Gmail access for {OWNER} \\(insufficientPermissions\\)"):
        await drain(connect(fake), {})


async def test_malformed_secret_is_an_auth_error() -> None:
    with pytest.raises(ConnectorAuthError, match="not usable"):
        gmail.from_config({"owner": OWNER, "tenant": "acme"}, {"authorized_user": {"client_id": "x"}})


def service_account_key(fake: GoogleFake) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "client_email": "tiegraph@acme-project.iam.gserviceaccount.com",
        "client_id": "1234",
        "private_key_id": "k1",
        "private_key": pem.decode(),
        "token_uri": fake.url + "token",
    }


async def test_service_account_acts_for_the_mailbox_owner_by_domain_wide_delegation(fake: GoogleFake) -> None:
    fill(fake, 3)
    secret = {"service_account": service_account_key(fake)}
    with pytest.raises(ConnectorAuthError, match="domain-wide delegation"):
        await drain(connect(fake, secret), {})
    fake.delegated_subjects.add(OWNER)  # the Workspace admin grants the scope
    assert len(keys(await drain(connect(fake, secret), {}))) == 3


async def test_unusable_headers_become_rejects_and_drafts_are_skipped(fake: GoogleFake) -> None:
    fill(fake, 2)
    broken = fake.add_message([("From", "x@example.com"), ("Subject", "no date")])
    fake.add_message(own_messages(3)[2], labels=["DRAFT"])
    batches = await drain(connect(fake), {})
    assert len(keys(batches)) == 2
    assert batches[0].rejects == [(f"gmail:{OWNER}:{broken.id}", "no Date header")]


def same_record(ours: MailMessage, files: MailMessage) -> None:
    assert dataclasses.replace(ours, source_id="", folder="", mailbox="") == dataclasses.replace(
        files, source_id="", folder="", mailbox=""
    )


async def test_records_equal_the_file_import_of_the_same_headers(fake: GoogleFake) -> None:
    own = own_messages(12)
    for headers in own:
        fake.add_message(headers)
    batches = await drain(connect(fake), {})
    ours = {m.message_id: m for b in batches for m in b.messages}
    for headers in own:
        # As a mail client writes them: non-ASCII values as RFC 2047 words (raw 8-bit headers are
        # read lossily by the file import, so they cannot match any provider's Unicode).
        raw = "\r\n".join(f"{n}: {v if v.isascii() else Header(v, 'utf-8').encode()}" for n, v in headers).encode()
        files = parse_message(raw, tenant="acme")
        same_record(ours[files.message_id], files)


@pytest.mark.shared_data
async def test_real_gmail_export_headers_give_the_same_dedupe_keys_as_the_file_import(fake: GoogleFake) -> None:
    real = real_messages(shared_data("mbox", "kx-nlp"))
    assert len(real) > 10
    expected = {}
    for raw, pairs in real:
        files = parse_message(raw, tenant="acme")
        expected[files.dedupe_key] = files
        fake.add_message(decoded(pairs) if len(expected) % 2 else pairs)  # both ways providers hand out values
    batches = await drain(connect(fake), {})
    ours = {m.dedupe_key: m for b in batches for m in b.messages}
    assert ours.keys() == expected.keys()
    for key, files in expected.items():
        assert ours[key].sender == files.sender and ours[key].thread_hash == files.thread_hash
