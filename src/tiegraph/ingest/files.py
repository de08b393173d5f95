"""Backfill from files: mbox, Maildir / Maildir++, folder-of-files trees (Enron) and single .eml.

Reads header blocks only and yields them with where they came from; parsing happens elsewhere.
A file that is not mail is reported as an unreadable item, never raised: the rest goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tiegraph.ingest.headers import MAX_HEADER_BYTES
from tiegraph.ingest.ics import MAX_CALENDAR_BYTES

_SKIP_NAMES = {".DS_Store", "Thumbs.db", ".mbsyncstate", ".uidvalidity", "dovecot.index", "dovecot-uidlist"}
_CALENDAR_SUFFIXES = {".ics", ".ical", ".ifb"}


@dataclass(frozen=True, slots=True)
class RawItem:
    """One message's header bytes (or why it could not be read) and where it came from."""

    source_id: str
    folder: str
    header: bytes = b""  # a message's header block, or a whole calendar file
    error: str = ""
    kind: str = "mail"  # or "calendar"


def _read_head(path: Path) -> bytes:
    """Up to the first blank line, reading in chunks so a huge body is never loaded."""
    chunks: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        while size <= MAX_HEADER_BYTES:
            chunk = handle.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            joined = b"".join(chunks)
            for sep in (b"\r\n\r\n", b"\n\n"):
                end = joined.find(sep)
                if end >= 0:
                    return joined[:end]
    return b"".join(chunks)


def _read_calendar(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(MAX_CALENDAR_BYTES + 1)  # parse_calendar rejects what is larger


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_mbox(path: Path) -> Iterator[RawItem]:
    """Header blocks of an mbox (mboxo/mboxrd): each message starts at a `From ` line."""
    folder = path.stem
    header: list[bytes] | None = None
    in_header = False
    offset = 0
    start = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and (header is None or not in_header):
                if header is not None:
                    yield RawItem(f"{path}#{start}", folder, b"".join(header))
                header, in_header, start = [], True, offset
            elif header is not None and in_header:
                if line in (b"\n", b"\r\n"):
                    in_header = False
                elif sum(len(x) for x in header) < MAX_HEADER_BYTES:
                    header.append(line)
            offset += len(line)
    if header is not None:
        yield RawItem(f"{path}#{start}", folder, b"".join(header))


def _message_files(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        here = Path(directory)
        if here.name == "tmp" and (here.parent / "cur").is_dir():
            continue  # Maildir tmp/ holds partial deliveries
        for name in sorted(files):
            if name not in _SKIP_NAMES and not name.startswith("dovecot"):
                yield here / name


def _folder_of(path: Path, root: Path) -> str:
    parts = list(path.parent.relative_to(root).parts)
    if parts and parts[-1] in ("cur", "new"):
        parts.pop()
    return "/".join(parts) or root.name


def iter_path(path: Path) -> Iterator[RawItem]:
    """Every message and calendar file under `path`, whatever the layout."""
    if path.is_dir():
        for file in _message_files(path):
            yield from _iter_file(file, _folder_of(file, path))
    elif path.is_file():
        yield from _iter_file(path, path.parent.name)
    else:
        yield RawItem(str(path), "", error="no such file or directory")


def _iter_file(path: Path, folder: str) -> Iterator[RawItem]:
    try:
        if path.suffix.lower() in _CALENDAR_SUFFIXES:
            yield RawItem(str(path), folder, _read_calendar(path), kind="calendar")
            return
        if _is_mbox(path):
            yield from iter_mbox(path)
        else:
            yield RawItem(str(path), folder, _read_head(path))
    except OSError as exc:
        yield RawItem(str(path), folder, error=f"cannot read: {exc.strerror or exc}")
