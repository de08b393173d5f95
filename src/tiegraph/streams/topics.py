"""Topic names, keys and creation. Topics are created explicitly with a fixed partition count:
an auto-created topic would get the broker's default and break co-partitioning with tables."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from faust.serializers import codecs

from tiegraph.errors import StreamUnavailable, TopicMismatch

MAIL_MESSAGES = "mail.messages.v1"
CALENDAR_EVENTS = "calendar.events.v1"
INTERACTIONS = "interactions.v1"
TIE_UPDATES = "tie.updates.v1"
COUNTERS = "counters.v1"
DEAD_LETTERS = "deadletters.v1"
LIST_THREADS = "list.threads.v1"  # list messages' authors and list replies, keyed by Message-ID
ALIASES = "aliases.v1"  # a mailbox owner's aliases (core/aliases.py), keyed by tenant + alias

# Latest value per key is all that matters for these: compaction keeps them bounded.
COMPACTED = frozenset({TIE_UPDATES, COUNTERS, ALIASES})
# What the graph writer (streams/graph_writer.py) reads into Neo4j, in its own consumer group; the
# stream stages (streams/app.py) read the other topics.
GRAPH_TOPICS = frozenset({TIE_UPDATES, ALIASES, COUNTERS})
# The worker's Faust tables (streams/app.py); each has a changelog topic "<app id>-<table>-changelog".
TABLES = (
    "seen_messages",
    "dead_letter_keys",
    "tie_states",
    "tie_applied",
    "meeting_states",
    "message_authors",
    "pending_replies",
)
ALL_TOPICS = (
    MAIL_MESSAGES,
    CALENDAR_EVENTS,
    INTERACTIONS,
    TIE_UPDATES,
    COUNTERS,
    DEAD_LETTERS,
    LIST_THREADS,
    ALIASES,
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The deployment's topic names (an optional prefix lets deployments share a cluster)."""

    prefix: str = ""

    def __getitem__(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def all(self) -> list[str]:
        return [self[n] for n in ALL_TOPICS]

    def read_by(self, writer: bool) -> list[str]:
        """The topics the graph writer reads (`writer`), or those the stream stages read."""
        return [self[n] for n in ALL_TOPICS if (n in GRAPH_TOPICS) == writer]


def graph_writer_group(app_id: str) -> str:
    """The graph writer's Faust app id and consumer group, beside the stream stages' `app_id`."""
    return f"{app_id}-graph"


def consumer_groups(app_id: str, topics: list[str]) -> dict[str, list[str]]:
    """`topics` (full names) by the consumer group of deployment `app_id` that reads each."""
    groups: dict[str, list[str]] = {}
    for topic in topics:
        writer = any(topic.endswith(name) for name in GRAPH_TOPICS)
        groups.setdefault(graph_writer_group(app_id) if writer else app_id, []).append(topic)
    return groups


def message_key(tenant: str, dedupe_key: str) -> bytes:
    """All copies of one message land on one partition, so one worker decides if it is new."""
    return f"{tenant}|{dedupe_key}".encode()


def meeting_key(tenant: str, occurrence: str) -> bytes:
    """Every copy and update of one meeting occurrence lands on one partition."""
    return f"{tenant}|{occurrence}".encode()


def thread_key(tenant: str, message_id: str) -> bytes:
    """A list message and every reply to it meet on one partition, whichever comes first."""
    return f"{tenant}|{message_id}".encode()


def alias_key(tenant: str, alias: str) -> bytes:
    """One record per alias address: the latest decision about it is the one that holds."""
    return f"{tenant}|{alias}".encode()


def pair_key(tenant: str, x: str, y: str) -> bytes:
    """Both directions of a pair land on one partition, so one worker owns the tie."""
    a, b = (x, y) if x < y else (y, x)
    return f"{tenant}|{a}|{b}".encode()


@functools.lru_cache(maxsize=1 << 17)
def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) puts `key` on: the worker's sends
    (streams/delivery.py) and a table entry's partition follow it. Cached: a tie's pair key comes
    back with each of its updates, and aiokafka's murmur2 is pure Python."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


# orjson, not the stdlib: (de)serialising records was a measurable share of a stage's CPU
# (bench/HISTORY.md). The bytes are the same compact UTF-8 JSON as `json.dumps(separators=(",",
# ":"), ensure_ascii=False)` wrote, so records written before and after decode alike.
_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS  # like json.dumps: int keys become strings


def encode(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=_DUMP_OPTIONS)


def decode(raw: bytes | None) -> dict[str, Any]:
    """Decode a JSON object; ValueError for anything else (orjson's decode error is one)."""
    if raw is None:
        raise ValueError("empty record")
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("record is not a JSON object")
    return value


class _StdlibJsonKeys(codecs.Codec):
    """Table keys, byte for byte as they were written before orjson was installed. Faust's "json"
    codec switches to orjson when it can import it (values are then cheaper to encode), but
    orjson writes non-ASCII as UTF-8 where the stdlib wrote \\u escapes, and a compacted changelog
    keeps one record per key *bytes*: an erasure's tombstone under the new bytes would leave the
    entry written under the old ones, to come back at the next restore."""

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, str):  # every key the tables have: what json.dumps ends at, without its set-up
            return encode_basestring_ascii(obj).encode()
        return json.dumps(obj, separators=(",", ":")).encode()

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)


TABLE_KEYS = "tiegraph-table-keys"
codecs.register(TABLE_KEYS, _StdlibJsonKeys())

COMPACT = {"cleanup.policy": "compact"}


async def ensure_topics(bootstrap: str, names: TopicNames, partitions: int, replication: int = 1) -> None:
    """Create the pipeline's topics if missing, with the given partition count and replication."""
    wanted = {names[n]: COMPACT if n in COMPACTED else {} for n in ALL_TOPICS}
    await _create_missing(bootstrap, wanted, partitions, replication)


async def ensure_changelog_topics(bootstrap: str, app_id: str, partitions: int, replication: int = 1) -> None:
    """Create the tables' changelog topics before the worker starts. Faust creates them itself,
    but one created while the consumer subscribes can stay missing from its metadata for minutes
    ("not found in cluster metadata"), and the first write to that table then fails with
    PartitionsMismatch (seen with meeting_states)."""
    wanted = dict.fromkeys(changelog_topics(app_id), COMPACT)
    await _create_missing(bootstrap, wanted, partitions, replication)


def changelog_topics(app_id: str) -> list[str]:
    """The changelog topics Faust names for the worker's tables."""
    return [f"{app_id}-{table}-changelog" for table in TABLES]


async def delete_pipeline(bootstrap: str, names: TopicNames, app_id: str) -> None:
    """Delete a pipeline's topics and its tables' changelogs (a benchmark's run, once done): each
    topic stays in the cluster metadata every client reads. The consumer group's committed
    offsets expire by themselves (offsets.retention.minutes; aiokafka cannot delete a group)."""
    ours = {names[n] for n in ALL_TOPICS} | set(changelog_topics(app_id))
    ours |= {f"{group}-__assignor-__leader" for group in (app_id, graph_writer_group(app_id))}  # Faust's own
    async with _admin(bootstrap) as admin:
        try:
            present = [topic for topic in await admin.list_topics() if topic in ours]
            response = await admin.delete_topics(present) if present else None
        except KafkaError as exc:
            raise StreamUnavailable(f"topics not deleted: {exc}") from exc
    failed = [f"{name} (error {code})" for name, code, *_ in response.topic_error_codes if code] if response else []
    if failed:
        raise StreamUnavailable(f"topics not deleted: {', '.join(failed)}")


async def _create_missing(bootstrap: str, wanted: dict[str, dict[str, str]], partitions: int, replication: int) -> None:
    """Create the topics of `wanted` (name -> topic configs) that do not exist yet; TopicMismatch if
    one that exists has another partition count.

    Every keyed topic and table must be co-partitioned: a tie update goes to its interaction's
    partition number, a table's entry to its source record's, and erasure finds a key's partition
    from the configured count. A topic grown by hand would send records where no state is."""
    async with _admin(bootstrap) as admin:
        try:
            existing = set(await admin.list_topics())
            present = [name for name in wanted if name in existing]
            described = await admin.describe_topics(present) if present else []
        except KafkaError as exc:
            raise StreamUnavailable(f"cannot read the topics from Kafka at {bootstrap}: {exc}") from exc
        # A topic with an error (no leader yet, being deleted) lists no partitions: not a mismatch,
        # a passing state that a restart will see through.
        unreadable = [f"{d['topic']} (error {d['error_code']})" for d in described if d["error_code"]]
        if unreadable:
            raise StreamUnavailable(f"topics not readable from Kafka at {bootstrap}: {', '.join(unreadable)}")
        wrong = {d["topic"]: len(d["partitions"]) for d in described if len(d["partitions"]) != partitions}
        if wrong:
            found = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
            raise TopicMismatch(
                f"topics exist with another partition count than TIEGRAPH_TOPIC_PARTITIONS={partitions}: "
                f"{found}. Every pipeline topic and changelog needs the same count (keys and tables are "
                "co-partitioned): set it to theirs, or recreate the topics with the new count."
            )
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication, topic_configs=configs)
            for name, configs in wanted.items()
            if name not in existing
        ]
        if missing:
            # Another process may create them between our list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)


@contextlib.asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed after use; StreamUnavailable if Kafka cannot be reached."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaError as exc:
        raise StreamUnavailable(f"Kafka unreachable at {bootstrap}: {exc}") from exc
    try:
        yield admin
    finally:
        await admin.close()
