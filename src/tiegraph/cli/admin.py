"""`tiegraph tenants keys ...` and `tiegraph blocklist ...`: API keys and blocklists from the shell."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from tiegraph import erasure
from tiegraph.cli.common import AsJson, fail
from tiegraph.core.blocklist import InvalidBlockEntry
from tiegraph.deployment import connect_graph
from tiegraph.errors import TiegraphError
from tiegraph.graph.neo4j import GraphStore
from tiegraph.settings import Settings
from tiegraph.streams.erase import alias_forgetter, stream_forgetter

keys_app = typer.Typer(help="A tenant's API keys: several per tenant, revocable.", no_args_is_help=True)
blocklist_app = typer.Typer(help="Addresses and domains a tenant never ingests.", no_args_is_help=True)

T = TypeVar("T")
Tenant = Annotated[str, typer.Option("--tenant", help="the tenant")]


def _run(work: Callable[[GraphStore], Awaitable[T]]) -> T:
    async def run() -> T:
        graph = connect_graph(Settings())
        try:
            await graph.ensure_schema()
            return await work(graph)
        finally:
            await graph.close()

    try:
        return asyncio.run(run())
    except (TiegraphError, InvalidBlockEntry) as exc:
        raise fail(str(exc)) from exc


@keys_app.command("add")
def keys_add(tenant: Tenant, as_json: AsJson = False) -> None:
    """Issue another API key for the tenant (printed once: only its hash is kept)."""
    issued = _run(lambda graph: graph.add_api_key(tenant))
    if issued is None:
        raise fail(f"no tenant {tenant!r}")
    key_id, key = issued
    typer.echo(json.dumps({"tenant": tenant, "id": key_id, "api_key": key}) if as_json else f"{key_id}  {key}")


@keys_app.command("list")
def keys_list(tenant: Tenant, as_json: AsJson = False) -> None:
    """The tenant's keys by id (never the keys themselves), with creation and revocation times."""
    keys = _run(lambda graph: graph.api_keys(tenant))
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for key in keys:
        state = "revoked" if key["revoked_at"] else "active"
        typer.echo(f"{key['id']}  {state}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, tenant: Tenant) -> None:
    """Revoke a key by its id (from `keys list`): requests with it get 401 from then on."""
    if not _run(lambda graph: graph.revoke_api_key(tenant, key_id)):
        raise fail(f"no active key {key_id!r} for tenant {tenant!r}")
    typer.echo(f"revoked {key_id}")


@blocklist_app.command("add")
def blocklist_add(entries: list[str], tenant: Tenant) -> None:
    """Block addresses or domains: the people they cover are erased now, future mail is dropped."""
    settings = Settings()
    for entry in entries:
        blocked = _run(
            lambda graph, entry=entry: erasure.block(  # type: ignore[misc]
                graph, tenant, entry, stream_forgetter(settings), alias_forgetter(settings)
            )
        )
        typer.echo(f"blocked {blocked.kind} {blocked.value} (erased {blocked.erased_people} people)")


@blocklist_app.command("list")
def blocklist_list(tenant: Tenant, as_json: AsJson = False) -> None:
    """The tenant's blocked addresses and domains."""
    entries = _run(lambda graph: graph.blocklist(tenant))
    if as_json:
        typer.echo(json.dumps(entries))
        return
    for entry in entries:
        typer.echo(f"{entry['kind']:<8} {entry['value']}")


@blocklist_app.command("remove")
def blocklist_remove(entries: list[str], tenant: Tenant) -> None:
    """Unblock: new mail counts again; erased data does not come back."""
    for entry in entries:
        removed = _run(lambda graph, entry=entry: erasure.unblock(graph, tenant, entry))  # type: ignore[misc]
        typer.echo(f"{'removed' if removed else 'not blocked:'} {entry}")
