"""The tie-strength model: idempotent, order-independent, reciprocity-gated, decaying."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiegraph.core.model import DAY, TieModel
from tiegraph.core.records import Interaction
from tiegraph.core.ties import (
    AppliedIds,
    Tie,
    apply_interaction,
    apply_interactions,
    score_tie,
    strength_bound,
    strength_bound_key,
)
from tiegraph.graph.neo4j import tie_props

MODEL = TieModel()
T0 = 1_700_000_000.0


def contact(
    a: str, b: str, at: float, source: str, kind: str = "to", weight: float = 1.0, thread: str = ""
) -> Interaction:
    return Interaction(tenant="t", a=a, b=b, kind=kind, weight=weight, at=at, source=source, thread=thread)


def tie_of(interactions: list[Interaction]) -> Tie:
    tie = Tie.for_pair("t", "ann", "bob")
    for interaction in interactions:
        apply_interaction(tie, interaction, MODEL)
    return tie


def test_replayed_interaction_changes_nothing() -> None:
    tie = Tie.for_pair("t", "ann", "bob")
    first = contact("ann", "bob", T0, "m1")
    assert apply_interaction(tie, first, MODEL) is True
    before = tie.to_state()
    assert apply_interaction(tie, first, MODEL) is False
    assert tie.to_state() == before


interaction_lists = st.lists(
    st.tuples(st.booleans(), st.floats(0, 3 * 365 * DAY), st.sampled_from(["to", "cc", "reply", "meeting"])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(interaction_lists, st.randoms())
def test_applying_in_any_order_gives_the_same_tie(events: list[tuple[bool, float, str]], rnd: random.Random) -> None:
    interactions = [
        contact("ann" if forward else "bob", "bob" if forward else "ann", T0 + offset, f"m{i}", kind)
        for i, (forward, offset, kind) in enumerate(events)
    ]
    shuffled = interactions[:]
    rnd.shuffle(shuffled)
    one, two = tie_of(interactions), tie_of(shuffled)
    for name in ("fast_ab", "slow_ab", "fast_ba", "slow_ba", "ref_at", "first_at", "last_at"):
        assert math.isclose(getattr(one, name), getattr(two, name), rel_tol=1e-9, abs_tol=1e-12), name
    assert one.counts == two.counts and one.days == two.days


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=12), st.randoms())
def test_whose_turn_it_is_does_not_depend_on_arrival_order(events: list[tuple[bool, int]], rnd: random.Random) -> None:
    # few distinct seconds: messages of the same second in both directions (the soak found a tie
    # whose awaiting counts were swapped after a crash replay delivered two of them the other way)
    interactions = [
        contact("ann" if forward else "bob", "bob" if forward else "ann", T0 + second, f"m{i}", thread="t1")
        for i, (forward, second) in enumerate(events)
    ]
    shuffled = interactions[:]
    rnd.shuffle(shuffled)
    one, two = tie_of(interactions).to_update(), tie_of(shuffled).to_update()
    assert {k: v for k, v in one.items() if "awaiting" in k or "repl" in k} == {
        k: v for k, v in two.items() if "awaiting" in k or "repl" in k
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5000), st.integers(0, 40)), min_size=1, max_size=200))
def test_reply_totals_kept_per_turn_equal_a_full_recount(events: list[tuple[bool, int, int]]) -> None:
    # up to 41 threads and 200 turns: conversations and turns are dropped (settled) on the way
    tie = Tie.for_pair("t", "ann", "bob")
    for i, (forward, second, thread) in enumerate(events):
        sender, recipient = ("ann", "bob") if forward else ("bob", "ann")
        apply_interaction(tie, contact(sender, recipient, T0 + second, f"m{i}", thread=f"t{thread}"), MODEL)
        kept = tie.reply_totals()  # from the first turn on, the totals are kept, not recounted
        recounted = Tie.from_state(tie.to_state()).reply_totals()
        assert kept == recounted


@given(st.integers(1, 400))
def test_one_way_contact_stays_weak_however_frequent(count: int) -> None:
    tie = tie_of([contact("ann", "bob", T0 + i * 3600, f"m{i}") for i in range(count)])
    score = score_tie(tie, T0 + count * 3600, MODEL)
    assert score.reciprocity == 0
    assert score.strength <= MODEL.one_way_cap
    assert score.band == "weak"


def test_reciprocated_contact_outranks_one_way_contact_of_the_same_volume() -> None:
    one_way = tie_of([contact("ann", "bob", T0 + i * DAY, f"m{i}") for i in range(10)])
    both = tie_of(
        [contact("ann" if i % 2 else "bob", "bob" if i % 2 else "ann", T0 + i * DAY, f"m{i}") for i in range(10)]
    )
    now = T0 + 11 * DAY
    assert score_tie(both, now, MODEL).strength > score_tie(one_way, now, MODEL).strength


def test_strength_decays_with_silence() -> None:
    tie = tie_of(
        [contact("ann" if i % 2 else "bob", "bob" if i % 2 else "ann", T0 + i * DAY, f"m{i}") for i in range(20)]
    )
    scores = [score_tie(tie, T0 + days * DAY, MODEL).strength for days in (20, 120, 400, 1500)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < scores[0] / 2


def test_reply_outweighs_direct_to_and_cc() -> None:
    kinds = MODEL.kind_weights
    assert kinds["meeting"] > kinds["reply"] > kinds["to"] > kinds["cc"]


def test_a_meeting_counts_both_ways() -> None:
    tie = tie_of([contact("ann", "bob", T0, "meet1", kind="meeting", weight=2.0)])
    assert tie.fast_ab == tie.fast_ba == 2.0 and tie.count("meeting") == 1
    assert score_tie(tie, T0, MODEL).reciprocity == pytest.approx(1.0)


def test_a_retracted_meeting_is_undone() -> None:
    tie = tie_of(
        [
            contact("ann", "bob", T0, "m|v1", kind="meeting", weight=2.0),
            contact("ann", "bob", T0 + DAY, "x", kind="to"),
            contact("ann", "bob", T0, "m|v1-retracted", kind="meeting", weight=-2.0),
        ]
    )
    assert tie.count("meeting") == 0
    assert tie.fast_ba == pytest.approx(0.0, abs=1e-12)


def test_state_round_trips_through_the_table_form() -> None:
    tie = tie_of(
        [contact("ann", "bob", T0, "m1", thread="x"), contact("bob", "ann", T0 + 60, "m2", kind="reply", thread="x")]
    )
    again = Tie.from_state(tie.to_state())
    assert again.to_state() == tie.to_state()


def test_whose_turn_it_is_follows_the_latest_message_even_when_it_arrives_first() -> None:
    ask = contact("ann", "bob", T0, "m1", thread="budget")
    answer = contact("bob", "ann", T0 + 7200, "m2", kind="reply", thread="budget")
    follow_up = contact("ann", "bob", T0 + DAY, "m3", thread="budget")
    tie = tie_of([follow_up, answer, ask])
    assert tie.awaiting("b") == (1, T0 + DAY)  # bob owes ann an answer
    assert tie.awaiting("a") == (0, 0.0)
    assert tie.replies("ba") == (7200.0, 1)


def test_model_overrides_reject_unknown_parameters() -> None:
    assert TieModel().with_overrides({"fast_half_life_days": 30}).fast_half_life == 30 * DAY
    with pytest.raises(ValueError, match="unknown"):
        TieModel().with_overrides({"halflife": 3})


def test_model_overrides_merge_kind_weights_and_refuse_nonsense() -> None:
    tuned = TieModel().with_overrides({"kind_weights": {"reply": 3}, "one_way_cap": 0.1})
    assert tuned.kind_weights == {**MODEL.kind_weights, "reply": 3} and tuned.one_way_cap == 0.1
    for bad in (
        {"one_way_cap": "high"},
        {"one_way_cap": -1},
        {"kind_weights": {"letter": 1}},
        {"max_recipients": True},
    ):
        with pytest.raises(ValueError):
            TieModel().with_overrides(bad)


def test_a_batch_changes_each_tie_once_and_matches_one_by_one_application() -> None:
    batch: list[tuple[str, Interaction, int | None]] = [
        ("t|ann|bob", contact("ann", "bob", T0, "m1"), 10),
        ("t|ann|cat", contact("cat", "ann", T0 + 60, "m2"), 11),
        ("t|ann|bob", contact("bob", "ann", T0 + 120, "m3", kind="reply"), 12),
        ("t|ann|bob", contact("ann", "bob", T0, "m1"), 13),  # a copy (derive's replay) inside the batch
    ]
    ties: dict[str, Tie] = {}
    assert apply_interactions(ties, batch, lambda tenant: MODEL) == ["t|ann|bob", "t|ann|cat"]
    assert ties["t|ann|bob"].to_update() == tie_of([batch[0][1], batch[2][1]]).to_update()
    assert ties["t|ann|bob"].offset == 13 and ties["t|ann|bob"].interactions == 2
    assert apply_interactions(ties, batch, lambda tenant: MODEL) == []  # the stage's own replay: all reflected


def test_a_copy_is_not_counted_again_at_any_later_offset() -> None:
    tie = Tie.for_pair("t", "ann", "bob")
    first = contact("ann", "bob", T0, "m1")
    assert apply_interaction(tie, first, MODEL, offset=5)
    before = tie.to_update()
    assert not apply_interaction(tie, first, MODEL, offset=9_000_000)
    assert tie.to_update() == before


def test_a_state_from_before_ids_were_grouped_by_period_still_knows_them() -> None:
    tie = tie_of([contact("ann", "bob", T0, "m1")])
    [stored] = tie.to_state()["applied"].values()  # [hash, offset]
    legacy = {**tie.to_state(), "applied": stored[:1]}  # hashes alone
    restored = Tie.from_state(legacy)
    assert not apply_interaction(restored, contact("ann", "bob", T0, "m1"), MODEL, offset=3)
    assert apply_interaction(restored, contact("ann", "bob", T0 + 60, "m2"), MODEL, offset=4)
    assert restored.interactions == 2 and restored.count("to", "ab") == 2


@given(
    puts=st.lists(st.tuples(st.integers(0, 3), st.integers(-(2**63), 2**63 - 1), st.integers(-1, 10)), max_size=40),
    copies=st.lists(st.integers(0, 39), max_size=10),
    asks=st.sets(st.integers(0, 50), max_size=8),
)
def test_the_stored_form_kept_between_writes_is_the_one_regrouping_makes(
    puts: list[tuple[int, int, int]], copies: list[int], asks: set[int]
) -> None:
    """Ids put between two states (new ones, and ones counted again at another offset) give the
    stored form that regrouping all the ids gives; what was handed out is never changed after."""
    applied, never_asked, handed_out = AppliedIds(), AppliedIds(), []
    steps = puts + [(p, e, o + 1) for p, e, o in (puts[i] for i in copies if i < len(puts))]
    for n, (period, effect, offset) in enumerate(steps):
        if n in asks:
            form = applied.stored_forms()
            handed_out.append((form, {k: list(v) for k, v in form.items()}))
        applied.put(period, effect, offset)
        never_asked.put(period, effect, offset)
    assert applied.stored_forms() == never_asked.stored_forms()
    assert all(form == snapshot for form, snapshot in handed_out)


@given(
    sums=st.lists(st.floats(min_value=0.0, max_value=500.0), min_size=4, max_size=4),
    ref_at=st.floats(min_value=1.0e9, max_value=2.0e9),
    later=st.floats(min_value=-400 * DAY, max_value=4000 * DAY),
    half_lives=st.tuples(st.floats(min_value=1.0, max_value=730.0), st.floats(min_value=1.0, max_value=730.0)),
)
def test_no_tie_ever_scores_above_its_strength_bound(
    sums: list[float], ref_at: float, later: float, half_lives: tuple[float, float]
) -> None:
    model = TieModel(fast_half_life_days=half_lives[0], slow_half_life_days=half_lives[1])
    tie = Tie(
        tenant="t", a="a", b="b", ref_at=ref_at, fast_ab=sums[0], fast_ba=sums[1], slow_ab=sums[2], slow_ba=sums[3]
    )
    key = strength_bound_key(tie.fast_ab, tie.fast_ba, tie.slow_ab, tie.slow_ba, tie.ref_at)
    assert score_tie(tie, ref_at + later, model).strength <= strength_bound(key, ref_at + later, model) + 1e-12


def test_a_model_with_longer_half_lives_than_the_bound_gets_no_pruning() -> None:
    key = strength_bound_key(1.0, 1.0, 1.0, 1.0, 1.7e9)
    assert strength_bound(key, 1.8e9, TieModel(slow_half_life_days=3650)) == 1.0
    assert strength_bound(key, 1.8e9, TieModel()) < 0.3


def test_an_update_counts_the_contact_days_that_the_state_keeps() -> None:
    tie = tie_of([contact("ann", "bob", T0 + day * DAY + 60 * i, f"m{day}-{i}") for day in range(5) for i in range(2)])
    update = tie.to_update()
    assert update["days"] == 5  # the graph keeps only the count
    assert Tie.from_state(tie.to_state(update)).days == tie.days  # the state keeps the days themselves
    # a tie update written before updates carried the count (a list of days) is written alike
    assert tie_props(update)["days"] == tie_props({**update, "days": sorted(tie.days)})["days"] == 5
