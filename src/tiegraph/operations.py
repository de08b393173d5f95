"""The operator's view of the pipeline, shared by `tiegraph lag`, `GET /v1/ops/lag` and the ops page:
lag per partition, freshness per stage and at the graph, worker heartbeats, dead letters.

Pure summaries (`stage_freshness`, `graph_freshness`, `dead_letter_summary`) take `now` as an
argument; `lag_report` gathers the readings from Kafka and Neo4j.
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


def graph_freshness(statuses: Sequence[Mapping[str, Any]], now: float, max_age_s: float) -> dict[str, Any]:
    """What reached the graph, from the workers' heartbeats (newest first)."""
    newest_origin_ms = max((int(s.get("last_origin_ms") or 0) for s in statuses), default=0)
    heartbeat_at = max((float(s.get("heartbeat_at") or 0) for s in statuses), default=0.0)
    live = [s for s in statuses if now - float(s.get("heartbeat_at") or 0) <= max_age_s]
    latest = live[0] if live else (statuses[0] if statuses else {})
    return {
        "newest_origin_ms": newest_origin_ms or None,
        "newest_origin_age_s": round(now - newest_origin_ms / 1000, 3) if newest_origin_ms else None,
        "delay_p50_s": latest.get("delay_p50_s"),
        "delay_p99_s": latest.get("delay_p99_s"),
        "heartbeat_age_s": round(now - heartbeat_at, 3) if heartbeat_at else None,
        "workers_alive": len(live),
    }


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
            f"workers alive {graph.get('workers_alive', 0)}, heartbeat {_seconds(graph.get('heartbeat_age_s'))} ago"
        )
    for stage, entry in (doc.get("stages") or {}).items():
        lines.append(f"  {stage:<13} lag {entry['lag']:>8}  oldest waiting {_seconds(entry['oldest_waiting_s'])}")
    for row in doc["partitions"]:
        lines.append(
            f"    {row['topic']:<24} p{row['partition']:<3} committed {row['committed']:>9}  "
            f"end {row['end']:>9}  lag {row['lag']:>7}"
        )
    return "\n".join(lines)
