"""Query latency at scale: contacts, who-knows and warm paths on a generated tie graph.

The graph is written straight into Neo4j (GraphStore.write_ties, in batches: this measures
queries, not the pipeline); the requests go through the real HTTP handlers, in-process over ASGI,
one at a time, so each figure is the latency of one request on an otherwise idle API.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from tiegraph.api.main import create_app
from tiegraph.deployment import connect_graph
from tiegraph.graph.neo4j import GraphStore, tie_row
from tiegraph.settings import Settings
from tiegraph.synth.network import Population, generate_population, generate_ties

HOME_DOMAIN = "tiegraph-demo.com"
BATCH = 5000
GRAPH_VERSION = 2  # in the tenant's name: a graph written by an older tiegraph is not reused (2: bound keys)
# Unmeasured requests per endpoint first, drawn as the measured ones are: Neo4j's JVM compiles
# a query's code paths over its first runs. With 10 the first 900 contacts requests after a Neo4j
# restart had a p99 of 43-44 ms, the next 900 of 17-20 ms (2026-11-24 19:30); a live API is warm.
WARMUP_REQUESTS = 100


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load_graph(
    graph: GraphStore, tenant: str, population: Population, ties: int, now: float, progress: Callable[[int], None]
) -> None:
    """Write the generated ties unless this tenant already holds exactly that many."""
    if (await graph.stats(tenant))["ties"] == ties:
        return
    batch: list[dict[str, Any]] = []
    written = 0
    for update in generate_ties(population, ties, tenant, now):
        batch.append(tie_row(update, (HOME_DOMAIN,)))
        if len(batch) == BATCH:
            await graph.write_ties(batch)
            written += len(batch)
            progress(written)
            batch = []
    await graph.write_ties(batch)


def _requests(population: Population, rng: random.Random, count: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Realistic asks: about our people and random ones; targets are outside people or companies."""
    ours = population.emails[: population.internal]
    outside = population.emails[population.internal :]
    domains = sorted({e.partition("@")[2] for e in outside} - {"gmail.com"})

    def person_or_company() -> str:
        return rng.choice(outside) if rng.random() < 0.5 else rng.choice(domains)

    return {
        "contacts": [
            (f"/v1/people/{rng.choice(ours if rng.random() < 0.5 else population.emails)}/contacts", {"limit": 50})
            for _ in range(count)
        ],
        "who_knows": [("/v1/who-knows", {"target": person_or_company()}) for _ in range(count)],
        "paths": [("/v1/paths", {"to": person_or_company(), "k": 3, "max_hops": 3}) for _ in range(count)],
    }


async def measure_query_latency(
    settings: Settings,
    people: int = 100_000,
    ties: int = 1_000_000,
    requests: int = 300,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """p50 / p99 latency in ms of contacts, who-knows and paths over a generated graph."""
    now = 1_800_000_000.0  # fixed, so a second run finds the same graph and scores it the same way
    population = generate_population(people, seed=seed, home_domain=HOME_DOMAIN)
    tenant = f"bench-{people}-{ties}-v{GRAPH_VERSION}"
    graph = connect_graph(settings)
    try:
        await graph.ensure_schema()
        await load_graph(graph, tenant, population, ties, now, progress or (lambda _: None))
        _, key = await graph.create_tenant(tenant, [HOME_DOMAIN])
        stored = await graph.stats(tenant)
        # A live API's graph is in memory; the bench's other stages write millions of records
        # in between and leave this one's pages evicted (p99s 2-5x in such a run, 2026-11-24).
        warming = time.perf_counter()
        await graph.warm_cache(tenant)
        warmed_s = time.perf_counter() - warming
    finally:
        await graph.close()
    figures: dict[str, float] = {
        "people": stored["people"],
        "ties": stored["ties"],
        "query_cache_warmup_s": round(warmed_s, 1),
    }
    # The harness holds the generated population (~100,000 people) in the API's process, which an
    # API server does not: keep the collector from walking it during the measured requests.
    gc.collect()
    gc.freeze()
    try:
        app = create_app(settings)
        transport, headers = httpx.ASGITransport(app=app), {"Authorization": f"Bearer {key}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client,
        ):
            for name, asks in _requests(population, random.Random(seed), WARMUP_REQUESTS + requests).items():
                for path, params in asks[:WARMUP_REQUESTS]:
                    await client.get(path, params={**params, "as_of": "2027-01-15T08:00:00Z"})
                samples = []
                for path, params in asks[WARMUP_REQUESTS:]:
                    started = time.perf_counter()
                    response = await client.get(path, params={**params, "as_of": "2027-01-15T08:00:00Z"})
                    samples.append((time.perf_counter() - started) * 1000)
                    if response.status_code not in (200, 404):
                        raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
                figures[f"{name}_p50_ms"] = round(statistics.median(samples), 2)
                figures[f"{name}_p99_ms"] = round(percentile(samples, 0.99), 2)
    finally:
        gc.unfreeze()
    return figures
