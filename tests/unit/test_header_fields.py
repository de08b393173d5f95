"""Header fields as provider APIs hand them out give the same record as the file import of the
same message: the property the cloud connectors' dedupe rests on."""

from __future__ import annotations

import dataclasses
from email.header import Header
from email.utils import formataddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.samples import decoded, real_messages
from tests.stack import shared_data
from tiegraph.core.records import MailMessage
from tiegraph.ingest.header_fields import header_line, message_from_headers
from tiegraph.ingest.headers import MalformedMessage, parse_message


def test_header_line_unfolds_and_encodes_unicode_but_refuses_bad_names() -> None:
    assert header_line("Subject", "a\r\n b") == b"Subject: a  b"
    assert header_line("Subject", "Grüße") == b"Subject: =?utf-8?b?R3LDvMOfZQ==?="
    assert header_line("Bad Name", "x") is None
    assert header_line("Bad:Name", "x") is None


def test_a_message_without_date_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="no Date header"):
        message_from_headers([("From", "a@example.com")], tenant="t", mailbox="", folder="", source_id="")


def unnamed(message: MailMessage) -> MailMessage:
    return dataclasses.replace(message, sender=None, to=(), cc=(), on_behalf=None, list_id="")


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", ["kx-nlp", "notmuch", "apache-ponymail"])
def test_real_mail_as_raw_or_decoded_header_fields_equals_the_file_import(folder: str) -> None:
    compared = 0
    for raw, pairs in real_messages(shared_data("mbox", folder)):
        try:
            files = parse_message(raw, tenant="t")
        except MalformedMessage:
            continue  # the file import rejects it too
        for fields in (pairs, decoded(pairs)):
            ours = message_from_headers(fields, tenant="t", mailbox="", folder="", source_id="")
            assert ours.dedupe_key == files.dedupe_key
            # Display names of raw 8-bit headers are read lossily by the file import, and it keeps the
            # folding inside List-Id; providers hand out unfolded values. The rest is equal.
            assert " ".join(ours.list_id.split()) == " ".join(files.list_id.split())
            assert unnamed(ours) == unnamed(files)
        compared += 1
    assert compared > 10


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@settings(max_examples=200, deadline=None)
@given(subject=_TEXT, name=_TEXT)
def test_unicode_values_give_the_same_record_as_their_rfc2047_encoded_mail(subject: str, name: str) -> None:
    fields = [
        ("From", formataddr((name, "ana@example.org"))),
        ("To", "bob@example.com"),
        ("Date", "Tue, 02 Jun 2026 10:00:00 +0200"),
        ("Subject", subject),
    ]
    raw = "\r\n".join(f"{n}: {Header(v, 'utf-8').encode() if not v.isascii() else v}" for n, v in fields).encode()
    try:
        files = parse_message(raw, tenant="t")
    except MalformedMessage:
        return  # e.g. a name that turns the address into debris: the file import refuses it too
    ours = message_from_headers(fields, tenant="t", mailbox="", folder="", source_id="")
    assert (ours.dedupe_key, ours.subject_hash, ours.is_reply) == (files.dedupe_key, files.subject_hash, files.is_reply)
