"""Header parsing: what a message record keeps, and that bad input is a MalformedMessage, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiegraph.core.records import MailMessage
from tiegraph.ingest.headers import MalformedMessage, conversation_hash, parse_message

from .conftest import shared_file

ENRON_SENT = b"""Message-ID: <6208622.1075840279149.JavaMail.evans@thyme>\r
Date: Tue, 21 Nov 2000 03:40:00 -0800 (PST)\r
From: rosalee.fleming@enron.com\r
To: lucie@jhmedia.com, "Ken" <KLay@ENRON.com>, a..bibi@enron.com\r
Cc: "Undisclosed" <undisclosed-recipients:;>\r
Subject: Re: Board Metting Dates\r
X-From: Rosalee Fleming\r
\r
the body is never read\r
"""


def test_headers_become_a_record_without_subject_text() -> None:
    message = parse_message(ENRON_SENT, tenant="t", mailbox="kenneth.lay@enron.com", folder="sent")
    assert message.sender is not None and message.sender.email == "rosalee.fleming@enron.com"
    assert [a.email for a in message.to] == ["lucie@jhmedia.com", "klay@enron.com", "a.bibi@enron.com"]
    assert message.sent_at == 974806800.0  # 03:40 PST is 11:40 UTC
    assert message.is_reply
    assert "Board" not in repr(message.to_dict())
    assert message.message_id == "6208622.1075840279149.JavaMail.evans@thyme"


def test_record_round_trips_through_its_wire_form() -> None:
    message = parse_message(ENRON_SENT, tenant="t")
    assert MailMessage.from_dict(message.to_dict()) == message


def test_copies_with_different_message_ids_share_the_dedupe_key() -> None:
    copy = ENRON_SENT.replace(b"6208622.1075840279149", b"9999999.1075840279149")
    assert parse_message(copy, tenant="t").dedupe_key == parse_message(ENRON_SENT, tenant="t").dedupe_key


def test_reply_prefixes_and_list_tags_do_not_change_the_conversation() -> None:
    assert conversation_hash("Re: [apparmor] Fwd: RE: plan") == conversation_hash("plan")
    assert conversation_hash("plan") != conversation_hash("other plan")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty header block"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"just text without a colon\n", "no header fields"),
        (b"To: b@x.example\nDate: Tue, 21 Nov 2000 03:40:00 -0800\n\n", "no usable From"),
        (b"From: a@x.example\nTo: b@x.example\n\n", "no Date header"),
        (b"From: a@x.example\nDate: yesterday\n\n", "invalid Date header"),
        (b"From: a@x.example\nDate: Tue, 21 Nov 2300 03:40:00 -0800\n\n", "Date out of range"),
        (b"From: a@x.example\nDate: Tue, 21 Nov 1800 03:40:00 -0800\n\n", "Date out of range"),
    ],
)
def test_bad_input_says_why(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(raw, tenant="t")


def test_huge_recipient_lists_parse_and_are_bounded() -> None:
    recipients = ", ".join(f"p{i}@big.example" for i in range(20_000))
    raw = f"From: a@x.example\nDate: Tue, 21 Nov 2000 03:40:00 -0800\nTo: {recipients}\n\n".encode()
    assert len(parse_message(raw, tenant="t").to) == 10_000


def test_encoded_display_names_are_decoded() -> None:
    raw = b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@x.example>\nDate: Tue, 21 Nov 2000 03:40:00 -0800\n\n"
    message = parse_message(raw, tenant="t")
    assert message.sender is not None and message.sender.name == "Jürgen Müller"


def assert_record_or_reason(raw: bytes) -> None:
    """Parsing gives a usable record or a MalformedMessage that says why; nothing else."""
    try:
        result = parse_message(raw, tenant="t")
    except MalformedMessage as exc:
        assert str(exc)
    else:
        assert result.sender is not None and result.sent_at > 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_record_or_a_malformed_message(raw: bytes) -> None:
    assert_record_or_reason(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_header_values_never_crash(value: str) -> None:
    raw = f"From: {value}\nTo: {value}\nDate: {value}\nSubject: {value}\n\n".encode("utf-8", "surrogateescape")
    assert_record_or_reason(raw)


def test_a_real_enron_file_parses() -> None:
    message = parse_message(shared_file("enron", "lay-k", "sent", "13.").read_bytes(), tenant="t")
    assert message.sender is not None and message.sender.email == "rosalee.fleming@enron.com"
