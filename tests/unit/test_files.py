"""Reading message files: mbox, Maildir, folder trees, single files, garbage."""

from __future__ import annotations

from pathlib import Path

from tiegraph.ingest.files import iter_path

HEADER = "From: a@x.example\nTo: b@x.example\nDate: Tue, 21 Nov 2000 03:40:00 -0800\nSubject: {n}\n"


def test_mbox_messages_are_split_on_from_lines_and_only_headers_are_kept(tmp_path: Path) -> None:
    mbox = tmp_path / "list.mbox"
    mbox.write_text(
        "From someone Thu Jan  1 00:00:00 2026\n" + HEADER.format(n=1) + "\nbody line\n>From the body, escaped\n\n"
        "From someone Thu Jan  1 00:00:00 2026\n" + HEADER.format(n=2) + "\nsecond body\n"
    )
    items = list(iter_path(mbox))
    assert len(items) == 2
    assert all(b"body" not in item.header for item in items)
    assert items[1].header.endswith(b"Subject: 2\n")


def test_maildir_reads_cur_and_new_but_never_tmp(tmp_path: Path) -> None:
    for sub, name in (("cur", "1:2,S"), ("new", "2"), ("tmp", "3")):
        (tmp_path / "INBOX" / sub).mkdir(parents=True)
        (tmp_path / "INBOX" / sub / name).write_text(HEADER.format(n=sub) + "\nbody\n")
    items = list(iter_path(tmp_path))
    assert sorted(i.header.decode().rsplit(": ", 1)[1] for i in items) == ["cur", "new"]
    assert {i.folder for i in items} == {"INBOX"}


def test_folder_trees_keep_the_folder_and_calendar_files_are_marked(tmp_path: Path) -> None:
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "1.").write_text(HEADER.format(n=1) + "\nbody")
    (tmp_path / "invite.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    items = {Path(i.source_id).name: i for i in iter_path(tmp_path)}
    assert items["1."].folder == "sent" and items["1."].kind == "mail"
    assert items["invite.ics"].kind == "calendar"


def test_a_missing_path_is_an_item_with_an_error_not_an_exception(tmp_path: Path) -> None:
    [item] = list(iter_path(tmp_path / "nope"))
    assert item.error == "no such file or directory"


def test_a_large_body_is_never_read_past_the_headers(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(HEADER.format(n=1).encode() + b"\n" + b"x" * 5_000_000)
    [item] = list(iter_path(big))
    assert len(item.header) < 200
