"""Registering mailboxes: turn command-line options into a registry entry (config + sealed secret).

Credentials never come from the command line itself (it is visible to every user of the machine and in
shell history): a password comes from a named environment variable, tokens and keys from files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tiegraph.core.identity import InvalidAddress, normalize_email
from tiegraph.deployment import connect_graph
from tiegraph.errors import TiegraphError, UnknownTenant
from tiegraph.graph.mailboxes import Mailbox, MailboxRegistry, mailbox_id
from tiegraph.ingest.connectors import PROVIDERS
from tiegraph.ingest.secrets import SecretBox
from tiegraph.settings import Settings

Entry = tuple[dict[str, Any], dict[str, Any]]  # (config, secret)


class MailboxSetupError(TiegraphError):
    """The options do not describe a usable mailbox; the text says what to change."""


def owner_address(raw: str) -> str:
    try:
        return normalize_email(raw)
    except InvalidAddress as exc:
        raise MailboxSetupError(f"--owner: {exc}") from exc


def env_secret(var: str, option: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise MailboxSetupError(f"{option} {var}: the environment variable {var} is not set or empty")
    return value


def json_file(path: Path, option: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except OSError as exc:
        raise MailboxSetupError(f"{option} {path}: cannot read it ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise MailboxSetupError(f"{option} {path}: not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise MailboxSetupError(f"{option} {path}: expected a JSON object")
    return value


def imap_entry(
    *,
    owner: str,
    host: str,
    port: int,
    user: str,
    password_env: str,
    tls: bool,
    folders: list[str],
    batch_size: int = 500,
) -> Entry:
    if not 0 < port < 65536:
        raise MailboxSetupError(f"--port {port}: not a TCP port")
    if batch_size < 1:
        raise MailboxSetupError(f"--batch-size {batch_size}: must be at least 1")
    config = {"owner": owner, "host": host, "port": port, "user": user, "tls": tls, "folders": folders}
    config["batch_size"] = batch_size
    return config, {"password": env_secret(password_env, "--password-env")}


def google_entry(
    *, owner: str, token_file: Path | None, service_account_key: Path | None, api_endpoint: str | None
) -> Entry:
    """Gmail and Google Calendar: an authorized-user token file or a service-account key (domain-wide)."""
    if (token_file is None) == (service_account_key is None):
        raise MailboxSetupError("give exactly one of --token-file or --service-account-key")
    if token_file is not None:
        secret = {"authorized_user": json_file(token_file, "--token-file")}
    else:
        assert service_account_key is not None
        secret = {"service_account": json_file(service_account_key, "--service-account-key")}
    return {"owner": owner, "api_endpoint": api_endpoint}, secret


def msgraph_entry(
    *,
    owner: str,
    client_id: str,
    directory_tenant: str,
    client_secret_env: str | None,
    token_file: Path | None,
    api_endpoint: str | None,
    authority: str | None,
) -> Entry:
    if (client_secret_env is None) == (token_file is None):
        raise MailboxSetupError("give exactly one of --client-secret-env or --token-file")
    config = {
        "owner": owner,
        "client_id": client_id,
        "directory_tenant": directory_tenant,
        "api_endpoint": api_endpoint,
        "authority": authority,
    }
    if client_secret_env is not None:
        return config, {"client_secret": env_secret(client_secret_env, "--client-secret-env")}
    assert token_file is not None
    return config, {"token": json_file(token_file, "--token-file")}


async def add_mailbox(settings: Settings, *, tenant: str, provider: str, entry: Entry, now: float) -> Mailbox:
    """Seal the secret and register the mailbox (again: new options and credentials, state pending)."""
    if provider not in PROVIDERS:
        raise MailboxSetupError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    config, secret = entry
    sealed = SecretBox.from_settings(settings).seal(secret)
    graph = connect_graph(settings)
    try:
        await graph.ensure_schema()
        mailbox = await MailboxRegistry(graph).add(
            tenant=tenant, provider=provider, owner=config["owner"], config=config, sealed_secret=sealed, now=now
        )
    finally:
        await graph.close()
    if mailbox is None:
        raise UnknownTenant(f"no tenant {tenant!r}: create it with `tiegraph tenants create {tenant}`")
    return mailbox


async def list_mailboxes(settings: Settings, tenant: str | None) -> list[Mailbox]:
    graph = connect_graph(settings)
    try:
        return await MailboxRegistry(graph).list(tenant)
    finally:
        await graph.close()


async def remove_mailbox(settings: Settings, *, tenant: str, id_or_owner: str) -> bool:
    """Remove by id (`imap:me@acme.com`) or, when it is unambiguous, by the owner's address."""
    graph = connect_graph(settings)
    try:
        registry = MailboxRegistry(graph)
        ids = [id_or_owner] if ":" in id_or_owner else [mailbox_id(p, id_or_owner.lower()) for p in PROVIDERS]
        existing = {m.id for m in await registry.list(tenant)} & set(ids)
        if len(existing) > 1:
            raise MailboxSetupError(f"{id_or_owner} has several mailboxes ({', '.join(sorted(existing))}): name one")
        return bool(existing) and await registry.remove(tenant, existing.pop())
    finally:
        await graph.close()
