"""`tiegraph import`: files -> mail.messages.v1, for a tenant that must exist."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tiegraph.deployment import connect_graph, ensure_pipeline_topics, topic_names
from tiegraph.errors import UnknownTenant
from tiegraph.ingest.runner import ImportSummary, import_items, iter_paths
from tiegraph.settings import Settings


def _print_progress(summary: ImportSummary) -> None:
    rejected = sum(summary.rejected.values())
    sys.stderr.write(f"\r  read {summary.read:>8}  produced {summary.produced:>8}  rejected {rejected:>6}")
    sys.stderr.flush()


async def run_import(
    settings: Settings, paths: Sequence[Path], *, tenant: str, owner: str = "", show_progress: bool = False
) -> ImportSummary:
    """Check the tenant, make sure the topics exist, and produce every message under `paths`."""
    graph = connect_graph(settings)
    try:
        if tenant not in {t.name for t in await graph.tenants()}:
            raise UnknownTenant(f"no tenant {tenant!r}: create it with `tiegraph tenants create {tenant}`")
    finally:
        await graph.close()
    await ensure_pipeline_topics(settings)
    owner_email = owner.strip().lower()
    summary = await import_items(
        iter_paths(paths),
        tenant=tenant,
        owner=owner_email,
        bootstrap=settings.kafka_bootstrap,
        names=topic_names(settings),
        progress=_print_progress if show_progress else None,
        produce_timeout_s=settings.produce_timeout_s,
    )
    if show_progress:
        sys.stderr.write("\n")
    return summary
