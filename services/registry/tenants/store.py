"""What the tenant use cases need of storage."""

from __future__ import annotations

from typing import Protocol

from services.registry.kernel.models import PageOf, PageRequest, Tenant
from services.registry.kernel.ports import TenantLookup


class TenantStore(TenantLookup, Protocol):
    async def search(self, page: PageRequest, query: str, order_by: str) -> PageOf[Tenant]:
        """``query`` matches a substring of slug or display name; ``order_by`` is one of
        slug, display_name, created_at, prefixed with - for descending ("" = slug)."""
        ...

    async def insert(self, tenant: Tenant) -> None:
        """AlreadyExists(TENANT_SLUG_TAKEN) when the slug is taken."""
        ...

    async def update(self, tenant: Tenant, expected_version: int) -> bool:
        """Write every mutable field; False if the stored version is not ``expected_version``."""
        ...

    async def lock_bootstrap(self) -> None:
        """Serialise platform seeding across processes for the rest of the unit of work."""
        ...
