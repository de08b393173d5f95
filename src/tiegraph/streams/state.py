"""In-memory views over the worker's changelogged tables, rebuilt after every rebalance.

A table is restored from its changelog after a crash or a rebalance, so anything derived from it
is dropped when the consumer generation changes and recomputed from the table.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar, cast

from faust.stores.memory import Store as MemoryStore
from faust.types import EventT, TableT

from tiegraph.core.ties import Tie
from tiegraph.streams.delivery import read

T = TypeVar("T")


class DistinctCounts:
    """Keys per (tenant, source partition) of a changelogged table, counted from the table itself:
    after a crash the table is restored from its changelog and the count can never disagree
    with the keys it counts. Recounted once per consumer generation, then kept up to date by the
    stage noting its new keys, which reach the table only when their batch settles
    (`BatchDelivery.write`), after they are noted."""

    def __init__(self, table: TableT[str, Any], partition_of: Callable[[Any], int]) -> None:
        self._table, self._partition_of = table, partition_of
        self._counts: Counter[tuple[str, int]] = Counter()
        self._generation: object = None

    def current(self, tenant: str, partition: int, generation: object, new_key: bool) -> int:
        """The count of `tenant`'s keys from `partition`, with `new_key` (not in the table yet).
        Counted from the table here if `prime` has not counted it in this generation."""
        if generation != self._generation:
            self._counts, self._generation = Counter(self._slot(k, v) for k, v in self._table.items()), generation
        slot = (tenant, partition)
        if new_key:
            self._counts[slot] += 1
        return self._counts[slot]

    async def prime(self, generation: object) -> None:
        """Count every slot from the table unless counted in this generation already, letting the
        event loop run as it scans (`scan_items`): a table can hold tens of millions of keys, and a
        scan that blocked the loop for seconds would miss the consumer's heartbeats and bring on
        the next rebalance.

        One scan for all slots, not one per slot (that was one per tenant and partition)."""

        async def count() -> Counter[tuple[str, int]]:
            counts: Counter[tuple[str, int]] = Counter()
            async for key, value in scan_items(self._table):
                counts[self._slot(key, value)] += 1
            return counts

        if generation != self._generation:
            self._counts, self._generation = await rescanned(count), generation

    def _slot(self, key: str, value: Any) -> tuple[str, int]:
        return key.partition("|")[0], self._partition_of(value)


SCAN_CHUNK = 10_000
R = TypeVar("R")


async def rescanned(scan: Callable[[], Awaitable[R]]) -> R:
    """What `scan()` (a whole-table scan) returns, scanning again from the start if a rebalance
    opened one of the table's RocksDB databases meanwhile (its iteration then raises)."""
    while True:
        try:
            return await scan()
        except RuntimeError as exc:
            if "during iteration" not in str(exc):
                raise
            await asyncio.sleep(0)


async def scan_items(table: TableT[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    """The table's items, letting the event loop run every SCAN_CHUNK of them (a whole-table scan
    with the RocksDB store reads and decodes every key from disk)."""
    async for item in _yielding(_scannable(table, table.items)):
        yield item


async def scan_keys(table: TableT[str, Any]) -> AsyncIterator[str]:
    """The table's keys, as `scan_items` (RocksDB: without reading and decoding the values)."""
    async for key in _yielding(_scannable(table, table.keys)):
        yield key


async def _yielding(items: Iterable[T]) -> AsyncIterator[T]:
    for scanned, item in enumerate(items, start=1):
        yield item
        if scanned % SCAN_CHUNK == 0:
            await asyncio.sleep(0)


def _scannable(table: TableT[str, Any], view: Callable[[], Iterable[T]]) -> Iterable[T]:
    """`view()` of the table, safe to iterate across awaits: the memory store's is over a dict that
    the standby replicas' restorer writes to meanwhile, so copied first (in one pass without
    awaits); the RocksDB store's iterators read a snapshot."""
    if isinstance(getattr(table, "data", None), MemoryStore):
        return list(view())
    return view()


class BatchCounts:
    """The latest absolute count per (tenant, name, source partition) seen in one batch: one
    counter record per slot per batch instead of one per record. Duplicates are noted too: a count
    sent just before a crash may never have arrived."""

    def __init__(self, generation: object) -> None:
        self._generation = generation
        self.rows: dict[bytes, dict[str, Any]] = {}

    def note(self, partition: int, tenant: str, name: str, counts: DistinctCounts, new_key: bool) -> None:
        value = counts.current(tenant, partition, self._generation, new_key)
        row = {"tenant": tenant, "name": name, "partition": partition, "value": value}
        self.rows[f"{tenant}|{name}|{partition}".encode()] = row


def applied_key(pair_key: str, period: int) -> str:
    """The key of a spilled tie's ids of one period in table `tie_applied`."""
    return f"{pair_key}|{period}"


def applied_pair(stored_key: str) -> str:
    """The pair key of an `applied_key` (a period holds no "|")."""
    return stored_key.rpartition("|")[0]


def tie_records(
    key: str, tie: Tie, update: dict[str, Any], inline_ids: int
) -> tuple[dict[str, Any], list[tuple[str, list[int]]]]:
    """What to store for a tie just changed: its state for `tie_states`, and the periods of ids
    to store apart in `tie_applied` ((key, ids); once the tie holds over `inline_ids` ids)."""
    if not tie.spilled and tie.interactions > inline_ids:
        tie.spill()
    return tie.to_state(update), [
        (applied_key(key, period), tie.applied.stored_form(period)) for period in tie.take_touched_periods()
    ]


class TieCache:
    """Decoded ties by pair key, so a busy tie's state is parsed once, not once per interaction.
    The tables stay the truth (the aggregate writes both); the cache starts empty with each
    consumer generation, since the tables may have been restored from their changelogs, and keeps
    the most recently used ties only (`trim`): a worker's tables can hold millions of ties (on disk
    with the RocksDB store), and a decoded tie takes ~2.4 KB."""

    def __init__(self, table: TableT[str, Any], applied: TableT[str, Any]) -> None:
        self._table, self._applied = table, applied
        # An OrderedDict: trimming pops from the front, which a dict's iteration pays for with a
        # scan past every slot deleted since its last resize (4.5 % of the worker at 1M ties).
        self._ties: OrderedDict[str, Tie] = OrderedDict()
        self._generation: object = None

    def for_batch(self, sources: Mapping[str, EventT[Any]], generation: object) -> dict[str, Tie]:
        """The ties of the keys of `sources` that exist (plus any already cached), each key read
        for the event it came with (`read`); new ties are added by the caller."""
        if generation != self._generation:
            self._ties.clear()
            self._generation = generation
        ties = self._ties
        for key, source in sources.items():
            tie = ties.pop(key, None)  # and put back last: the dict's order is the order of use
            if tie is None:
                state = read(self._table, key, source)
                if state:
                    tie = Tie.from_state(state, functools.partial(self._stored_ids, key, source))
            if tie is not None:
                ties[key] = tie
        return ties

    def trim(self, most: int) -> None:
        """Keep the `most` most recently used ties. Only between batches, once a batch's writes are
        stored: an evicted tie is read back from the tables as it was stored."""
        ties = self._ties
        while len(ties) > most:
            ties.popitem(last=False)

    def _stored_ids(self, key: str, source: EventT[Any], period: int) -> list[int] | None:
        return cast(list[int] | None, read(self._applied, applied_key(key, period), source))

    async def erase(self, keys: Collection[str]) -> dict[str, str]:
        """Forget the ties of `keys` (erased pairs); their keys in `tie_applied` to delete, each
        with its pair key: every period stored for the pair, not only those its state lists (a
        crash can land a period whose state did not). One scan of that table's keys per batch that
        erases (erasure is rare, and `tie_applied` holds only the busiest ties), letting the event
        loop run meanwhile: at millions of ties it is not small."""
        for key in keys:
            self._ties.pop(key, None)
        if not keys:
            return {}

        async def stored_periods() -> dict[str, str]:
            return {stored: pair async for stored in scan_keys(self._applied) if (pair := applied_pair(stored)) in keys}

        return await rescanned(stored_periods)

    def forget(self) -> None:
        """Drop every cached tie (they are read from the table again when next needed)."""
        self._ties.clear()
