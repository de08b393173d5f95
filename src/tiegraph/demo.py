"""`tiegraph demo`: services, worker and API up, a generated organisation imported, real answers."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from typing import Any

import httpx

from tiegraph.deployment import connect_graph, prepare, topic_names
from tiegraph.ingest.importer import run_import
from tiegraph.services.local import LocalServices
from tiegraph.settings import Settings
from tiegraph.streams.lag import wait_for_stable_group, wait_for_zero_lag
from tiegraph.synth.organization import Organization, generate_mail, generate_organization, write_mbox

TENANT = "demo"


def _say(text: str) -> None:
    print(text, flush=True)


async def _prepare(settings: Settings, domain: str) -> str:
    await prepare(settings)
    graph = connect_graph(settings)
    try:
        _, key = await graph.create_tenant(TENANT, [domain])
        return key
    finally:
        await graph.close()


def _wait_for_api(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not answer at {base} within {timeout:.0f}s")


def _show_contacts(doc: dict[str, Any]) -> None:
    person = doc["person"]
    _say(f"\n  {person['name'] or person['email']} <{person['email']}> knows {person['ties']} people; strongest:")
    for c in doc["contacts"]:
        ev = c["evidence"]
        sent, received = ev["sent"], ev["received"]
        _say(
            f"    {c['strength']:.2f} {c['band']:<6} {c['email']:<38} sent {sent['to'] + sent['cc'] + sent['reply']:>3}"
            f"  received {received['to'] + received['cc'] + received['reply']:>3}  last {ev['last_contact'][:10]}"
        )


def run_demo(settings: Settings, people: int = 60, messages: int = 4000) -> None:
    services = LocalServices(settings)
    _say("1/5 services: resolving jars and starting Kafka and Neo4j (first run downloads ~200 MB)...")
    services.up()
    org = generate_organization(people=people)
    key = asyncio.run(_prepare(settings, org.home_domain))
    _say("2/5 worker and API: starting in the background...")
    services.spawn_process("worker", [sys.executable, "-m", "tiegraph", "worker"])
    services.spawn_process("api", [sys.executable, "-m", "tiegraph", "api"])
    corpus = settings.home.resolve() / "demo" / "organization.mbox"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    count = write_mbox(corpus, generate_mail(org, messages=messages))
    _say(
        f"3/5 import: {count} generated messages of {len(org.internal)} people at {org.home_domain}"
        f" and {len(org.external)} outside"
    )
    asyncio.run(wait_for_stable_group(settings.kafka_bootstrap, settings.app_id))
    summary = asyncio.run(run_import(settings, [corpus], tenant=TENANT))
    _say(f"    read {summary.read}, produced {summary.produced}, rejected {sum(summary.rejected.values())}")
    _say("4/5 waiting for the pipeline to catch up (tiegraph lag)...")
    took = asyncio.run(
        wait_for_zero_lag(settings.kafka_bootstrap, settings.app_id, topic_names(settings).all(), timeout=300)
    )
    _say(f"    caught up in {took:.1f}s")
    base = f"http://{settings.api_host}:{settings.api_port}"
    _wait_for_api(base)
    headers = {"Authorization": f"Bearer {key}"}
    _say("5/5 asking the API:")
    stats = httpx.get(f"{base}/v1/stats", headers=headers, timeout=10).json()
    _say(f"\n  GET /v1/stats -> {stats}")
    as_of = "2025-06-01"
    contacts = httpx.get(
        f"{base}/v1/people/{org.ceo.email}/contacts", params={"limit": 8, "as_of": as_of}, headers=headers, timeout=10
    )
    contacts.raise_for_status()
    _say(f"\n  GET /v1/people/{org.ceo.email}/contacts?limit=8&as_of={as_of}")
    _show_contacts(contacts.json())
    top = contacts.json()["contacts"][0]["email"]
    tie = httpx.get(
        f"{base}/v1/ties/{org.ceo.email}/{top}", params={"as_of": as_of}, headers=headers, timeout=10
    ).json()
    _say(
        f"\n  GET /v1/ties/{org.ceo.email}/{top} -> strength {tie['strength']:.2f} ({tie['band']}),"
        f" evidence {tie['evidence']}"
    )
    _ask_the_network(base, headers, org, as_of)
    _say(
        f"\nThe API is at {base} (docs: {base}/docs, ops page: {base}/ops). Try:\n"
        f"  curl -H 'Authorization: Bearer {key}' {base}/v1/people/{org.ceo.email}/contacts\n"
        "Stop everything with: tiegraph services down"
    )


def _ask_the_network(base: str, headers: dict[str, str], org: Organization, as_of: str) -> None:
    """The questions users pay for: who knows an account, the warm path in, and the white space."""
    domains = Counter(p.domain for p in org.external if p.email not in org.silent)
    account = domains.most_common(1)[0][0]
    params = {"as_of": as_of}
    who = httpx.get(f"{base}/v1/who-knows", params={**params, "target": account}, headers=headers, timeout=30).json()
    _say(f"\n  GET /v1/who-knows?target={account}")
    for k in who["people"][:5]:
        _say(f"    {k['strength']:.2f} {k['band']:<6} {k['email']:<38} knows {k['knows']} there")
    paths = httpx.get(f"{base}/v1/paths", params={**params, "to": account, "k": 3}, headers=headers, timeout=30).json()
    _say(f"\n  GET /v1/paths?to={account}&k=3  (strength = product of the hops)")
    for path in paths["paths"]:
        chain = " -> ".join(p["email"] for p in path["people"])
        _say(f"    {path['strength']:.3f}  {chain}")
    cover = httpx.get(f"{base}/v1/organizations/{account}/coverage", params=params, headers=headers, timeout=30).json()
    key_connector = cover["key_connector"]["email"] if cover["key_connector"] else "nobody"
    _say(
        f"\n  GET /v1/organizations/{account}/coverage -> {cover['covered']} of {cover['members']} people there"
        f" have a strong tie to us; key connector {key_connector}; white space:"
    )
    for w in cover["white_space"][:5]:
        _say(f"    {w['email']:<38} best tie {w['best_strength']:.2f} via {w['best_connector'] or '-'}")
