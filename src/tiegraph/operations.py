"""The operator's view of the pipeline, shared by `tiegraph lag`, `GET /v1/ops/lag` and the ops page:
lag per partition, freshness per stage and at the graph, worker heartbeats, dead letters.

Pure summaries (`stage_freshness`, `graph_freshness`, `worker_readiness`, `dead_letter_summary`)
take `now` as an argument; `lag_report` gathers the readings from Kafka and Neo4j.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tiegraph.deployment import topic_names
from tiegraph.errors import GraphUnavailable
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams import topics as t
from tiegraph.streams.lag import PartitionLag, read_lag, summarize
from tiegraph.streams.metrics import GRAPH_WRITER, STREAM_STAGES
from tiegraph.streams.peek import latest_dead_letters, oldest_waiting_ms

# The stage that consumes each topic (streams/app.py).
STAGE_OF_TOPIC = {
    t.MAIL_MESSAGES: "derive",
    t.CALENDAR_EVENTS: "meet",
    t.LIST_THREADS: "list_replies",
    t.INTERACTIONS: "aggregate",
    t.TIE_UPDATES: "write",
    t.COUNTERS: "count",
    t.DEAD_LETTERS: "dead_letters",
    t.ALIASES: "aliases",
}


def stage_freshness(
    rows: Iterable[PartitionLag], oldest_ms: Mapping[tuple[str, int], int], prefix: str, now: float
) -> dict[str, dict[str, Any]]:
    """Per stage: its lag and how long its oldest unprocessed record has waited (0 when caught up)."""
    stages: dict[str, dict[str, Any]] = {}
    for row in rows:
        stage = STAGE_OF_TOPIC.get(row.topic.removeprefix(prefix), row.topic)
        entry = stages.setdefault(stage, {"topic": row.topic, "lag": 0, "oldest_waiting_s": 0.0})
        entry["lag"] += row.lag
        waiting_since = oldest_ms.get((row.topic, row.partition))
        if row.lag > 0 and waiting_since is not None:
            entry["oldest_waiting_s"] = round(max(entry["oldest_waiting_s"], now - waiting_since / 1000), 3)
    order = list(STAGE_OF_TOPIC.values())  # pipeline order, for people reading it
    return dict(sorted(stages.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


# How /readyz and the lag report name each of a worker's processes.
ROLE_NAMES = {GRAPH_WRITER: "graph-writer", STREAM_STAGES: "stream-stage"}


def role_of(status: Mapping[str, Any]) -> str:
    """The process a heartbeat comes from. Workers from before the stream stages had a heartbeat
    wrote no role: only their graph writer wrote one."""
    return str(status.get("role") or GRAPH_WRITER)


def heartbeats(statuses: Sequence[Mapping[str, Any]], role: str) -> list[Mapping[str, Any]]:
    """The heartbeats of `role`'s processes, in the order given."""
    return [s for s in statuses if role_of(s) == role]


def heartbeat_age(status: Mapping[str, Any], now: float) -> float:
    return now - float(status.get("heartbeat_at") or 0)


def newest_heartbeat_age(statuses: Sequence[Mapping[str, Any]], now: float) -> float | None:
    """Seconds since the newest of `statuses` beat; None for none."""
    return min((heartbeat_age(s, now) for s in statuses), default=None)


def graph_freshness(statuses: Sequence[Mapping[str, Any]], now: float, max_age_s: float) -> dict[str, Any]:
    """What reached the graph, from the graph writers' heartbeats (newest first), and how many of
    each of the worker's processes beat within `max_age_s`: `workers_alive` counts graph writers
    (as before the stream stages beat too), `stage_workers_alive` stream-stage processes."""
    writers = heartbeats(statuses, GRAPH_WRITER)
    newest_origin_ms = max((int(s.get("last_origin_ms") or 0) for s in writers), default=0)
    age = newest_heartbeat_age(writers, now)
    live = [s for s in writers if heartbeat_age(s, now) <= max_age_s]
    latest = live[0] if live else (writers[0] if writers else {})
    return {
        "newest_origin_ms": newest_origin_ms or None,
        "newest_origin_age_s": round(now - newest_origin_ms / 1000, 3) if newest_origin_ms else None,
        "delay_p50_s": latest.get("delay_p50_s"),
        "delay_p99_s": latest.get("delay_p99_s"),
        "heartbeat_age_s": round(age, 3) if age is not None else None,
        "workers_alive": len(live),
        "stage_workers_alive": sum(heartbeat_age(s, now) <= max_age_s for s in heartbeats(statuses, STREAM_STAGES)),
    }


def worker_readiness(statuses: Sequence[Mapping[str, Any]], now: float, max_age_s: float, write_stuck_s: float) -> str:
    """/readyz's worker check: "ok" when a graph writer and a stream-stage process both beat within
    `max_age_s` and no live graph writer reports a write waiting longer than `write_stuck_s`;
    otherwise what is wrong, naming the process."""
    required = f"required within {max_age_s:.0f} s"
    problems = []
    for role in (GRAPH_WRITER, STREAM_STAGES):
        name, age = ROLE_NAMES[role], newest_heartbeat_age(heartbeats(statuses, role), now)
        if age is None:
            problems.append(f"no {name} heartbeat yet (a worker's {name} process writes one every 5 s; {required})")
        elif age > max_age_s:
            problems.append(f"newest {name} heartbeat is {age:.0f} s old ({required})")
    if problems:
        return "; ".join(problems)
    for status in statuses:
        waited = float(status.get("write_waiting_s") or 0)
        if heartbeat_age(status, now) <= max_age_s and waited > write_stuck_s:
            error = status.get("write_error") or "no answer yet"
            return f"worker {status.get('id')}: a graph write has waited {waited:.0f} s for Neo4j ({error})"
    return "ok"


def dead_letter_summary(letters: Sequence[Mapping[str, Any]], latest: int = 50) -> dict[str, Any]:
    """Counts per (stage, reason) over the letters read, and the newest `latest` of them."""
    counts = Counter((str(d.get("stage", "")), str(d.get("reason", ""))) for d in letters)
    return {
        "read": len(letters),
        "reasons": [{"stage": s, "reason": r, "count": n} for (s, r), n in counts.most_common()],
        "latest": [dict(d) for d in letters[:latest]],
    }


async def lag_report(settings: Settings, graph: GraphStore, now: float | None = None) -> dict[str, Any]:
    """`tiegraph lag --json` and `GET /v1/ops/lag`: lag detail, freshness per stage and at the graph.

    Kafka being down raises StreamUnavailable; Neo4j being down leaves `graph` empty with an `error`.
    """
    rows = await read_lag(settings.kafka_bootstrap, settings.app_id, topic_names(settings).all())
    oldest = await oldest_waiting_ms(settings.kafka_bootstrap, rows)
    now = time.time() if now is None else now
    doc = summarize(rows)
    doc["stages"] = stage_freshness(rows, oldest, settings.topic_prefix, now)
    try:
        statuses = await graph.worker_statuses(settings.app_id)
        doc["graph"] = graph_freshness(statuses, now, settings.heartbeat_max_age_s)
    except GraphUnavailable as exc:
        doc["graph"] = {"error": str(exc)}
    doc["at"] = now
    return doc


async def dead_letters_report(settings: Settings, latest: int = 50) -> dict[str, Any]:
    """Dead-letter reasons from the tail of the dead-letter topic."""
    letters = await latest_dead_letters(settings.kafka_bootstrap, topic_names(settings)[t.DEAD_LETTERS])
    return dead_letter_summary(letters, latest)


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}s"


def format_lag_report(doc: Mapping[str, Any]) -> str:
    """The human form of `tiegraph lag`."""
    graph = doc.get("graph") or {}
    lines = [f"total lag: {doc['total_lag']}"]
    if "error" in graph:
        lines.append(f"graph freshness unknown: {graph['error']}")
    else:
        lines.append(
            f"graph: newest record {_seconds(graph.get('newest_origin_age_s'))} old, event-to-graph "
            f"p50 {_seconds(graph.get('delay_p50_s'))} p99 {_seconds(graph.get('delay_p99_s'))}, "
            f"graph writers alive {graph.get('workers_alive', 0)} (heartbeat {_seconds(graph.get('heartbeat_age_s'))} "
            f"ago), stream-stage processes alive {graph.get('stage_workers_alive', 0)}"
        )
    for stage, entry in (doc.get("stages") or {}).items():
        lines.append(f"  {stage:<13} lag {entry['lag']:>8}  oldest waiting {_seconds(entry['oldest_waiting_s'])}")
    for row in doc["partitions"]:
        lines.append(
            f"    {row['topic']:<24} p{row['partition']:<3} committed {row['committed']:>9}  "
            f"end {row['end']:>9}  lag {row['lag']:>7}"
        )
    return "\n".join(lines)
