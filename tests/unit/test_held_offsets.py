"""held_offsets: where a changelog partition's database stands after a batch's records are stored,
advanced only over records this worker wrote right after the last persisted offset."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from faust.types import TP

from tiegraph.streams.delivery import SentBatch, held_offsets

TOPIC = "app-tie_states-changelog"


class _Store:
    """A table store's persisted offsets, as `held_offsets` reads them."""

    def __init__(self, offsets: dict[int, int | None]) -> None:
        self._offsets = offsets

    def persisted_offset(self, tp: TP) -> int | None:
        return self._offsets[tp.partition]


def _stores(offsets: dict[int, int | None]) -> dict[str, Any]:
    return {TOPIC: _Store(offsets)}


def _sent(*batches: tuple[int, int, int]) -> tuple[list[SentBatch], list[Any]]:
    """(partition, first offset, records) per aiokafka batch, as send_batch's results give them."""
    sent = [SentBatch(TOPIC, records, cast(Any, None)) for _, _, records in batches]  # futures: settled
    results = [SimpleNamespace(partition=p, offset=first) for p, first, _ in batches]
    return sent, results


def test_records_right_after_the_persisted_offset_move_it_to_the_last_one() -> None:
    sent, results = _sent((0, 11, 5), (0, 16, 3), (1, 0, 2))
    assert held_offsets(sent, results, _stores({0: 10, 1: None})) == {TP(TOPIC, 0): 18, TP(TOPIC, 1): 1}


def test_a_gap_before_our_records_leaves_the_offset_for_a_replay() -> None:
    # offsets 11-14 were written by another worker that held the partition meanwhile
    sent, results = _sent((0, 15, 5), (1, 3, 1))
    assert held_offsets(sent, results, _stores({0: 10, 1: None})) == {}


def test_the_offset_stops_at_a_gap_between_two_of_our_batches() -> None:
    sent, results = _sent((0, 11, 2), (0, 20, 2))
    assert held_offsets(sent, results, _stores({0: 10})) == {TP(TOPIC, 0): 12}


def test_topics_that_are_not_changelogs_are_left_out() -> None:
    sent, results = _sent((0, 0, 4))
    assert held_offsets(sent, results, {}) == {}
