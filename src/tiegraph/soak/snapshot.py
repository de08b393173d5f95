"""What a run leaves in the graph for a tenant, and how two runs differ: the yardstick of the fault
tests and of `tiegraph soak` (a run with faults must equal a clean run of the same input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiegraph.graph.neo4j import GraphStore

# Answer statistics depend on the order a pair's interactions arrive in once a conversation
# outgrows core/ties.py MAX_TURNS and an older message arrives late (the evicted answer is settled
# as seen at that moment). The interleaving of derive's partitions into interactions.v1 differs
# between any two runs, crash or not; all other evidence and every count do not. The tenant's
# name and the Kafka offset a tie was written from differ between runs by construction.
NOT_COMPARED = frozenset({"tenant", "update_offset", "reply_s_ab", "reply_s_ba", "replies_ab", "replies_ba"})

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class GraphSnapshot:
    stats: dict[str, int]
    ties: dict[Pair, dict[str, Any]]


def _rounded(value: Any) -> Any:
    """Decayed sums are order-independent up to float rounding: compare them to 9 digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


async def snapshot_graph(graph: GraphStore, tenant: str) -> GraphSnapshot:
    """The tenant's stats and every tie's evidence, without what differs between runs anyway."""
    ties = {
        (row["a"], row["b"]): {k: _rounded(v) for k, v in row["tie"].items() if k not in NOT_COMPARED}
        for row in await graph.tenant_ties(tenant)
    }
    return GraphSnapshot(await graph.stats(tenant), ties)


def graph_differences(run: GraphSnapshot, expected: GraphSnapshot) -> dict[str, Any]:
    """Everything `run` has that `expected` has not, and the other way round; {} when equal."""
    differences: dict[str, Any] = {}
    stats = {k: (v, expected.stats.get(k)) for k, v in run.stats.items() if v != expected.stats.get(k)}
    if stats:
        differences["stats"] = stats
    if missing := sorted(expected.ties.keys() - run.ties.keys()):
        differences["missing_ties"] = missing
    if extra := sorted(run.ties.keys() - expected.ties.keys()):
        differences["extra_ties"] = extra
    differing = {
        pair: {
            k: (tie.get(k), expected.ties[pair].get(k))
            for k in tie.keys() | expected.ties[pair].keys()
            if tie.get(k) != expected.ties[pair].get(k)
        }
        for pair, tie in run.ties.items()
        if pair in expected.ties and tie != expected.ties[pair]
    }
    if differing:
        differences["differing_ties"] = differing
    return differences
