"""The mailbox registry in Neo4j: one (:Mailbox) per connected mailbox or calendar, its sync state,
its cursor, its encrypted credentials, and the lease that lets one runner at a time sync it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tiegraph.graph import cypher
from tiegraph.graph.neo4j import GraphStore

STATES = ("pending", "backfilling", "live", "throttled", "auth_failed", "error")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A registry row without its secret (safe to print and to serve)."""

    tenant: str
    id: str
    provider: str
    owner: str
    state: str
    state_since: float
    last_success_at: float | None
    last_error: str
    messages: int
    events: int
    config: dict[str, Any]
    cursor: dict[str, Any]
    created_at: float
    retry_at: float | None = None
    lease_owner: str | None = None
    lease_until: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Mailbox:
        return cls(
            tenant=row["tenant"],
            id=row["id"],
            provider=row["provider"],
            owner=row["owner"],
            state=row["state"],
            state_since=float(row["state_since"]),
            last_success_at=row.get("last_success_at"),
            last_error=row.get("last_error") or "",
            messages=int(row.get("messages") or 0),
            events=int(row.get("events") or 0),
            config=json.loads(row.get("config") or "{}"),
            cursor=json.loads(row.get("cursor") or "{}"),
            created_at=float(row["created_at"]),
            retry_at=row.get("retry_at"),
            lease_owner=row.get("lease_owner"),
            lease_until=row.get("lease_until"),
        )


@dataclass(frozen=True, slots=True)
class ClaimedMailbox:
    """A mailbox this runner holds the lease on, with its sealed (still encrypted) credentials."""

    mailbox: Mailbox
    sealed_secret: str = field(repr=False)


def mailbox_id(provider: str, owner: str) -> str:
    """One registry entry per provider and owner: adding it again replaces its options and credentials."""
    return f"{provider}:{owner}"


class MailboxRegistry:
    """Reads and writes (:Mailbox) nodes through the store's session handling (same package)."""

    def __init__(self, graph: GraphStore) -> None:
        self._graph = graph

    async def add(
        self, *, tenant: str, provider: str, owner: str, config: dict[str, Any], sealed_secret: str, now: float
    ) -> Mailbox | None:
        """Register (or re-register) a mailbox in state pending; None if the tenant does not exist."""
        rows = await self._graph._write(
            cypher.ADD_MAILBOX,
            tenant=tenant,
            id=mailbox_id(provider, owner),
            provider=provider,
            owner=owner,
            config=json.dumps(config, sort_keys=True),
            secret=sealed_secret,
            now=now,
        )
        return Mailbox.from_row(rows[0]["mailbox"]) if rows else None

    async def list(self, tenant: str | None = None) -> list[Mailbox]:
        rows = await self._graph._read(cypher.MAILBOXES, tenant=tenant)
        return [Mailbox.from_row(r["mailbox"]) for r in rows]

    async def remove(self, tenant: str, id: str) -> bool:
        rows = await self._graph._write(cypher.REMOVE_MAILBOX, tenant=tenant, id=id)
        return bool(rows and rows[0]["removed"])

    async def claim(
        self, tenant: str, id: str, *, runner: str, now: float, lease_seconds: float
    ) -> ClaimedMailbox | None:
        """Take or renew the lease; None while another live runner holds it (or the mailbox is gone)."""
        rows = await self._graph._write(
            cypher.CLAIM_MAILBOX, tenant=tenant, id=id, runner=runner, now=now, lease_seconds=lease_seconds
        )
        if not rows:
            return None
        return ClaimedMailbox(Mailbox.from_row(rows[0]["mailbox"]), rows[0]["secret"] or "")

    async def release(self, tenant: str, id: str, *, runner: str) -> None:
        await self._graph._write(cypher.RELEASE_MAILBOX, tenant=tenant, id=id, runner=runner)

    async def save_progress(
        self,
        tenant: str,
        id: str,
        *,
        runner: str,
        cursor: dict[str, Any],
        messages: int,
        events: int,
        state: str,
        success: bool,
        now: float,
        lease_seconds: float,
    ) -> bool:
        """Cursor, counts and state after Kafka acknowledged a batch; False if the lease was lost."""
        rows = await self._graph._write(
            cypher.SAVE_MAILBOX_PROGRESS,
            tenant=tenant,
            id=id,
            runner=runner,
            cursor=json.dumps(cursor, sort_keys=True),
            messages=messages,
            events=events,
            state=state,
            success=success,
            now=now,
            lease_seconds=lease_seconds,
        )
        return bool(rows and rows[0]["saved"])

    async def replace_secret(self, tenant: str, id: str, *, runner: str, previous: str, sealed_secret: str) -> bool:
        """Store credentials the provider rotated; False if the lease was lost or the mailbox re-added since."""
        rows = await self._graph._write(
            cypher.SAVE_MAILBOX_SECRET, tenant=tenant, id=id, runner=runner, previous=previous, secret=sealed_secret
        )
        return bool(rows and rows[0]["saved"])

    async def set_state(
        self,
        tenant: str,
        id: str,
        *,
        runner: str,
        state: str,
        error: str,
        now: float,
        retry_at: float | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> bool:
        """A state change with its reason in words (and a reset cursor when one was invalidated)."""
        rows = await self._graph._write(
            cypher.SET_MAILBOX_STATE,
            tenant=tenant,
            id=id,
            runner=runner,
            state=state,
            error=error,
            now=now,
            retry_at=retry_at,
            cursor=None if cursor is None else json.dumps(cursor, sort_keys=True),
        )
        return bool(rows and rows[0]["saved"])
