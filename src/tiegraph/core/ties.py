"""Tie state and strength: two-speed decayed intensity per direction, gated by reciprocity.

A tie stores decayed sums referenced to one time (`ref_at`); strength is computed at read time
for any `now`, so scores stay current without rewriting the graph. Applying an interaction is
order-independent (a sum of w * 2^(-(ref - t)/h)) and idempotent by interaction id.

The ids a tie has counted are kept for good (a copy of a message can be imported years later,
and derive's replays after a crash send copies at any distance), so they grow with the tie. They
are kept per period of the interactions' time: a copy has its original's time, so a check looks
in one period, and a busy tie's ids can be stored a period at a time beside its state (`spill`)
instead of inside a state record that would grow past Kafka's record limit (loading a tie after a
rebalance still reads all its periods).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tiegraph.core.model import DAY, TieModel
from tiegraph.core.records import Interaction

_DIRECTIONAL = ("to", "cc", "reply")
_TURN_KINDS = ("to", "reply")  # a Cc does not ask for an answer
MAX_CONVERSATIONS = 32  # per tie, the most recent; enough to know whose turn it is
MAX_TURNS = 16  # per conversation, the most recent messages (time order, so late arrivals fit in)
PERIOD = 32 * DAY  # applied ids are grouped by the period of the interaction's time
# A tie keeps the stored form of its ids between writes from this many ids (AppliedIds._forms):
# ~400 bytes a tie for a dict and its lists, which the 50,000 cached ties of a worker at 1M ties,
# most holding one or two ids, would pay for a saving of ~1 µs each.
FORMS_KEPT_FROM = 16
# Ids of states written before the grouping (their times unknown) go to one of these periods by
# their hash, where a check also looks: split, so that a long tie's old ids make no huge record.
LEGACY_BUCKETS = 64


def legacy_period(effect: int) -> int:
    return -1 - effect % LEGACY_BUCKETS


_HASH_BITS = 64
_HASH_MASK = (1 << _HASH_BITS) - 1


def period_of(at: float) -> int:
    return int(at // PERIOD)


def _flattened(ids: dict[int, int]) -> list[int]:
    return [number for pair in ids.items() for number in pair]


class AppliedIds:
    """The interactions a tie counted: per period of their time, id hash -> the interactions.v1
    offset that counted it. Flat while the tie keeps them inside its state (one dict, the period
    in each key: most ties hold a handful of ids, and a dict per period cost ~1 KB a tie); grouped
    per period once they are stored apart (each period is written as one record)."""

    __slots__ = ("_flat", "_forms", "_grouped", "_touched")

    def __init__(self) -> None:
        self._flat: dict[int, int] = {}  # period << 64 | unsigned hash -> offset
        # While flat, the stored form of every period once asked for (from FORMS_KEPT_FROM ids),
        # then kept current by `put`: a state is written with each update of its tie, and
        # regrouping all its ids for each write was the largest part of making a state (py-spy,
        # 2026-11-24). Not for fewer ids: regrouping a few is cheap, and most ties hold a few.
        self._forms: dict[int, list[int]] | None = None
        self._grouped: dict[int, dict[int, int]] | None = None  # period -> {hash: offset}
        self._touched: set[int] | None = None  # grouped periods changed since `take_touched`

    def get(self, period: int, effect: int) -> int | None:
        if self._grouped is None:
            return self._flat.get(period << _HASH_BITS | effect & _HASH_MASK)
        ids = self._grouped.get(period)
        return ids.get(effect) if ids else None

    def put(self, period: int, effect: int, offset: int) -> None:
        if self._grouped is None:
            key = period << _HASH_BITS | effect & _HASH_MASK
            forms = self._forms
            if forms is not None:
                if key in self._flat:
                    self._forms = None  # an id counted again (rare): its pair in the form changes
                else:
                    forms.setdefault(period, []).extend((effect, offset))
            self._flat[key] = offset
            return
        self._grouped.setdefault(period, {})[effect] = offset
        if self._touched is None:
            self._touched = set()
        self._touched.add(period)

    def __len__(self) -> int:
        return len(self._flat) if self._grouped is None else sum(len(ids) for ids in self._grouped.values())

    def periods(self) -> list[int]:
        return sorted(self._by_period())

    def stored_form(self, period: int) -> list[int]:
        """One period's ids as stored: [hash, offset, hash, offset, ...] (flat: a list per id made
        encoding and decoding a state several times slower)."""
        return _flattened(self._by_period().get(period, {}))

    def stored_forms(self) -> dict[str, list[int]]:
        """Every period's ids as stored, by period (a string: a JSON object's key); copies, as the
        caller keeps them (a table holds the state it is given)."""
        if self._grouped is not None:
            return {str(period): _flattened(ids) for period, ids in sorted(self._grouped.items())}
        if self._forms is not None:
            return {str(period): list(form) for period, form in sorted(self._forms.items())}
        forms = {period: _flattened(ids) for period, ids in sorted(self._by_period().items())}
        if len(self._flat) >= FORMS_KEPT_FROM:
            self._forms = forms
            return {str(period): list(form) for period, form in forms.items()}
        return {str(period): form for period, form in forms.items()}

    def group(self) -> None:
        """Keep the ids per period from now on, every period marked as changed."""
        if self._grouped is None:
            self._grouped, self._flat, self._forms = self._by_period(), {}, None
        self._touched = set(self._grouped)

    def take_touched(self) -> list[int]:
        touched, self._touched = self._touched, None
        return sorted(touched or ())

    def _by_period(self) -> dict[int, dict[int, int]]:
        if self._grouped is not None:
            return self._grouped
        grouped: dict[int, dict[int, int]] = {}
        for key, offset in self._flat.items():
            hashed = key & _HASH_MASK
            grouped.setdefault(key >> _HASH_BITS, {})[hashed - (1 << _HASH_BITS) if hashed >> 63 else hashed] = offset
        return grouped

    @classmethod
    def of(cls, stored: Iterable[tuple[int, list[int]]], grouped: bool) -> AppliedIds:
        """Ids from their stored form, (period, [hash, offset, ...]) pairs."""
        applied = cls()
        if grouped:
            applied._grouped = {}
        for period, ids in stored:
            for effect, offset in zip(ids[::2], ids[1::2], strict=True):
                applied.put(period, effect, offset)
        applied._touched = None
        return applied


def decay(value: float, elapsed: float, half_life: float) -> float:
    """`value` after `elapsed` seconds of exponential decay with `half_life`."""
    return value * 0.5 ** (max(elapsed, 0.0) / half_life) if value else 0.0


_decay = decay


def _effect_hash(interaction: Interaction) -> int:
    digest = hashlib.blake2b(interaction.id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(slots=True)
class Tie:
    """Everything needed to score and explain the tie between `a` and `b` (a < b)."""

    tenant: str
    a: str
    b: str
    ref_at: float = 0.0
    fast_ab: float = 0.0
    slow_ab: float = 0.0
    fast_ba: float = 0.0
    slow_ba: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # "to_ab", "cc_ba", "meeting", ...
    first_at: float = 0.0
    last_at: float = 0.0
    days: set[int] = field(default_factory=set)  # distinct days with contact
    stored_day_count: int = 0  # the graph keeps only the count of `days`
    a_name: str = ""
    b_name: str = ""
    # The interactions counted, per period of their time: id hash -> the interactions.v1 offset
    # where it was counted (-1: not read from the stream). With `offset` it tells a copy of an
    # interaction already counted from one whose counting was lost (see apply_interaction).
    applied: AppliedIds = field(default_factory=AppliedIds)
    interactions: int = 0  # distinct interactions counted
    offset: int = -1  # the latest interactions.v1 offset this state reflects
    spilled: bool = False  # the applied ids are stored per period beside the state, not in it
    # Spilled, and every period's ids known to be stored. Until then the state carries the ids
    # too: the replay after a crash re-records only the ids of the batch it replays.
    periods_stored: bool = True
    # conversation topic -> its latest turns [[from a?, time], ...] in time order
    conversations: dict[str, list[list[Any]]] = field(default_factory=dict)
    # answers that left the retained turns: "ab" -> [seconds a took in total, times a answered b]
    settled_replies: dict[str, list[float]] = field(default_factory=dict)
    stored_replies: dict[str, list[float]] = field(default_factory=dict)  # as read back from the graph
    # newest origin (ms) of the interactions applied: how fresh this state is, for ops
    origin_ms: int = 0
    # `reply_totals` once computed, then kept up to date by each turn taken (not stored: derived)
    _reply_totals: dict[str, list[float]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def for_pair(cls, tenant: str, x: str, y: str) -> Tie:
        a, b = (x, y) if x < y else (y, x)
        return cls(tenant=tenant, a=a, b=b)

    def count(self, kind: str, direction: str = "") -> int:
        return self.counts.get(f"{kind}_{direction}" if direction else kind, 0)

    @property
    def contact_days(self) -> int:
        return max(len(self.days), self.stored_day_count)

    def messages(self, direction: str) -> int:
        return sum(self.count(k, direction) for k in _DIRECTIONAL)

    def awaiting(self, side: str) -> tuple[int, float]:
        """(conversations where `side` ("a" or "b") owes an answer, time of the latest of them)."""
        return self._owed()[side == "b"]

    def _owed(self) -> tuple[tuple[int, float], tuple[int, float]]:
        """`awaiting` of a and of b, in one pass over the conversations (each tie update needs both)."""
        owed_by_a, a_since, owed_by_b, b_since = 0, 0.0, 0, 0.0
        for turns in self.conversations.values():
            last_from_a, at = turns[-1]
            if last_from_a:
                owed_by_b, b_since = owed_by_b + 1, max(b_since, at)
            else:
                owed_by_a, a_since = owed_by_a + 1, max(a_since, at)
        return (owed_by_a, a_since), (owed_by_b, b_since)

    def replies(self, direction: str) -> tuple[float, int]:
        """(total seconds, count) of answers in `direction` ("ab": a answering b's last message)."""
        return self.reply_totals()[direction]

    def reply_totals(self) -> dict[str, tuple[float, int]]:
        """`replies` of both directions. Counted over the conversations once, then kept current by
        `_take_turn`: every tie update needs them, and the pass over up to 32 conversations was
        the largest part of making one."""
        if self.stored_replies:
            stored = self.stored_replies
            return {d: (stored[d][0], int(stored[d][1])) if d in stored else (0.0, 0) for d in ("ab", "ba")}
        if self._reply_totals is None:
            totals = {d: list(self.settled_replies.get(d, [0.0, 0])) for d in ("ab", "ba")}
            for turns in self.conversations.values():
                _add_answers(totals, turns, 1)
            self._reply_totals = totals
        return {d: (seconds, int(count)) for d, (seconds, count) in self._reply_totals.items()}

    def to_state(self, update: dict[str, Any] | None = None) -> dict[str, Any]:
        """The full state for the changelogged table (with the applied ids, unless spilled, and the
        conversations); pass the `to_update()` just made to reuse it."""
        data = dict(update) if update is not None else self.to_update()
        data["days"] = sorted(self.days)  # the days themselves, where the update has their count
        data["offset"] = self.offset
        if self.spilled:
            data["applied_periods"] = self.applied.periods()
        if not (self.spilled and self.periods_stored):
            data["applied"] = self.applied.stored_forms()
        data["conversations"] = self.conversations
        data["settled_replies"] = self.settled_replies
        return data

    def to_update(self) -> dict[str, Any]:
        """What the graph needs: absolute values, safe to write any number of times."""
        (owed_by_a, a_since), (owed_by_b, b_since) = self._owed()
        return {
            "tenant": self.tenant,
            "a": self.a,
            "b": self.b,
            "ref_at": self.ref_at,
            "fast_ab": self.fast_ab,
            "slow_ab": self.slow_ab,
            "fast_ba": self.fast_ba,
            "slow_ba": self.slow_ba,
            "counts": dict(self.counts),
            "first_at": self.first_at,
            "last_at": self.last_at,
            # How many distinct days: all the graph keeps. The list grew with every day of contact
            # and was the largest part of decoding an update in the graph writer.
            "days": len(self.days),
            "a_name": self.a_name,
            "b_name": self.b_name,
            "replies": {d: list(totals) for d, totals in self.reply_totals().items()},
            "awaiting_a": owed_by_a,
            "awaiting_a_at": a_since,
            "awaiting_b": owed_by_b,
            "awaiting_b_at": b_since,
            "origin_ms": self.origin_ms,
            # Distinct interactions counted: only grows, so it orders two states of one tie.
            "interactions": self.interactions,
        }

    def spill(self) -> None:
        """Store the applied ids per period beside the state from now on (all periods to write;
        the state carries them too until `mark_stored`)."""
        self.spilled, self.periods_stored = True, False
        self.applied.group()

    def mark_stored(self) -> None:
        """Everything written for this tie so far is stored (the batch's writes are in Kafka)."""
        self.periods_stored = True

    def take_touched_periods(self) -> list[int]:
        """The periods whose ids changed since the last call, to store beside a spilled state."""
        return self.applied.take_touched()

    @classmethod
    def from_state(cls, data: dict[str, Any], stored_period: Callable[[int], list[int] | None] | None = None) -> Tie:
        """The tie of a stored state; a spilled state's ids are read per period with
        `stored_period` (a period missing there: its ids were lost with a crash, and the replay
        of what the state reflects records them again)."""
        applied = _stored_applied(data, stored_period)
        spilled, carried = "applied_periods" in data, "applied" in data
        tie = cls(
            tenant=data["tenant"],
            a=data["a"],
            b=data["b"],
            ref_at=data.get("ref_at", 0.0),
            fast_ab=data.get("fast_ab", 0.0),
            slow_ab=data.get("slow_ab", 0.0),
            fast_ba=data.get("fast_ba", 0.0),
            slow_ba=data.get("slow_ba", 0.0),
            counts=dict(data.get("counts") or {}),
            first_at=data.get("first_at", 0.0),
            last_at=data.get("last_at", 0.0),
            days=set(data.get("days") or ()),
            a_name=data.get("a_name", ""),
            b_name=data.get("b_name", ""),
            applied=applied,
            interactions=int(data.get("interactions", len(applied))),
            offset=int(data.get("offset", -1)),
            spilled=spilled,
            periods_stored=not (spilled and carried),
            conversations=dict(data.get("conversations") or {}),
            settled_replies=dict(data.get("settled_replies") or {}),
            origin_ms=int(data.get("origin_ms") or 0),
        )
        if not tie.periods_stored:  # written while spilling: its periods may not all have landed
            tie.spill()
        return tie


def _stored_applied(data: dict[str, Any], stored_period: Callable[[int], list[int] | None] | None) -> AppliedIds:
    raw = data.get("applied") or {}
    if isinstance(raw, list):  # a state from before ids were grouped: hashes alone, all counted
        return AppliedIds.of([(legacy_period(effect), [effect, -1]) for effect in raw], grouped=False)
    stored = [(p, stored_period(p) if stored_period else None) for p in map(int, data.get("applied_periods") or ())]
    inside = [(int(period), ids) for period, ids in raw.items()]
    return AppliedIds.of([(p, ids or []) for p, ids in [*stored, *inside]], grouped="applied_periods" in data)


def _counted_at(tie: Tie, period: int, effect: int) -> int | None:
    found = tie.applied.get(period, effect)
    return tie.applied.get(legacy_period(effect), effect) if found is None else found


def apply_interaction(tie: Tie, interaction: Interaction, model: TieModel, offset: int | None = None) -> bool:
    """Add one interaction, read at `offset` of interactions.v1, to the tie in place; True if the
    state changed (and is to be stored), False if it is a copy of one already counted.

    `offset` None: not read from the stream, a copy is told by its id alone. With offsets, a
    record at or below the state's `offset` is one the state already reflects (the stage's own
    replay after a crash): it changes nothing but its id is recorded if missing (the period
    holding it may have been stored apart and lost). An id recorded above the state's offset was
    recorded by a batch whose state was lost: counted again.
    """
    effect, period = _effect_hash(interaction), period_of(interaction.at)
    counted_at = _counted_at(tie, period, effect)
    if offset is not None and offset <= tie.offset:
        if counted_at is None:
            tie.applied.put(period, effect, offset)
            return True
        return False
    if counted_at is not None and counted_at <= tie.offset:
        tie.offset = tie.offset if offset is None else offset
        return False
    tie.applied.put(period, effect, tie.offset if offset is None else offset)
    tie.offset = tie.offset if offset is None else offset
    tie.interactions += 1
    tie.origin_ms = max(tie.origin_ms, interaction.origin_ms)
    at = interaction.at
    if at > tie.ref_at:
        elapsed = at - tie.ref_at
        tie.fast_ab = _decay(tie.fast_ab, elapsed, model.fast_half_life)
        tie.slow_ab = _decay(tie.slow_ab, elapsed, model.slow_half_life)
        tie.fast_ba = _decay(tie.fast_ba, elapsed, model.fast_half_life)
        tie.slow_ba = _decay(tie.slow_ba, elapsed, model.slow_half_life)
        tie.ref_at = at
    fast = _decay(interaction.weight, tie.ref_at - at, model.fast_half_life)
    slow = _decay(interaction.weight, tie.ref_at - at, model.slow_half_life)
    directions = ("ab", "ba") if interaction.kind == "meeting" else ("ab" if interaction.a == tie.a else "ba",)
    for direction in directions:
        setattr(tie, f"fast_{direction}", getattr(tie, f"fast_{direction}") + fast)
        setattr(tie, f"slow_{direction}", getattr(tie, f"slow_{direction}") + slow)
    key = "meeting" if interaction.kind == "meeting" else f"{interaction.kind}_{directions[0]}"
    if interaction.weight < 0:  # a retraction (a meeting updated or cancelled) undoes one count
        for direction in directions:
            for name in (f"fast_{direction}", f"slow_{direction}"):
                setattr(tie, name, max(getattr(tie, name), 0.0))  # float residue must not go negative
        tie.counts[key] = max(tie.counts.get(key, 0) - 1, 0)
        return True
    tie.counts[key] = tie.counts.get(key, 0) + 1
    if interaction.thread and interaction.kind in _TURN_KINDS:
        _take_turn(tie, interaction.thread, interaction.a == tie.a, at)
    tie.first_at = at if not tie.first_at else min(tie.first_at, at)
    tie.last_at = max(tie.last_at, at)
    tie.days.add(int(at // DAY))
    for email, name in ((interaction.a, interaction.a_name), (interaction.b, interaction.b_name)):
        if name:
            if email == tie.a:
                tie.a_name = name
            else:
                tie.b_name = name
    return True


def apply_interactions(
    ties: MutableMapping[str, Tie],
    interactions: Iterable[tuple[str, Interaction, int | None]],
    model: Callable[[str], TieModel],
) -> list[str]:
    """Apply a batch of (pair key, interaction, its offset) to `ties` (missing pairs are created);
    the keys of the ties that changed, in first-change order. One state write and one update per
    changed tie per batch, however many of its interactions the batch holds."""
    changed: dict[str, None] = {}
    for key, interaction, offset in interactions:
        tie = ties.get(key)
        if tie is None:
            tie = ties[key] = Tie.for_pair(interaction.tenant, *interaction.pair)
        if apply_interaction(tie, interaction, model(interaction.tenant), offset):
            changed[key] = None
    return list(changed)


def _answers(turns: list[list[Any]]) -> Iterator[tuple[str, float]]:
    """Each change of speaker is an answer: (who answered, "ab" or "ba"; how long it took)."""
    for (prev_from_a, prev_at), (from_a, at) in itertools.pairwise(turns):
        if prev_from_a != from_a:
            yield ("ab" if from_a else "ba"), at - prev_at


def _add_answers(totals: dict[str, list[float]], turns: list[list[Any]], sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the answers in `turns` to or from `totals`
    ("ab"/"ba" -> [seconds, count]; a direction not there yet starts at zero)."""
    for direction, gap in _answers(turns):
        total = totals.setdefault(direction, [0.0, 0])
        total[0] += sign * gap
        total[1] += sign


def _settle(tie: Tie, turns: list[list[Any]]) -> None:
    _add_answers(tie.settled_replies, turns, 1)


def _take_turn(tie: Tie, thread: str, from_a: bool, at: float) -> None:
    """Add a message to its conversation in time order (so late arrivals land where they belong).
    Two messages of the same second are ordered by sender too: arrival order differs between a
    replay after a crash and a clean run, and whose turn it is must not."""
    turns = tie.conversations.setdefault(thread, [])
    totals = tie._reply_totals
    if totals is not None:  # the new turn may split an answer in two: recount this conversation
        _add_answers(totals, turns, -1)
    bisect.insort(turns, [from_a, at], key=lambda turn: (turn[1], turn[0]))
    if totals is not None:
        _add_answers(totals, turns, 1)
    # Settling below moves answers from the conversations to `settled_replies`: totals unchanged.
    if len(turns) > MAX_TURNS:
        _settle(tie, turns[:2])  # the answer (if any) between the two oldest leaves with the oldest
        del turns[0]
    if len(tie.conversations) > MAX_CONVERSATIONS:
        oldest = min(tie.conversations, key=lambda k: tie.conversations[k][-1][1])
        _settle(tie, tie.conversations.pop(oldest))


@dataclass(frozen=True, slots=True)
class TieScore:
    """A tie's strength at one moment with the quantities it was computed from."""

    strength: float
    band: str
    intensity_ab: float
    intensity_ba: float
    reciprocity: float


def intensity(fast: float, slow: float, elapsed: float, model: TieModel) -> float:
    """The two-speed decayed intensity `elapsed` seconds after the reference time."""
    return model.fast_share * _decay(fast, elapsed, model.fast_half_life) + (1 - model.fast_share) * _decay(
        slow, elapsed, model.slow_half_life
    )


def band_of(strength: float, model: TieModel) -> str:
    if strength >= model.strong_at:
        return "strong"
    if strength >= model.known_at:
        return "known"
    return "weak"


def score_tie(tie: Tie, now: float, model: TieModel) -> TieScore:
    """Strength in [0, 1]: saturating total intensity, scaled down unless contact goes both ways."""
    elapsed = now - tie.ref_at
    i_ab = intensity(tie.fast_ab, tie.slow_ab, elapsed, model)
    i_ba = intensity(tie.fast_ba, tie.slow_ba, elapsed, model)
    total = i_ab + i_ba
    if total <= 0:
        return TieScore(0.0, "weak", 0.0, 0.0, 0.0)
    reciprocity = 2 * min(i_ab, i_ba) / total
    base = 1 - math.exp(-total / model.saturation)
    strength = base * (model.one_way_cap + (1 - model.one_way_cap) * math.sqrt(reciprocity))
    return TieScore(strength, band_of(strength, model), i_ab, i_ba, reciprocity)


# An upper bound of a tie's strength at any later moment, kept with the tie so that a person with
# thousands of ties can be ranked without scoring them all. Intensity is a mix of two sums
# decaying at the two half-lives, so at `now` it is at most max(fast sum, slow sum) decayed at the
# slower half-life; with any half-life H at least that slow: total(now) <= 2 ** (key - now / H)
# where key = log2(max sum) + ref_at / H, one number per tie whose order does not change with
# `now`. Strength is at most 1 - exp(-total / saturation) (the reciprocity factor is at most 1).
# H: the default slow half-life, so the bound is tight for the default model; a model with a longer
# half-life gets no pruning (strength_bound returns 1), only the exact ranking.
BOUND_HALF_LIFE = 730 * DAY
NO_BOUND_KEY = -1.0e300  # a tie with no intensity at all


def strength_bound_key(fast_ab: float, fast_ba: float, slow_ab: float, slow_ba: float, ref_at: float) -> float:
    """The tie's bound key (see above); ties ordered by it are ordered by their bounds at any time."""
    peak = max(fast_ab + fast_ba, slow_ab + slow_ba)
    return math.log2(peak) + ref_at / BOUND_HALF_LIFE if peak > 0 else NO_BOUND_KEY


def bounds_apply(model: TieModel) -> bool:
    """Whether `strength_bound` holds under `model`: half-lives within H, and a share and a cap
    that keep intensity a mix of the two sums and strength below the saturation term."""
    return (
        max(model.fast_half_life, model.slow_half_life) <= BOUND_HALF_LIFE
        and 0 <= model.fast_share <= 1
        and model.one_way_cap <= 1
        and model.saturation > 0
    )


def strength_bound(key: float, now: float, model: TieModel) -> float:
    """The most a tie with bound `key` can score at `now` (1.0 where the bound does not hold, so it
    prunes nothing)."""
    if not bounds_apply(model):
        return 1.0
    exponent = key - now / BOUND_HALF_LIFE
    if exponent > 64:  # a bound far above saturation (and no float overflow)
        return 1.0
    return 1 - math.exp(-(2.0**exponent) / model.saturation)
