"""The CPU time of each stage's own work on the bench corpus, without Kafka, Faust or Neo4j.

    .venv/bin/python bench/profile_core.py [--messages 50000] [--repeat 5]

End-to-end runs (bench/profile_worker.py) vary by ±15 % on this shared 2-core machine, more than
most single changes to the core are worth: this measures the pure part of each stage (decoding,
deriving, applying, encoding what is sent and stored, making graph rows) deterministically, as
the best process time of `--repeat` passes, so that such a change can be judged on its own.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from tiegraph.bench import pipeline as p
from tiegraph.core.interactions import derive_interactions
from tiegraph.core.model import TieModel
from tiegraph.core.records import Interaction, MailMessage
from tiegraph.core.ties import Tie, apply_interactions
from tiegraph.graph.neo4j import tie_row
from tiegraph.streams import topics as t
from tiegraph.streams.state import tie_records

MODEL = TieModel()
BATCH = 2000  # the stages' default batch size (Settings.stream_batch_size)


def best_of(repeat: int, work: Callable[[], int]) -> tuple[float, int]:
    """(the least process time of `repeat` runs of `work`, what it returned)."""
    best, result = float("inf"), 0
    for _ in range(repeat):
        started = time.process_time()
        result = work()
        best = min(best, time.process_time() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--people", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    corpus = p._corpus(args.messages, args.people, "bench-core")
    interactions: list[tuple[str, bytes]] = []
    updates: list[bytes] = []

    def derive() -> int:
        interactions.clear()
        for _, value in corpus:
            for found in derive_interactions(MailMessage.from_dict(t.decode(value)), MODEL):
                key = t.pair_key(found.tenant, found.a, found.b).decode()
                interactions.append((key, t.encode({**found.to_dict(), "origin_ms": 0})))
        return len(interactions)

    def aggregate() -> int:
        updates.clear()
        ties: dict[str, Tie] = {}
        for start in range(0, len(interactions), BATCH):
            batch = interactions[start : start + BATCH]
            keyed = [(key, Interaction.from_dict(t.decode(v)), start + i) for i, (key, v) in enumerate(batch)]
            for key in apply_interactions(ties, keyed, lambda _: MODEL):
                update = ties[key].to_update()
                state, _ = tie_records(key, ties[key], update, 512)
                updates.append(t.encode(update))
                orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS)  # what the table's codec does
        return len(updates)

    def write() -> int:
        return len([tie_row(t.decode(u), ("example.com",)) for u in updates])

    for stage, work, unit in (("derive", derive, "interactions"), ("aggregate", aggregate, "tie updates")):
        seconds, made = best_of(args.repeat, work)
        print(f"{stage:>9}: {seconds:.3f} s CPU, {made:,} {unit} from {args.messages:,} messages")
    seconds, rows = best_of(args.repeat, write)
    print(f"{'write':>9}: {seconds:.3f} s CPU, {rows:,} graph rows")


if __name__ == "__main__":
    main()
