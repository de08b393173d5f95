"""The `tiegraph` command line (names are a contract: see DESIGN.md "Interfaces")."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tiegraph.cli.admin import blocklist_app, keys_app
from tiegraph.cli.common import AsJson, echo_figures, fail
from tiegraph.cli.mailboxes import mailboxes_app, sync
from tiegraph.deployment import connect_graph, prepare
from tiegraph.errors import TiegraphError
from tiegraph.logs import log_context, setup_logging
from tiegraph.settings import Settings

app = typer.Typer(help="tiegraph: a live who-knows-whom graph from mail and calendar metadata.", no_args_is_help=True)
services_app = typer.Typer(help="Local Kafka (KRaft) and Neo4j 5, without Docker.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants and their API keys.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(tenants_app, name="tenants")
tenants_app.add_typer(keys_app, name="keys")
app.add_typer(blocklist_app, name="blocklist")
app.add_typer(mailboxes_app, name="mailboxes")
app.command()(sync)


# -- services -----------------------------------------------------------------------------------


@services_app.command("install")
def services_install() -> None:
    """Resolve the Kafka and Neo4j jars from Maven Central (cached in ~/.m2)."""
    from tiegraph.services.local import LocalServices

    try:
        LocalServices(Settings()).install()
    except TiegraphError as exc:
        raise fail(str(exc)) from exc


@services_app.command("up")
def services_up() -> None:
    """Fetch the jars (first time) and start Kafka and Neo4j; wait until both answer."""
    from tiegraph.services.local import LocalServices

    settings = Settings()
    services = LocalServices(settings)
    try:
        typer.echo("resolving Kafka and Neo4j jars (Maven Central, cached in ~/.m2)...")
        services.install()
        typer.echo("starting Kafka...")
        services.start_kafka()
        typer.echo("starting Neo4j...")
        services.start_neo4j()
        asyncio.run(prepare(settings))
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    for status in services.status()[:2]:
        typer.echo(f"{status.name:<7} running  {status.address}  (log: {status.log})")


@services_app.command("down")
def services_down() -> None:
    """Stop the worker, API, Kafka and Neo4j started from this directory."""
    from tiegraph.services.local import LocalServices

    stopped = LocalServices(Settings()).down()
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def services_status(as_json: AsJson = False) -> None:
    """Which services run, with pid, address and log file."""
    from tiegraph.services.local import LocalServices

    rows = LocalServices(Settings()).status()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"name": r.name, "running": r.running, "pid": r.pid, "address": r.address, "log": str(r.log)}
                    for r in rows
                ]
            )
        )
        return
    for r in rows:
        typer.echo(
            f"{r.name:<7} {'running' if r.running else 'stopped':<8} {r.address:<22} pid={r.pid or '-'}  log: {r.log}"
        )


# -- pipeline processes -------------------------------------------------------------------------


@app.command()
def worker(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="crit, error, warn, info or debug")] = "warn",
    role: Annotated[
        str,
        typer.Option(help="streams (the stages), graph (the Neo4j writer) or all: both, as two processes"),
    ] = "all",
) -> None:
    """Run the worker: the stream stages and the graph writer, each joining its consumer group."""
    from tiegraph.streams.worker import ROLES, run_worker

    if role not in (*ROLES, "all"):
        raise typer.BadParameter(f"one of {', '.join(ROLES)} or all", param_hint="--role")
    raise typer.Exit(code=run_worker(Settings(), loglevel, role))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="default 127.0.0.1 (TIEGRAPH_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="default 8000 (TIEGRAPH_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from tiegraph.api.main import create_app

    settings = Settings()
    setup_logging()  # JSON lines when not on a terminal (tiegraph/logs.py)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="warning",
        log_config=None,  # keep our handlers: uvicorn's own config would replace them
    )


# -- tenants ------------------------------------------------------------------------------------


@tenants_app.command("create")
def tenants_create(
    name: str,
    domain: Annotated[list[str] | None, typer.Option("--domain", help="the tenant's own mail domains (repeat)")] = None,
    as_json: AsJson = False,
) -> None:
    """Create a tenant (or update its domains) and print a new API key for it."""

    async def run() -> tuple[str, tuple[str, ...], str]:
        settings = Settings()
        graph = connect_graph(settings)
        try:
            await graph.ensure_schema()
            tenant, key = await graph.create_tenant(name, domain or [])
            return tenant.name, tenant.domains, key
        finally:
            await graph.close()

    try:
        tenant, domains, key = asyncio.run(run())
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps({"tenant": tenant, "domains": list(domains), "api_key": key}))
    else:
        typer.echo(
            f"tenant:  {tenant}\ndomains: {', '.join(domains) or '-'}\napi key: {key}\n"
            "(store the key now: only its hash is kept)"
        )


@tenants_app.command("configure")
def tenants_configure(
    name: str,
    set_: Annotated[
        list[str], typer.Option("--set", help="a tie model parameter, NAME=VALUE (JSON values allowed); repeat")
    ],
) -> None:
    """Tune a tenant's tie model (see README "Tie strength" for the parameters)."""
    overrides: dict[str, object] = {}
    for item in set_:
        key, sep, raw = item.partition("=")
        if not sep:
            raise fail(f"--set takes NAME=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw

    async def run() -> dict[str, object]:
        graph = connect_graph(Settings())
        try:
            return (await graph.configure_tenant(name, overrides)).model_overrides
        finally:
            await graph.close()

    try:
        typer.echo(json.dumps({"tenant": name, "model": asyncio.run(run())}))
    except (TiegraphError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from exc


# -- import ---------------------------------------------------------------------------------------


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="mbox files, maildirs, folders of messages, .eml files")],
    tenant: Annotated[str, typer.Option(help="the tenant the mail belongs to")],
    owner: Annotated[str, typer.Option(help="the mailbox owner's address, if it is one person's mailbox")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Import mail metadata (headers only) into the pipeline."""
    from tiegraph.ingest.importer import run_import

    setup_logging("WARNING")
    try:
        with log_context(tenant=tenant, mailbox=owner):
            summary = asyncio.run(
                run_import(
                    Settings(), paths, tenant=tenant, owner=owner, show_progress=sys.stderr.isatty() and not as_json
                )
            )
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
        return
    rejected = sum(summary.rejected.values())
    typer.echo(f"read {summary.read}, produced {summary.produced}, rejected {rejected}")
    for reason, count in summary.rejected.most_common():
        typer.echo(f"  rejected {count:>6}  {reason}")
    for source, reason in summary.examples[:5]:
        typer.echo(f"  e.g. {source}: {reason}")
    if summary.aliases:
        typer.echo(f"  the owner's aliases from its sent mail: {', '.join(summary.aliases)}")


# -- observing ------------------------------------------------------------------------------------


@app.command()
def lag(as_json: AsJson = False) -> None:
    """Consumer lag of every stage and freshness (total_lag is the sum over all partitions)."""
    from tiegraph.operations import format_lag_report, lag_report

    settings = Settings()

    async def run() -> dict[str, object]:
        graph = connect_graph(settings)
        try:
            return await lag_report(settings, graph)
        finally:
            await graph.close()

    try:
        doc = asyncio.run(run())
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(doc) if as_json else format_lag_report(doc))


@app.command()
def stats(tenant: Annotated[str, typer.Option()], as_json: AsJson = False) -> None:
    """What a tenant's graph holds."""

    async def run() -> dict[str, int]:
        graph = connect_graph(Settings())
        try:
            return await graph.stats(tenant)
        finally:
            await graph.close()

    try:
        doc = {"tenant": tenant, **asyncio.run(run())}
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    echo_figures(doc, as_json)


@app.command()
def bench(
    messages: Annotated[int, typer.Option(help="messages in the generated corpus")] = 50_000,
    people: Annotated[int, typer.Option(help="people in the generated organisation")] = 3_000,
    freshness_seconds: Annotated[float, typer.Option(help="how long to produce at 1,000 msgs/s")] = 20.0,
    query_people: Annotated[int, typer.Option(help="people in the query-latency graph")] = 100_000,
    query_ties: Annotated[int, typer.Option(help="ties in the query-latency graph")] = 1_000_000,
    query_requests: Annotated[int, typer.Option(help="requests per endpoint for query latency")] = 300,
    scale_ties: Annotated[int, typer.Option(help="ties one worker builds for its peak memory")] = 1_000_000,
    scale_store: Annotated[str, typer.Option(help="that worker's table store")] = "rocksdb://",
    as_json: AsJson = False,
) -> None:
    """Pipeline throughput against raw Kafka and Neo4j limits, freshness, query latency and worker
    memory at scale, in one run."""
    from tiegraph.bench.pipeline import print_table, run_bench

    try:
        result = asyncio.run(
            run_bench(
                Settings(),
                messages=messages,
                people=people,
                freshness_seconds=freshness_seconds,
                query_people=query_people,
                query_ties=query_ties,
                query_requests=query_requests,
                scale_ties=scale_ties,
                scale_store=scale_store,
            )
        )
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    print_table(result)
    if as_json:
        typer.echo(json.dumps(result))


@app.command("bench-queries")
def bench_queries(
    people: Annotated[int, typer.Option(help="people in the generated graph")] = 100_000,
    ties: Annotated[int, typer.Option(help="ties in the generated graph")] = 1_000_000,
    requests: Annotated[int, typer.Option(help="requests per endpoint")] = 300,
    as_json: AsJson = False,
) -> None:
    """Latency (p50 / p99) of contacts, who-knows and paths on a generated graph in the local Neo4j."""
    from tiegraph.bench.queries import measure_query_latency

    def progress(written: int) -> None:
        if not as_json:
            typer.echo(f"loaded {written:,} ties")

    try:
        figures = asyncio.run(measure_query_latency(Settings(), people, ties, requests, progress=progress))
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    echo_figures(figures, as_json)


@app.command()
def soak(
    minutes: Annotated[float, typer.Option(help="how long to run the load with faults")] = 10.0,
    rate: Annotated[float, typer.Option(help="messages produced per second")] = 50.0,
    fault_every: Annotated[float, typer.Option(help="seconds between injected faults")] = 60.0,
    seed: Annotated[int, typer.Option(help="seed of the generated organisation and mail")] = 5,
    as_json: AsJson = False,
) -> None:
    """Steady load with worker kills, Neo4j restarts and freezes and Kafka restarts; then the graph
    is compared with a clean run of the same input. Exit 1 if they differ."""
    from tiegraph.soak.runner import run_soak

    setup_logging("WARNING")
    say = (lambda _: None) if as_json else typer.echo
    try:
        report = asyncio.run(run_soak(Settings(), minutes, rate, fault_every, seed, say=say))
    except TiegraphError as exc:
        raise fail(str(exc)) from exc
    echo_figures(report.to_dict(), as_json)
    if not report.passed:
        raise typer.Exit(code=1)


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="people in the generated organisation")] = 60,
    messages: Annotated[int, typer.Option(help="messages to generate")] = 4000,
) -> None:
    """Everything end to end on a generated organisation, then example queries."""
    from tiegraph.demo import run_demo

    try:
        run_demo(Settings(), people=people, messages=messages)
    except TiegraphError as exc:
        raise fail(str(exc)) from exc


def main() -> None:
    app()
