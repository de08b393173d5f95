"""RFC 5322 header block -> MailMessage. Pure: bytes in, record out, MalformedMessage on bad input.

Only the header block is ever read; the subject is reduced to a hash and an is-reply flag.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from tiegraph.core.identity import InvalidAddress, display_name, normalize_email
from tiegraph.core.records import Address, MailMessage

MAX_HEADER_BYTES = 1 << 20  # a header block larger than 1 MiB is hostile or broken
MAX_ADDRESSES = 10_000  # per message; the model ignores broadcasts long before this
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# Reply/forward prefixes and list tags, repeated: "Re: [apparmor] Fwd: RE: plan" -> "plan"
_SUBJECT_PREFIXES = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|r|odp|fw|fwd|wg|tr)\s*(?:\[\d+\])?\s*:|\[[^\]]{1,40}\])\s*", re.I
)
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|sv|antw|r|odp)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_MSGID = re.compile(r"<([^<>\s]+)>")
_PARSER = BytesHeaderParser(policy=compat32)
_EARLIEST, _LATEST = -2_208_988_800.0, 4_102_444_800.0  # 1900 .. 2100


class MalformedMessage(ValueError):
    """The bytes are not a usable message; the text says why."""


def header_block(raw: bytes) -> bytes:
    """The bytes before the first blank line (the whole input if there is none)."""
    match = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES + 4)
    if match is None:
        if len(raw) > MAX_HEADER_BYTES:
            raise MalformedMessage(f"header block larger than {MAX_HEADER_BYTES} bytes")
        return raw
    return raw[: match.start()]


def _text(value: object) -> str:
    """Header text with RFC 2047 words decoded; undecodable parts are kept as they came."""
    raw = str(value)
    if "=?" not in raw:
        return raw
    try:
        return str(make_header(decode_header(raw)))
    except (UnicodeError, LookupError, ValueError):
        return raw


def _addresses(message: Message, name: str) -> tuple[Address, ...]:
    values = [_text(v) for v in message.get_all(name) or ()]
    found: dict[str, Address] = {}
    for raw_name, raw_email in getaddresses(values):
        if len(found) >= MAX_ADDRESSES:
            break
        try:
            email = normalize_email(raw_email)
        except InvalidAddress:
            continue  # undisclosed-recipients:;, X.500 names, debris: not a person we can key
        if email not in found:
            found[email] = Address(email=email, name=display_name(raw_name))
    return tuple(found.values())


def _single(message: Message, name: str) -> Address | None:
    found = _addresses(message, name)
    return found[0] if found else None


def _sent_at(message: Message) -> float:
    raw = message.get("Date")
    if raw is None:
        raise MalformedMessage("no Date header")
    try:
        parsed = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError) as exc:
        raise MalformedMessage(f"invalid Date header: {str(raw)[:80]!r}") from exc
    if parsed.tzinfo is None:  # RFC 5322 says -0000 means unknown zone: read as UTC
        parsed = parsed.replace(tzinfo=UTC)
    at = parsed.timestamp()
    if not _EARLIEST <= at <= _LATEST:
        raise MalformedMessage(f"Date out of range: {str(raw)[:80]!r}")
    return at


def _message_ids(value: object) -> list[str]:
    return _MSGID.findall(str(value or ""))


def conversation_hash(subject: str) -> str:
    """The subject with reply and forward prefixes removed, hashed: one per conversation topic."""
    base = subject
    while (stripped := _SUBJECT_PREFIXES.sub("", base, count=1)) != base:
        base = stripped
    return hashlib.blake2b(base.strip().lower().encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def content_key(sender: str, sent_at: float, recipients: list[str], subject_hash: str) -> str:
    """Identifies a message by content: the same message in several mailboxes shares it even
    where each copy has its own Message-ID (as in the Enron export)."""
    basis = f"{sender}|{int(sent_at)}|{','.join(sorted(recipients))}|{subject_hash}"
    return hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()


def parse_message(raw: bytes, *, tenant: str, mailbox: str = "", folder: str = "", source_id: str = "") -> MailMessage:
    """Parse the header block of `raw` into a MailMessage."""
    block = header_block(raw)
    if not block.strip():
        raise MalformedMessage("empty header block")
    if b"\x00" in block:
        raise MalformedMessage("binary data (NUL bytes) in the header block")
    message = _PARSER.parsebytes(block)
    if not message.keys():
        raise MalformedMessage("no header fields")
    sender = _single(message, "From")
    on_behalf = _single(message, "Sender")
    if sender is None:
        sender = on_behalf
    if sender is None:
        raise MalformedMessage("no usable From or Sender address")
    sent_at = _sent_at(message)
    subject = " ".join(_text(message.get("Subject", "")).split())
    subject_hash = hashlib.blake2b(subject.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    to, cc = _addresses(message, "To"), _addresses(message, "Cc")
    in_reply_to = next(iter(_message_ids(message.get("In-Reply-To"))), "")
    msgid = next(iter(_message_ids(message.get("Message-ID"))), "")
    return MailMessage(
        tenant=tenant,
        mailbox=mailbox,
        source_id=source_id,
        message_id=msgid,
        sent_at=sent_at,
        sender=sender,
        to=to,
        cc=cc,
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        on_behalf=on_behalf if on_behalf and on_behalf != sender else None,
        in_reply_to=in_reply_to,
        references=tuple(_message_ids(message.get("References"))[-20:]),
        is_reply=bool(in_reply_to) or bool(_REPLY_SUBJECT.match(subject)),
        list_id=_text(message.get("List-Id", "")).strip(),
        precedence=str(message.get("Precedence", "")).strip().lower(),
        auto_submitted=str(message.get("Auto-Submitted", "")).strip().lower(),
        list_unsubscribe=message.get("List-Unsubscribe") is not None,
        folder=folder,
        subject_hash=subject_hash,
        thread_hash=conversation_hash(subject),
        dedupe_key=content_key(sender.email, sent_at, [a.email for a in (*to, *cc)], subject_hash),
    )
