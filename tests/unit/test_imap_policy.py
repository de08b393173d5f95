"""The IMAP folder policy and source ids, without a server (the server side: tests/integration/test_imap_sync)."""

from __future__ import annotations

from tiegraph.ingest.imap import folders_to_sync, from_config, source_id

LISTING = [
    ((b"\\HasNoChildren",), b"/", "INBOX"),
    ((b"\\HasNoChildren", b"\\Sent"), b"/", "Sent Items"),
    ((b"\\HasNoChildren", b"\\Junk"), b"/", "Bulk"),  # spam by flag, whatever its name
    ((b"\\HasNoChildren", b"\\Trash"), b"/", "Papierkorb"),
    ((b"\\HasNoChildren", b"\\Drafts"), b"/", "Entwürfe"),
    ((b"\\Noselect", b"\\HasChildren"), b"/", "[Gmail]"),
    ((b"\\HasNoChildren", b"\\All"), b"/", "[Gmail]/All Mail"),
    ((b"\\HasNoChildren",), b".", "INBOX.Spam"),  # no SPECIAL-USE: by name, under a parent
    ((b"\\HasNoChildren",), b".", "Deleted Items"),
    ((b"\\HasNoChildren",), b".", "projects.2001"),
    ((b"\\NonExistent",), b"/", "gone"),
]


def test_spam_trash_drafts_and_unselectable_folders_are_skipped() -> None:
    assert folders_to_sync(LISTING) == ["INBOX", "Sent Items", "[Gmail]/All Mail", "projects.2001"]


def test_named_folders_restrict_the_sync_but_never_to_an_unselectable_one() -> None:
    assert folders_to_sync(LISTING, include=["inbox", "Bulk", "[Gmail]"]) == ["INBOX", "Bulk"]


def test_source_ids_carry_uidvalidity_so_a_reset_server_gives_new_ids() -> None:
    assert source_id("imap.acme.com", "INBOX", 7, 42) == "imap://imap.acme.com/INBOX;UIDVALIDITY=7;UID=42"


def test_from_config_reads_the_registry_entry() -> None:
    config = {"owner": "me@acme.com", "host": "h", "port": 143, "user": "u", "tls": False, "folders": ["INBOX"]}
    connector = from_config({**config, "tenant": "acme"}, {"password": "pw"})
    assert (connector.provider, connector.owner, connector.host, connector.port) == ("imap", "me@acme.com", "h", 143)
