"""The RocksDB files a worker keeps its tables in, checked against their changelogs before Faust
opens them.

A table file is a local copy of its changelog partition up to the offset it records. If the file
records an offset the changelog does not reach, the changelog was deleted or recreated since (Kafka
wiped or reformatted, the topics reset) and the file holds state the pipeline no longer has: seen
messages that would be dropped as copies, tie states counting interactions no topic holds. Faust
refuses to start on such a file (ConsistencyError: "Most likely you have removed data from the
topics without removing the RocksDB database file"), and the supervisor would restart it into the
same refusal forever. The changelog is the truth, so the file is removed and the partition restored
from it, with a warning saying what was dropped.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from rocksdict import AccessType, Options, Rdict

from tiegraph.errors import StreamUnavailable

log = logging.getLogger(__name__)

OFFSET_KEY = b"__faust\0offset__"  # where Faust's RocksDB store records its changelog offset
_TABLE_FILE = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")


@dataclass(frozen=True, slots=True)
class TableFile:
    path: Path
    changelog: TopicPartition
    offset: int  # the last changelog offset the file holds


def persisted_offset(path: Path) -> int | None:
    """The changelog offset a table file holds everything up to, None if it records none."""
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        stored = db.get(OFFSET_KEY)
        return None if stored is None else int(stored)
    finally:
        db.close()


def table_files(tabledir: Path, app_id: str) -> list[TableFile]:
    """Every table file under `tabledir` that records an offset, with its changelog partition."""
    found = []
    for path in sorted(tabledir.glob("*.db")) if tabledir.is_dir() else ():
        match = _TABLE_FILE.match(path.name)
        offset = persisted_offset(path) if match else None
        if match and offset is not None:
            changelog = TopicPartition(f"{app_id}-{match['table']}-changelog", int(match["partition"]))
            found.append(TableFile(path, changelog, offset))
    return found


def stale(files: list[TableFile], ends: dict[TopicPartition, int]) -> list[TableFile]:
    """The files holding an offset their changelog partition does not reach (`ends`: the next
    offset of each partition; a partition missing there has none)."""
    return [f for f in files if f.offset >= ends.get(f.changelog, 0)]


async def changelog_ends(bootstrap: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The end offset of each changelog partition that exists. StreamUnavailable if Kafka is down."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        await consumer.topics()  # metadata of every topic, for partitions_for_topic
        existing = {tp for tp in partitions if tp.partition in (consumer.partitions_for_topic(tp.topic) or ())}
        return dict(await consumer.end_offsets(list(existing))) if existing else {}
    except KafkaError as exc:
        raise StreamUnavailable(f"cannot read the changelogs' end offsets: {exc!r}") from exc
    finally:
        await consumer.stop()


async def discard_stale_table_files(bootstrap: str, tabledir: Path, app_id: str) -> list[Path]:
    """Remove the table files ahead of their changelogs (see above); the paths removed."""
    files = table_files(tabledir, app_id)
    if not files:
        return []
    ends = await changelog_ends(bootstrap, [f.changelog for f in files])
    removed = []
    for file in stale(files, ends):
        end = ends.get(file.changelog)
        log.warning(
            "table file %s holds %s up to offset %d, but the changelog %s; removing the file to "
            "restore the partition from the changelog (were the topics deleted or Kafka wiped?)",
            file.path.name,
            file.changelog.topic,
            file.offset,
            "does not exist" if end is None else f"ends at {end}",
        )
        shutil.rmtree(file.path)
        removed.append(file.path)
    return removed
