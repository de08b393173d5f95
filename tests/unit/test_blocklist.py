"""Blocklist entries, what they cover, and going cold (pure core)."""

from __future__ import annotations

import pytest

from tiegraph.core.blocklist import InvalidBlockEntry, block_entry, drop_blocked, is_blocked
from tiegraph.core.cold import cooling
from tiegraph.core.model import DAY
from tiegraph.core.records import Interaction
from tiegraph.core.ties import Tie


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann@Example.COM", ("ann@example.com", "address")),
        ("Example.com", ("example.com", "domain")),
        ("@sub.example.com", ("sub.example.com", "domain")),
    ],
)
def test_entries_are_normalised(raw: str, expected: tuple[str, str]) -> None:
    assert block_entry(raw) == expected


@pytest.mark.parametrize("raw", ["", "nodot", "a@", "with space.com", "-x-.com"])
def test_bad_entries_are_refused(raw: str) -> None:
    with pytest.raises(InvalidBlockEntry):
        block_entry(raw)


def test_a_domain_covers_its_subdomains_not_its_lookalikes() -> None:
    blocked = {"example.com", "eve@other.org"}
    assert is_blocked("ann@example.com", blocked) and is_blocked("ann@mail.example.com", blocked)
    assert is_blocked("eve@other.org", blocked)
    assert not is_blocked("ann@notexample.com", blocked) and not is_blocked("bob@other.org", blocked)


def test_interactions_with_a_blocked_person_are_dropped() -> None:
    found = [
        Interaction("t", "me@ours.com", "eve@other.org", "to", 1.0, 0.0, "m1"),
        Interaction("t", "me@ours.com", "bob@other.org", "to", 1.0, 0.0, "m1"),
        Interaction("t", "ann@x.example.com", "me@ours.com", "to", 1.0, 0.0, "m2"),
    ]
    kept = drop_blocked(found, {"eve@other.org", "example.com"})
    assert [i.b for i in kept] == ["bob@other.org"]
    assert drop_blocked(found, frozenset()) == found


def test_going_cold_is_silence_beyond_the_usual_rhythm() -> None:
    tie = Tie(tenant="t", a="a", b="b", first_at=0.0, last_at=20 * DAY, stored_day_count=5)  # every 5 days
    assert cooling(tie, now=30 * DAY) is None  # 10 days of silence: within 3 intervals
    cold = cooling(tie, now=50 * DAY)
    assert cold is not None and cold.usual_interval == 5 * DAY and cold.ratio == pytest.approx(6.0)
    assert cooling(Tie(tenant="t", a="a", b="b", first_at=0.0, last_at=DAY, stored_day_count=2), 99 * DAY) is None
