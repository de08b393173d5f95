"""A tie's stored state and its applied ids stored apart (streams/state.py, core/ties.py): however a
crash splits a batch's writes, replaying from the last commit ends with the ties a clean run makes
(erase commands included, and nothing of an erased tie left), and a busy tie's state record stays
small."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from faust.types import EventT, TableT

from tiegraph.core.model import DAY, TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie, apply_interactions
from tiegraph.streams.state import TieCache, applied_key, tie_records

MODEL = TieModel()
T0 = 1_700_000_000.0
PAIRS = [("t|ann|bob", "ann", "bob"), ("t|ann|cat", "cat", "ann"), ("t|bob|dan", "bob", "dan")]


Stream = list[tuple[str, Interaction | None]]  # (pair key, interaction or None: an erase command)


def interaction_stream(rng: random.Random, distinct: int, erases: int = 0) -> Stream:
    """`distinct` interactions over two years on three pairs, with copies (derive replaying after a
    crash, a mailbox imported twice) placed anywhere after their originals, and `erases` erase
    commands anywhere."""
    stream: Stream = []
    for n in range(distinct):
        key, a, b = rng.choice(PAIRS)
        sender, recipient = (a, b) if rng.random() < 0.6 else (b, a)
        kind = rng.choice(["to", "to", "cc", "reply", "meeting"])
        at = T0 + rng.uniform(0, 730 * DAY)
        stream.append((key, Interaction("t", sender, recipient, kind, 1.0, at, f"m{n}", thread=f"th{n % 7}")))
    for _ in range(distinct // 3):
        original = rng.randrange(len(stream))
        stream.insert(rng.randrange(original + 1, len(stream) + 1), stream[original])
    for _ in range(erases):
        stream.insert(rng.randrange(len(stream) + 1), (rng.choice(PAIRS)[0], None))
    return stream


class JsonTable(dict[str, str]):
    """A table as a restart restores it from its changelog: each value decoded afresh when read,
    so a tie never shares lists with what was stored (a crashed batch's changes stay unstored)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        stored = super().get(key)
        return default if stored is None else json.loads(stored)


@dataclass
class Tables:
    """The two tables as their changelogs would restore them."""

    states: JsonTable = field(default_factory=JsonTable)
    applied: JsonTable = field(default_factory=JsonTable)
    crashes: int = 0
    split_crashes: int = 0  # crashes where a state and its ids stored apart did not land together
    erased_apart: int = 0  # periods of ids stored apart that erase commands deleted

    def store(self, table: JsonTable, key: str, value: Any) -> None:
        if value is None:  # a tombstone
            table.pop(key, None)
        else:
            table[key] = json.dumps(value)

    def orphans(self) -> list[str]:
        """Ids stored apart that no state lists: nothing would ever read or delete them."""
        states = {key: self.states.get(key) for key in self.states}
        listed = {applied_key(k, p) for k, state in states.items() for p in state.get("applied_periods") or ()}
        return sorted(set(self.applied) - listed)


class Source:
    """Stands in for the event a key came with (a table read makes it Faust's current event)."""


def sources(keys: Iterable[str]) -> dict[str, EventT[Any]]:
    return {key: cast(EventT[Any], Source()) for key in keys}


def run_aggregate(
    stream: Stream, rng: random.Random, crash_rate: float, inline_ids: int, cached: int = 100
) -> tuple[dict[str, Tie], Tables]:
    """What the aggregate agent (streams/app.py) does with the stream (offset = position), in
    batches; a crash lands a random part of the batch's writes and the stage starts again from its
    last commit."""
    tables = Tables()
    cache = TieCache(cast(TableT[str, Any], tables.states), cast(TableT[str, Any], tables.applied))
    generation = committed = 0
    while committed < len(stream):
        size = rng.randint(1, 40)
        taken = stream[committed:][:size]
        keyed: list[tuple[str, Interaction, int | None]] = []
        erased: set[str] = set()
        for i, (key, interaction) in enumerate(taken):
            if interaction is None:
                erased.add(key)
                keyed = [item for item in keyed if item[0] != key]
            else:
                keyed.append((key, interaction, committed + i))
        loaded = cache.for_batch(sources(key for key, _, _ in keyed if key not in erased), generation)
        erased_applied = asyncio.run(cache.erase(erased))
        changed = apply_interactions(loaded, keyed, lambda tenant: MODEL)
        writes: list[tuple[JsonTable, str, Any]] = [(tables.states, key, None) for key in erased - set(changed)]
        writes += [(tables.applied, stored, None) for stored in erased_applied]
        tables.erased_apart += len(erased_applied)
        for key in changed:
            state, spilled = tie_records(key, loaded[key], loaded[key].to_update(), inline_ids)
            writes.append((tables.states, key, state))
            writes += [(tables.applied, period_key, ids) for period_key, ids in spilled]
        if rng.random() < crash_rate:
            landed = [rng.random() < 0.5 for _ in writes]
            for (table, key, value), lands in zip(writes, landed, strict=True):
                if lands:
                    tables.store(table, key, value)
            tables.crashes += 1
            tables.split_crashes += any(landed) and not all(landed)
            generation += 1  # the cache starts again from the restored tables; no commit
            continue
        for table, key, value in writes:
            tables.store(table, key, value)
        for key in changed:
            loaded[key].mark_stored()
        cache.trim(cached)
        committed += len(taken)
    restored = TieCache(cast(TableT[str, Any], tables.states), cast(TableT[str, Any], tables.applied))
    return restored.for_batch(sources(key for key, _, _ in PAIRS), "after"), tables


def stored_ids(tie: Tie) -> dict[int, list[int]]:
    return {period: tie.applied.stored_form(period) for period in tie.applied.periods()}


def test_crashes_splitting_a_batchs_writes_leave_the_ties_of_a_clean_run() -> None:
    crashes = split = spilled = erased = 0
    for seed in range(100):
        stream = interaction_stream(random.Random(seed), distinct=120, erases=seed % 3)
        clean, _ = run_aggregate(stream, random.Random(seed), crash_rate=0.0, inline_ids=10**9)
        if seed % 3 == 0:  # no erases: every distinct interaction counted once
            distinct = {key: {i.id for k, i in stream if k == key and i} for key, _, _ in PAIRS}
            assert {key: tie.interactions for key, tie in clean.items()} == {k: len(i) for k, i in distinct.items()}
        for inline_ids, cached in ((1, 100), (4, 1), (30, 2)):  # a small cache reads ties back often
            crashed, tables = run_aggregate(stream, random.Random(seed + 1000), 0.3, inline_ids, cached)
            assert {k: t.to_update() for k, t in crashed.items()} == {k: t.to_update() for k, t in clean.items()}, seed
            assert {k: stored_ids(t) for k, t in crashed.items()} == {k: stored_ids(t) for k, t in clean.items()}, seed
            assert tables.orphans() == [], seed  # an erased tie's ids are deleted, however the crash fell
            crashes, split = crashes + tables.crashes, split + tables.split_crashes
            spilled += sum(tie.spilled for tie in crashed.values())
            erased += tables.erased_apart
    # the runs really crashed, split, spilled, and erased ties whose ids were stored apart
    assert crashes > 800 and split > 600 and spilled > 300 and erased > 200


def test_a_busy_ties_state_record_stays_small_and_its_ids_are_kept() -> None:
    rng = random.Random(7)
    stream = [
        ("t|ann|bob", Interaction("t", "ann", "bob", "to", 1.0, T0 + rng.uniform(0, 730 * DAY), f"m{n}"))
        for n in range(5_000)
    ]
    ties, tables = run_aggregate(stream, rng, crash_rate=0.0, inline_ids=512)
    tie = ties["t|ann|bob"]
    assert tie.spilled and tie.interactions == 5_000
    # without ids: a day number per day with contact and a period number per 32 days
    assert len(tables.states["t|ann|bob"]) < 8_000  # ids inside took ~150 KB
    assert max(len(stored) for stored in tables.applied.values()) < 10_000  # ~220 ids per period
    again = stream[1_234][1]
    assert apply_interactions(ties, [("t|ann|bob", again, len(stream) + 5)], lambda tenant: MODEL) == []


def test_the_tie_cache_keeps_the_most_recently_used_ties_and_reads_the_others_back() -> None:
    tables = Tables()
    cache = TieCache(cast(TableT[str, Any], tables.states), cast(TableT[str, Any], tables.applied))
    stream = [(key, Interaction("t", a, b, "to", 1.0, T0 + n, f"m{n}")) for n, (key, a, b) in enumerate(PAIRS * 2)]
    keyed: list[tuple[str, Interaction, int | None]] = [(k, i, n) for n, (k, i) in enumerate(stream)]
    loaded = cache.for_batch({}, "gen")
    for key in apply_interactions(loaded, keyed, lambda tenant: MODEL):
        tables.store(tables.states, key, tie_records(key, loaded[key], loaded[key].to_update(), 512)[0])
    before = {key: tie.to_update() for key, tie in loaded.items()}
    cache.for_batch(sources([PAIRS[0][0]]), "gen")  # used last
    cache.trim(1)
    assert list(cache.for_batch({}, "gen")) == [PAIRS[0][0]]
    again = cache.for_batch(sources(key for key, _, _ in PAIRS), "gen")  # the others read back from the table
    assert {key: tie.to_update() for key, tie in again.items()} == before
