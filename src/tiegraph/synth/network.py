"""A tenant's tie graph at scale, written straight as tie states (no mail in between).

For query benchmarks and large demos: `people` people (a home company and many outside companies
with heavy-tailed sizes, some free-mail users), `ties` distinct pairs with heavy-tailed contact
counts, mostly reciprocated, some one-way (cold outreach), some with meetings, spread over years.
Each tie's decay components are computed exactly as core/ties.py would from its events, so the
graph scores like one built by the pipeline. Deterministic for a seed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from tiegraph.core.model import DAY, TieModel
from tiegraph.synth.organization import _FIRST, _LAST

YEAR = 365 * DAY


@dataclass(frozen=True, slots=True)
class Population:
    emails: list[str]
    names: list[str]
    internal: int  # the first `internal` people work at the home company
    activity: list[float]  # heavy-tailed: how many ties each person tends to have


def generate_population(people: int, seed: int = 7, home_domain: str = "tiegraph-demo.com") -> Population:
    """People at the home company (5%), outside companies with Pareto sizes, and free-mail users."""
    rng = random.Random(seed)
    internal = max(3, people // 20)
    domains = [home_domain] * internal
    company = 0
    while len(domains) < people:
        if rng.random() < 0.08:
            domains.append("gmail.com")  # free mail: a person without an organisation
            continue
        size = min(people - len(domains), 1500, max(1, int(rng.paretovariate(1.3))))
        domains += [f"company{company}.example"] * size
        company += 1
    emails, names = [], []
    for i, domain in enumerate(domains):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        emails.append(f"{first.lower()}.{last.lower()}.{i}@{domain}")
        names.append(f"{first} {last}")
    # Capped so that the busiest person has thousands of ties, not a tenth of the graph.
    activity = [min(rng.paretovariate(1.3), 100.0) * (8.0 if i < internal else 1.0) for i in range(people)]
    return Population(emails, names, internal, activity)


def _pairs(population: Population, ties: int, rng: random.Random) -> set[tuple[int, int]]:
    """Distinct pairs; most have one of our people at one end (the mail comes from our mailboxes)."""
    n, internal = len(population.emails), population.internal
    everyone = list(itertools.accumulate(population.activity))
    ours = everyone[:internal]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < min(ties, n * (n - 1) // 2):
        want = (ties - len(pairs)) * 11 // 10 + 16
        firsts = rng.choices(range(internal), cum_weights=ours, k=want)
        seconds = rng.choices(range(n), cum_weights=everyone, k=want)
        for x, y in zip(firsts, seconds, strict=True):
            if rng.random() < 0.15:  # people outside, Cc'd together
                x = rng.choices(range(n), cum_weights=everyone)[0]
            if x != y:
                pairs.add((x, y) if population.emails[x] < population.emails[y] else (y, x))
                if len(pairs) >= ties:
                    break
    return pairs


def _decayed(events: list[tuple[float, float]], ref: float, half_life: float) -> float:
    return float(sum(w * 0.5 ** ((ref - at) / half_life) for at, w in events))


def tie_update(tenant: str, a: str, b: str, rng: random.Random, now: float, model: TieModel) -> dict[str, object]:
    """One tie's absolute state (the shape of Tie.to_update()) from sampled events."""
    messages = min(400, int(rng.paretovariate(1.2)))
    start = now - rng.random() * 4 * YEAR
    end = min(now, start + rng.random() * 2 * YEAR)
    one_way = rng.random() < 0.2
    share_ab = 1.0 if one_way else rng.uniform(0.3, 0.7)
    ab: list[tuple[float, float]] = []
    ba: list[tuple[float, float]] = []
    counts: dict[str, int] = {}
    for _ in range(messages):
        at, forward = rng.uniform(start, end), rng.random() < share_ab
        kind = "cc" if rng.random() < 0.2 else ("reply" if rng.random() < 0.4 and not one_way else "to")
        (ab if forward else ba).append((at, model.kind_weights[kind]))
        key = f"{kind}_{'ab' if forward else 'ba'}"
        counts[key] = counts.get(key, 0) + 1
    if not one_way and rng.random() < 0.15:
        for _ in range(rng.randint(1, 5)):
            at = rng.uniform(start, end)
            ab.append((at, model.kind_weights["meeting"]))
            ba.append((at, model.kind_weights["meeting"]))
            counts["meeting"] = counts.get("meeting", 0) + 1
    times = [at for at, _ in ab + ba]
    ref = max(times)
    return {
        "tenant": tenant,
        "a": a,
        "b": b,
        "ref_at": ref,
        "fast_ab": _decayed(ab, ref, model.fast_half_life),
        "slow_ab": _decayed(ab, ref, model.slow_half_life),
        "fast_ba": _decayed(ba, ref, model.fast_half_life),
        "slow_ba": _decayed(ba, ref, model.slow_half_life),
        "counts": counts,
        "first_at": min(times),
        "last_at": ref,
        "days": len({int(at // DAY) for at in times}),
    }


def generate_ties(
    population: Population, ties: int, tenant: str, now: float, seed: int = 11, model: TieModel | None = None
) -> Iterator[dict[str, object]]:
    """`ties` tie states over the population, each with both people's names."""
    rng = random.Random(seed)
    model = model or TieModel()
    for x, y in sorted(_pairs(population, ties, rng)):
        update = tie_update(tenant, population.emails[x], population.emails[y], rng, now, model)
        update["a_name"], update["b_name"] = population.names[x], population.names[y]
        yield update
