"""Test mail for the fakes: a small set of our own, and headers of real messages from ../shared/data."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from tiegraph.ingest.files import iter_path

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def own_messages(count: int) -> list[list[tuple[str, str]]]:
    """`count` distinct messages with the header shapes that matter: replies, lists, Unicode names."""
    found = []
    for n in range(count):
        headers = [
            ("From", f"Ana Muñoz <ana{n % 3}@example.org>" if n % 4 == 0 else f"bob{n % 5}@example.com"),
            ("To", f"owner@example.org, Carol <carol{n % 2}@example.net>"),
            ("Date", f"Mon, {1 + n % 28:02d} Jun 2026 {n % 24:02d}:{n % 60:02d}:00 +0200"),
            ("Subject", ("Re: " if n % 3 else "") + f"Plan für Quartal {n}"),
            ("Message-ID", f"<msg-{n}@example.org>"),
        ]
        if n % 3:
            headers.append(("In-Reply-To", f"<msg-{n - 1}@example.org>"))
        if n % 7 == 6:
            headers += [("List-Id", "<team.example.org>"), ("Precedence", "list")]
        if n % 5 == 2:
            headers.append(("Cc", "=?utf-8?q?J=C3=BCrgen?= <juergen@example.de>"))
        found.append(headers)
    return found


def header_pairs(raw: bytes) -> list[tuple[str, str]]:
    """(name, value) pairs as Gmail's API hands them out: unfolded, encoded words left as they are."""
    message = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [(name, _FOLD.sub("", str(value))) for name, value in message.items()]


def decoded(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same pairs with RFC 2047 words decoded to Unicode, as some provider APIs hand them out."""
    found = []
    for name, value in pairs:
        try:
            found.append((name, str(make_header(decode_header(value)))))
        except (UnicodeError, LookupError, ValueError):
            found.append((name, value))
    return found


def real_messages(folder: Path) -> list[tuple[bytes, list[tuple[str, str]]]]:
    """(raw header block, header pairs) of every message in a folder of mbox files."""
    return [(i.header, header_pairs(i.header)) for i in iter_path(folder) if i.header and i.kind == "mail"]
