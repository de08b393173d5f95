"""The Neo4j adapter: batched idempotent writes and tenant-filtered reads.

Driver errors are translated to GraphUnavailable here; nothing above this module sees neo4j types.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, LiteralString

from neo4j import READ_ACCESS, AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from tiegraph.core.aliases import Alias
from tiegraph.core.blocklist import is_blocked
from tiegraph.core.identity import affiliation_of
from tiegraph.core.model import TieModel
from tiegraph.core.ties import Tie, strength_bound_key
from tiegraph.errors import GraphUnavailable, UnknownTenant
from tiegraph.graph import cypher, cypher_network
from tiegraph.graph.network import NetworkStore

_TIE_FIELDS = ("ref_at", "fast_ab", "slow_ab", "fast_ba", "slow_ba", "first_at", "last_at")
_TURN_FIELDS = ("awaiting_a", "awaiting_a_at", "awaiting_b", "awaiting_b_at")


@dataclass(frozen=True, slots=True)
class TenantInfo:
    name: str
    domains: tuple[str, ...]
    model_overrides: dict[str, Any] = field(default_factory=dict)  # tie model parameters set for it

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TenantInfo:
        overrides = json.loads(row["model"]) if row.get("model") else {}
        return cls(row["name"], tuple(row["domains"]), overrides)


@dataclass(frozen=True, slots=True)
class Caller:
    """What an API key says about who calls: the tenant, and the tenant's aliases (every read
    folds a person's addresses with them, api/aliases.py), learned in one round trip."""

    tenant: TenantInfo
    aliases: list[Alias]


@contextmanager
def _graph_errors() -> Iterator[None]:
    """Neo4j's failures as GraphUnavailable where waiting and trying again can help (a lost
    connection, a transient error such as a deadlock); anything else as it is."""
    try:
        yield
    except (ServiceUnavailable, SessionExpired, DriverError, OSError) as exc:
        raise GraphUnavailable(f"Neo4j unavailable: {exc}") from exc
    except Neo4jError as exc:
        if exc.is_retryable():
            raise GraphUnavailable(f"Neo4j busy: {exc}") from exc
        raise


def hash_api_key(key: str) -> str:
    """Keys are stored only as this hash; a leaked database holds no usable key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _aliases(tenant: str, rows: Iterable[dict[str, Any]]) -> list[Alias]:
    return [Alias(tenant, r["alias"], r["owner"], r["name"], int(r["messages"])) for r in rows]


def tie_props(update: dict[str, Any]) -> dict[str, Any]:
    """Relationship properties for a tie update (Neo4j properties cannot hold maps)."""
    days = update.get("days") or 0  # a count; records written before 2026-11-24 hold the list of days
    props: dict[str, Any] = {"tenant": update["tenant"], "days": days if isinstance(days, int) else len(days)}
    props.update({f: update[f] for f in _TIE_FIELDS})
    props.update({f"n_{k}": v for k, v in (update.get("counts") or {}).items()})
    for direction, (seconds, count) in (update.get("replies") or {}).items():
        props[f"reply_s_{direction}"], props[f"replies_{direction}"] = seconds, count
    props.update({f: update.get(f, 0) for f in _TURN_FIELDS})
    props["interactions"] = update.get("interactions", 0)
    # For ranking a person's ties without scoring them all (core/ties.py, strength_bound_key).
    props["bound_key"] = strength_bound_key(
        props["fast_ab"], props["fast_ba"], props["slow_ab"], props["slow_ba"], props["ref_at"]
    )
    return props


def tie_from_props(tenant: str, a: str, b: str, props: dict[str, Any]) -> Tie:
    """Rebuild the scoring state of a tie from its stored properties."""
    tie = Tie(tenant=tenant, a=a, b=b)
    for f in _TIE_FIELDS:
        setattr(tie, f, float(props.get(f, 0.0)))
    tie.counts = {k[2:]: int(v) for k, v in props.items() if k.startswith("n_")}
    tie.stored_day_count = int(props.get("days", 0))
    tie.stored_replies = {
        d: [float(props.get(f"reply_s_{d}", 0.0)), int(props.get(f"replies_{d}", 0))] for d in ("ab", "ba")
    }
    return tie


def _sent(update: dict[str, Any], direction: str) -> bool:
    counts = update.get("counts") or {}
    return any(counts.get(f"{kind}_{direction}", 0) > 0 for kind in ("to", "cc", "reply"))


def tie_row(update: dict[str, Any], domains: Iterable[str]) -> dict[str, Any]:
    """A WRITE_TIES row: both people with their affiliation, and the tie's properties."""
    domains = tuple(domains)
    a_aff, b_aff = affiliation_of(update["a"], domains), affiliation_of(update["b"], domains)
    return {
        "tenant": update["tenant"],
        "a": update["a"],
        "b": update["b"],
        "a_name": update.get("a_name", ""),
        "b_name": update.get("b_name", ""),
        "a_sent": _sent(update, "ab"),
        "b_sent": _sent(update, "ba"),
        "a_internal": a_aff.internal,
        "b_internal": b_aff.internal,
        "a_org": a_aff.organization,
        "b_org": b_aff.organization,
        "props": tie_props(update),
    }


def _has_blocked(row: dict[str, Any], blocklists: dict[str, set[str]]) -> bool:
    blocked = blocklists.get(row["tenant"], ())
    return is_blocked(row["a"], blocked) or is_blocked(row["b"], blocked)


def people_and_ties(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """WRITE_TIES's parameters for rows of `tie_row`: each person once, as the rows in their order
    would have left them (the last non-empty name, the last affiliation, sent if any row says so),
    ordered by tenant and address so concurrent writers take the people's node locks in one
    order; and the ties, with what the statement reads of a row."""
    people: dict[tuple[str, str], dict[str, Any]] = {}
    ties = []
    for row in rows:
        tenant = row["tenant"]
        for email, name, sent, internal, org in (
            (row["a"], row["a_name"], row["a_sent"], row["a_internal"], row["a_org"]),
            (row["b"], row["b_name"], row["b_sent"], row["b_internal"], row["b_org"]),
        ):
            person = people.get((tenant, email))
            if person is None:
                people[tenant, email] = {
                    "tenant": tenant,
                    "email": email,
                    "name": name,
                    "sent": sent,
                    "internal": internal,
                    "org": org,
                }
                continue
            person["internal"] = internal
            if sent:
                person["sent"] = True
            if name:
                person["name"] = name
            if org is not None:
                person["org"] = org
        ties.append(
            {"tenant": tenant, "a": row["a"], "b": row["b"], "props": row["props"], "offset": row.get("offset")}
        )
    return [people[key] for key in sorted(people)], ties


def alias_row(alias: dict[str, Any], domains: Iterable[str]) -> dict[str, Any]:
    """A WRITE_ALIASES row from an aliases.v1 record: both addresses with their internal flag."""
    domains = tuple(domains)
    return {
        "tenant": alias["tenant"],
        "alias": alias["alias"],
        "owner": alias["owner"],
        "name": alias.get("name", ""),
        "messages": int(alias.get("messages", 0)),
        "alias_internal": affiliation_of(alias["alias"], domains).internal,
        "owner_internal": affiliation_of(alias["owner"], domains).internal,
        "offset": alias["offset"],
    }


class GraphStore(NetworkStore):
    """All reads and writes tiegraph makes to Neo4j."""

    def __init__(self, driver: AsyncDriver) -> None:
        self._driver = driver

    @classmethod
    def connect(cls, uri: str, user: str, password: str) -> GraphStore:
        auth = (user, password) if password else None
        return cls(
            AsyncGraphDatabase.driver(uri, auth=auth, max_connection_pool_size=20, notifications_min_severity="OFF")
        )

    async def close(self) -> None:
        await self._driver.close()

    async def _write(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        async def work(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(query, params)
            return [record.data() async for record in result]

        with _graph_errors():
            async with self._driver.session() as session:
                return await session.execute_write(work)

    async def _read(self, query: LiteralString, **params: Any) -> list[dict[str, Any]]:
        """A read in one round trip: an auto-commit query (a managed transaction adds a commit's
        round trip, and retries that an API request cannot wait for). Values are maps, lists and
        scalars only, so records need none of `Record.data()`'s conversion of nodes. Tried twice on
        a lost connection: after a Neo4j restart the pool still holds dead ones, and the driver
        finds out only by using one."""
        with _graph_errors():
            try:
                return await self._read_once(query, params)
            except (ServiceUnavailable, SessionExpired):
                return await self._read_once(query, params)

    async def _read_once(self, query: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._driver.session(default_access_mode=READ_ACCESS) as session:
            result = await session.run(query, params)
            return [dict(zip(record.keys(), record.values(), strict=True)) async for record in result]

    async def ping(self) -> None:
        try:
            await self._driver.verify_connectivity()
        except (ServiceUnavailable, DriverError, OSError) as exc:
            raise GraphUnavailable(f"Neo4j unavailable: {exc}") from exc

    async def wait_until_reachable(self, timeout: float = 60.0) -> None:
        """Ping until Neo4j answers (it opens its port before Bolt is ready); GraphUnavailable after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.ping()
                return
            except GraphUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def ensure_schema(self) -> None:
        for statement in cypher.SCHEMA + cypher_network.SCHEMA:
            await self._write(statement)

    # -- writes -------------------------------------------------------------------------------

    async def write_ties(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write rows of `tie_row` (each with its source "offset", or none for a rewrite that always
        applies), in one transaction; never a tie with a person the graph's blocklist holds."""
        if not rows:
            return

        async def work(tx: AsyncManagedTransaction) -> None:
            result = await tx.run(cypher.BLOCKLISTS_OF, tenants=sorted({r["tenant"] for r in rows}))
            blocklists: dict[str, set[str]] = {}
            async for record in result:
                blocklists.setdefault(record["tenant"], set()).add(record["value"])
            kept = [r for r in rows if not blocklists or not _has_blocked(r, blocklists)]
            if kept:
                people, ties = people_and_ties(kept)
                await (await tx.run(cypher.WRITE_TIES, people=people, rows=ties)).consume()

        with _graph_errors():
            async with self._driver.session() as session:
                await session.execute_write(work)

    async def write_aliases(self, rows: Sequence[dict[str, Any]]) -> None:
        """(alias)-[:ALIAS_OF]->(owner) for rows of `alias_row`, each with its source "offset"."""
        if rows:
            await self._write(cypher.WRITE_ALIASES, rows=list(rows))

    async def delete_aliases(self, rows: Sequence[dict[str, Any]]) -> None:
        """Remove the ALIAS_OF edge of each (tenant, alias, offset) row, unless a newer record wrote it."""
        if rows:
            await self._write(cypher.DELETE_ALIASES, rows=list(rows))

    async def aliases(self, tenant: str) -> list[Alias]:
        """Every alias of the tenant with its owner (few: a handful per connected mailbox)."""
        return _aliases(tenant, await self._read(cypher.ALIASES, tenant=tenant))

    async def write_counters(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self._write(cypher.WRITE_COUNTERS, rows=list(rows))

    async def write_worker_status(self, status: dict[str, Any]) -> None:
        """A worker process's heartbeat (streams/faust_app.py `write_heartbeats`)."""
        await self._write(cypher.WRITE_WORKER_STATUS, status=status)

    async def put_mailbox(self, mailbox: dict[str, Any]) -> None:
        """Create or update a (:Mailbox) node; the connector registry's own writes take precedence."""
        await self._write(cypher.PUT_MAILBOX, mailbox=mailbox)

    async def create_tenant(self, name: str, domains: Sequence[str]) -> tuple[TenantInfo, str]:
        """Create the tenant (or update its domains) and issue a new API key for it."""
        key = "tg_" + secrets.token_urlsafe(32)
        rows = await self._write(
            cypher.CREATE_TENANT,
            name=name,
            domains=[d.lower() for d in domains],
            key_hash=hash_api_key(key),
            now=time.time(),
        )
        return TenantInfo.from_row(rows[0]), key

    async def configure_tenant(self, name: str, overrides: dict[str, Any]) -> TenantInfo:
        """Set a tenant's tie model parameters (validated against the model's names)."""
        TieModel().with_overrides(overrides)
        rows = await self._write(cypher.CONFIGURE_TENANT, name=name, model=json.dumps(overrides, sort_keys=True))
        if not rows:
            raise UnknownTenant(f"no tenant {name!r}")
        return TenantInfo.from_row(rows[0])

    async def delete_tenant_graph(self, name: str) -> None:
        """Delete everything the graph holds for tenant `name`: its people with their ties and
        aliases, organisations, counters, mailboxes, blocklist, API keys and the tenant itself.
        Only the graph: the tenant's records in Kafka and the worker's tables stay (the bench,
        which uses this, deletes its own topics)."""
        with _graph_errors():
            async with self._driver.session() as session:  # auto-commit: IN TRANSACTIONS needs it
                for query in cypher.DELETE_TENANT_GRAPH:
                    await (await session.run(query, tenant=name)).consume()

    # -- reads ---------------------------------------------------------------------------------

    async def tenants(self) -> list[TenantInfo]:
        return [TenantInfo.from_row(r) for r in await self._read(cypher.TENANTS)]

    async def caller(self, key: str) -> Caller | None:
        """The tenant of an API key, with its aliases; None for an unknown or revoked key."""
        rows = await self._read(cypher.TENANT_BY_KEY, key_hash=hash_api_key(key))
        if not rows:
            return None
        tenant = TenantInfo.from_row(rows[0])
        return Caller(tenant, _aliases(tenant.name, rows[0]["aliases"]))

    async def person(self, tenant: str, email: str) -> dict[str, Any] | None:
        rows = await self._read(cypher.PERSON, tenant=tenant, email=email)
        return rows[0] if rows else None

    async def contacts(self, tenant: str, email: str) -> list[tuple[dict[str, Any], Tie]]:
        """Every contact of a person with the tie oriented so that `a` is the person."""
        found = []
        for row in await self._read(cypher.CONTACTS, tenant=tenant, email=email):
            a, b = (email, row["email"]) if row["person_is_a"] else (row["email"], email)
            found.append((row, tie_from_props(tenant, a, b, row["tie"])))
        return found

    async def awaiting_reply(self, tenant: str, email: str, limit: int) -> list[tuple[dict[str, Any], Tie]]:
        """Contacts whose last message in some conversation this person has not answered."""
        found = []
        for row in await self._read_rows(cypher.AWAITING_REPLY, tenant=tenant, email=email, limit=limit):
            a, b = (email, row["email"]) if row["person_is_a"] else (row["email"], email)
            found.append((row, tie_from_props(tenant, a, b, row["tie"])))
        return found

    async def tie(self, tenant: str, a: str, b: str) -> Tie | None:
        rows = await self._read(cypher.TIE, tenant=tenant, a=a, b=b)
        if not rows:
            return None
        first, second = (a, b) if rows[0]["first_is_a"] else (b, a)
        return tie_from_props(tenant, first, second, rows[0]["tie"])

    async def tenant_ties(self, tenant: str) -> list[dict[str, Any]]:
        """Every tie of a tenant as stored ({"a", "b", "tie": properties}), ordered by pair: lets a
        run be compared with another run of the same input."""
        return await self._read(cypher.TENANT_TIES, tenant=tenant)

    async def worker_statuses(self, app_id: str) -> list[dict[str, Any]]:
        """Every worker heartbeat of the consumer group `app_id`, newest first."""
        return [r["status"] for r in await self._read(cypher.WORKER_STATUSES, app_id=app_id)]

    async def mailboxes(self) -> list[dict[str, Any]]:
        """Every connected mailbox of every tenant with its sync state (for operators)."""
        return await self._read(cypher.MAILBOX_STATES)

    async def warm_cache(self, tenant: str) -> dict[str, int]:
        """Read the tenant's whole graph once (its counts): queries then find it in memory."""
        rows = await self._read(cypher.WARM_TENANT, tenant=tenant)
        return {k: int(v or 0) for k, v in rows[0].items()}

    async def stats(self, tenant: str) -> dict[str, int]:
        rows = await self._read(cypher.STATS, tenant=tenant)
        return {k: int(v) for k, v in rows[0].items()}
