"""Which RocksDB table files are ahead of their changelogs (streams/table_files.py)."""

from __future__ import annotations

from pathlib import Path

from aiokafka import TopicPartition
from rocksdict import Options, Rdict

from tiegraph.streams.table_files import OFFSET_KEY, stale, table_files


def _table_file(path: Path, offset: int | None) -> None:
    db = Rdict(str(path), options=Options(raw_mode=True))
    db[b'"some key"'] = b"1"
    if offset is not None:
        db[OFFSET_KEY] = str(offset).encode()
    db.close()


def test_files_ahead_of_their_changelog_or_without_one_are_stale(tmp_path: Path) -> None:
    _table_file(tmp_path / "tie_states-0.db", 41)  # the changelog reaches it (ends at 42)
    _table_file(tmp_path / "tie_states-1.db", 41)  # the changelog was recreated: ends at 3
    _table_file(tmp_path / "seen_messages-0.db", 7)  # no such changelog partition any more
    _table_file(tmp_path / "seen_messages-1.db", None)  # never recorded an offset: nothing to check
    (tmp_path / "notes.txt").write_text("not a table")
    files = table_files(tmp_path, "app")
    assert sorted((f.changelog.topic, f.changelog.partition, f.offset) for f in files) == [
        ("app-seen_messages-changelog", 0, 7),
        ("app-tie_states-changelog", 0, 41),
        ("app-tie_states-changelog", 1, 41),
    ]
    ends = {TopicPartition("app-tie_states-changelog", 0): 42, TopicPartition("app-tie_states-changelog", 1): 3}
    assert sorted(f.path.name for f in stale(files, ends)) == ["seen_messages-0.db", "tie_states-1.db"]


def test_no_table_directory_yet_means_no_files(tmp_path: Path) -> None:
    assert table_files(tmp_path / "missing", "app") == []
