"""Provider name -> connector factory: the one place to add a provider.

A factory takes the mailbox's non-secret config and its decrypted secret (both JSON objects, as the
registry stores them) and returns a Connector. The runner adds "tenant" to the config it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tiegraph.ingest import gcal, gmail, imap, msgraph
from tiegraph.ingest.base import Connector, ConnectorError

ConnectorFactory = Callable[[dict[str, Any], dict[str, Any]], Connector]

CONNECTORS: dict[str, ConnectorFactory] = {
    "imap": imap.from_config,
    "gmail": gmail.from_config,
    "gcal": gcal.from_config,
    "msgraph": msgraph.from_config,
}

PROVIDERS = tuple(CONNECTORS)  # what `tiegraph mailboxes add` registers


def build_connector(provider: str, config: dict[str, Any], secret: dict[str, Any]) -> Connector:
    """The connector for a registry entry; ConnectorError (shown on the mailbox) when it cannot be built."""
    factory = CONNECTORS.get(provider)
    if factory is None:
        raise ConnectorError(f"no connector for provider {provider!r} in this build of tiegraph")
    try:
        return factory(config, secret)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConnectorError(
            f"the {provider} mailbox's stored options are incomplete ({exc!r}): add the mailbox again"
        ) from exc
