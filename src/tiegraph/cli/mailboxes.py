"""`tiegraph mailboxes add|list|remove` and `tiegraph sync` (registered on the app in cli/main.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from tiegraph.cli.common import AsJson, fail
from tiegraph.errors import TiegraphError
from tiegraph.settings import Settings

mailboxes_app = typer.Typer(help="Connected mailboxes and calendars, and their sync state.", no_args_is_help=True)
add_app = typer.Typer(help="Connect a mailbox or calendar (credentials never on the command line).")
mailboxes_app.add_typer(add_app, name="add")
_T = TypeVar("_T")

Tenant = Annotated[str, typer.Option(help="the tenant the mailbox belongs to")]
Owner = Annotated[str, typer.Option(help="the mailbox owner's address")]
TokenFile = Annotated[Path | None, typer.Option(help="an OAuth authorized-user token file (JSON)")]
ServiceAccountKey = Annotated[Path | None, typer.Option(help="a service-account key file (domain-wide delegation)")]
ApiEndpoint = Annotated[str | None, typer.Option(help="the provider's API base URL (tests, sovereign clouds)")]


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    try:
        return asyncio.run(work)
    except TiegraphError as exc:
        raise fail(str(exc)) from exc


def _add(tenant: str, provider: str, build_entry: Any) -> None:
    from tiegraph.ingest.mailbox_setup import add_mailbox

    async def work() -> Any:
        return await add_mailbox(Settings(), tenant=tenant, provider=provider, entry=build_entry(), now=time.time())

    mailbox = _run(work())
    typer.echo(f"added {mailbox.id} to tenant {mailbox.tenant} (state {mailbox.state}); run `tiegraph sync` to start")


@add_app.command("imap")
def add_imap(
    tenant: Tenant,
    owner: Owner,
    host: Annotated[str, typer.Option(help="the IMAP server")],
    user: Annotated[str, typer.Option(help="the login name")],
    password_env: Annotated[str, typer.Option(help="the environment variable holding the password")],
    port: Annotated[int, typer.Option(help="993 with TLS, 143 without")] = 993,
    no_tls: Annotated[bool, typer.Option("--no-tls", help="plain IMAP (loopback and tests only)")] = False,
    folder: Annotated[list[str] | None, typer.Option(help="sync only these folders (repeat)")] = None,
    batch_size: Annotated[int, typer.Option(help="messages per fetch and per saved cursor")] = 500,
) -> None:
    """An IMAP mailbox (header-only sync; spam, trash and drafts are skipped)."""
    from tiegraph.ingest.mailbox_setup import imap_entry, owner_address

    _add(
        tenant,
        "imap",
        lambda: imap_entry(
            owner=owner_address(owner),
            host=host,
            port=port,
            user=user,
            password_env=password_env,
            tls=not no_tls,
            folders=folder or [],
        ),
    )


@add_app.command("gmail")
def add_gmail(
    tenant: Tenant,
    owner: Owner,
    token_file: TokenFile = None,
    service_account_key: ServiceAccountKey = None,
    api_endpoint: ApiEndpoint = None,
) -> None:
    """A Gmail mailbox."""
    from tiegraph.ingest.mailbox_setup import google_entry, owner_address

    _add(
        tenant,
        "gmail",
        lambda: google_entry(
            owner=owner_address(owner),
            token_file=token_file,
            service_account_key=service_account_key,
            api_endpoint=api_endpoint,
        ),
    )


@add_app.command("gcal")
def add_gcal(
    tenant: Tenant,
    owner: Owner,
    token_file: TokenFile = None,
    service_account_key: ServiceAccountKey = None,
    api_endpoint: ApiEndpoint = None,
    calendar_id: Annotated[str, typer.Option(help="the calendar to read")] = "primary",
) -> None:
    """A Google Calendar."""
    from tiegraph.ingest.mailbox_setup import google_entry, owner_address

    def entry() -> tuple[dict[str, Any], dict[str, Any]]:
        config, secret = google_entry(
            owner=owner_address(owner),
            token_file=token_file,
            service_account_key=service_account_key,
            api_endpoint=api_endpoint,
        )
        return {**config, "calendar_id": calendar_id}, secret

    _add(tenant, "gcal", entry)


@add_app.command("msgraph")
def add_msgraph(
    tenant: Tenant,
    owner: Owner,
    client_id: Annotated[str, typer.Option(help="the Entra ID application (client) id")],
    directory_tenant: Annotated[str, typer.Option(help="the Entra ID directory (tenant) id")],
    client_secret_env: Annotated[str | None, typer.Option(help="env variable holding the client secret")] = None,
    token_file: TokenFile = None,
    api_endpoint: ApiEndpoint = None,
    authority: Annotated[str | None, typer.Option(help="the login authority URL")] = None,
) -> None:
    """A Microsoft 365 mailbox and calendar (Microsoft Graph)."""
    from tiegraph.ingest.mailbox_setup import msgraph_entry, owner_address

    _add(
        tenant,
        "msgraph",
        lambda: msgraph_entry(
            owner=owner_address(owner),
            client_id=client_id,
            directory_tenant=directory_tenant,
            client_secret_env=client_secret_env,
            token_file=token_file,
            api_endpoint=api_endpoint,
            authority=authority,
        ),
    )


@mailboxes_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's mailboxes")] = None,
    as_json: AsJson = False,
) -> None:
    """Mailboxes with their sync state, counts and last error (never their credentials)."""
    from tiegraph.ingest.mailbox_setup import list_mailboxes

    mailboxes = _run(list_mailboxes(Settings(), tenant))
    if as_json:
        typer.echo(json.dumps([mailbox_doc(m) for m in mailboxes]))
        return
    for m in mailboxes:
        last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.last_success_at)) if m.last_success_at else "never"
        typer.echo(
            f"{m.tenant:<12} {m.id:<40} {m.state:<12} messages {m.messages:>8}  events {m.events:>6}  "
            f"last success {last}"
        )
        if m.last_error:
            typer.echo(f"{'':<12} {m.last_error}")


@mailboxes_app.command("remove")
def remove(tenant: Tenant, mailbox: Annotated[str, typer.Argument(help="its id (imap:me@acme.com) or owner")]) -> None:
    """Disconnect a mailbox (its credentials and cursor are deleted; the graph keeps what it learnt)."""
    from tiegraph.ingest.mailbox_setup import remove_mailbox

    if not _run(remove_mailbox(Settings(), tenant=tenant, id_or_owner=mailbox)):
        raise fail(f"tenant {tenant} has no mailbox {mailbox}")
    typer.echo(f"removed {mailbox}")


def sync(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's mailboxes")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="stay live: IDLE/poll and sync what arrives")] = False,
) -> None:
    """Sync every mailbox once (or keep them live with --follow); exits 1 if one is in error."""
    from tiegraph.ingest.sync import run_sync

    try:
        reports = _run(run_sync(Settings(), tenant=tenant, follow=follow))
    except KeyboardInterrupt:
        return
    for r in reports:
        typer.echo(
            f"{r.tenant:<12} {r.id:<40} {r.state:<12} messages {r.messages:>7}  events {r.events:>5}  "
            f"rejected {r.rejects:>4}  {r.error}"
        )
    if any(r.state in ("auth_failed", "error") for r in reports):
        raise typer.Exit(code=1)


def mailbox_doc(m: Any) -> dict[str, Any]:
    """A mailbox as JSON (the same fields GET /v1/mailboxes serves)."""
    from tiegraph.api.routes.mailboxes import MailboxOut

    return MailboxOut.from_mailbox(m).model_dump(mode="json")
