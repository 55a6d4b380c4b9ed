"""What the catalog use cases (and the features that grant or copy entries) need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.registry.catalog.models import CatalogEntry, EntryReferences, PermissionEntry
from services.registry.kernel.models import PageOf, PageRequest


class CatalogLookup(Protocol):
    """Resolving catalog references: what role grants need."""

    async def lookup(
        self, tenant_id: str, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], PermissionEntry]:
        """The tenant's entries among ``refs`` ((service, code) pairs), keyed by their ref;
        unknown refs are absent. On PostgreSQL the rows are share-locked until the unit of work
        ends, so a concurrent reconcile cannot prune them before the grant that follows."""
        ...


class CatalogEntries(Protocol):
    """Reading a catalog whole: what resource servers' subsets need."""

    async def entries(
        self, tenant_id: str, service_codes: Sequence[str], *, lock: str | None = None
    ) -> list[CatalogEntry]:
        """Every entry (deprecated ones too) of the services, ordered by service then code.
        ``lock="update"`` (a reconcile about to prune) or ``"share"`` (a write that will point
        at the entries) locks the rows (PostgreSQL) until the unit of work ends."""
        ...


class CatalogStore(CatalogLookup, CatalogEntries, Protocol):
    async def lock(self, tenant_id: str, service_code: str, at: datetime) -> int:
        """Create the (tenant, service) catalog row if it is missing, lock it until the unit
        of work ends (concurrent reconciles of that catalog wait here) and return its
        revision. Must not fail when another unit of work creates the row at the same time."""
        ...

    async def revision(self, tenant_id: str, service_code: str) -> int:
        """The revision without locking; 0 when the service never registered."""
        ...

    async def set_revision(
        self, tenant_id: str, service_code: str, revision: int, at: datetime
    ) -> None: ...
    async def references(self, permission_ids: Sequence[str]) -> dict[str, EntryReferences]:
        """What still points at the given entries (granting roles' codes, gating resource
        servers' audiences, each sorted); entries nothing references are absent."""
        ...

    async def insert(self, tenant_id: str, entries: Sequence[CatalogEntry]) -> None: ...
    async def update(self, entry: CatalogEntry) -> None:
        """Write code, name, description, updated_at and deprecated_at of the entry."""
        ...

    async def delete(self, permission_ids: Sequence[str]) -> None:
        """Remove the entries with their role grants and resource-server subset rows."""
        ...

    async def search(
        self,
        tenant_id: str,
        service_code: str | None,
        include_deprecated: bool,
        page: PageRequest,
    ) -> PageOf[CatalogEntry]:
        """Ordered by service then code."""
        ...

    async def upsert(
        self,
        tenant_id: str,
        service_code: str,
        code: str,
        name: str,
        at: datetime,
        *,
        description: str = "",
    ) -> str:
        """Insert the entry, or refresh its name and description and make it live again;
        returns its id (seeding the platform catalogs, copying a catalog)."""
        ...

    async def ids(self, tenant_id: str, service_codes: Sequence[str]) -> dict[str, str]:
        """code → id of every entry of the services."""
        ...

    async def copy(
        self, tenant_id: str, source_service: str, target_service: str, at: datetime
    ) -> int:
        """Copy the live entries (not deprecated ones) as new rows with fresh ids, so the
        source's role grants and resource-server subsets stay the source's; returns how many.
        Upserts: a deleted app's slug may be reused and its old catalog still be there."""
        ...
