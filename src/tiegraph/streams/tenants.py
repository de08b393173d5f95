"""What the worker knows of each tenant: its domains and tie model, refreshed from the graph."""

from __future__ import annotations

from collections.abc import Iterable

from tiegraph.core.model import TieModel
from tiegraph.graph.neo4j import GraphStore, TenantInfo


class TenantDirectory:
    """A read-mostly view of the tenants, replaced wholesale on refresh."""

    def __init__(self, default_model: TieModel | None = None) -> None:
        self._tenants: dict[str, TenantInfo] = {}
        self._blocked: dict[str, frozenset[str]] = {}
        self._default_model = default_model or TieModel()

    def replace(self, tenants: Iterable[TenantInfo]) -> None:
        self._tenants = {t.name: t for t in tenants}

    def knows(self, tenant: str) -> bool:
        return tenant in self._tenants

    def domains(self, tenant: str) -> tuple[str, ...]:
        info = self._tenants.get(tenant)
        return info.domains if info else ()

    def model(self, tenant: str) -> TieModel:
        info = self._tenants.get(tenant)
        if info is None or not info.model_overrides:
            return self._default_model
        return self._default_model.with_overrides(info.model_overrides)

    def replace_blocklists(self, blocked: dict[str, frozenset[str]]) -> None:
        self._blocked = dict(blocked)

    async def load(self, graph: GraphStore) -> None:
        """Every tenant with its model and blocklist, from the graph (GraphUnavailable if it is down)."""
        self.replace(await graph.tenants())
        self.replace_blocklists(await graph.all_blocklists())

    def blocked(self, tenant: str) -> frozenset[str]:
        """The tenant's blocked addresses and domains (core/blocklist.py decides what they cover)."""
        return self._blocked.get(tenant, frozenset())
