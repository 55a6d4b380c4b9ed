"""In-memory TenantStore (services.registry.tenants.store)."""

from __future__ import annotations

import copy
from typing import Any

from services.common.errors import AlreadyExists
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest, Settings, Tenant
from services.registry.kernel.paging import slice_page

_ORDER_COLUMNS = ("slug", "display_name", "created_at")


def _tenant(row: Row) -> Tenant:
    return Tenant(
        id=row["id"],
        slug=row["slug"],
        display_name=row["display_name"],
        app_limit=row["app_limit"],
        control_plane=row["control_plane"],
        settings=Settings(copy.deepcopy(row["settings"])),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class MemoryTenantStore(MemoryStore):
    async def get(self, slug: str, *, for_update: bool = False) -> Tenant | None:  # noqa: ARG002
        """``for_update`` needs no lock in memory: writers are serialised."""
        row = next((r for r in self._table("tenants").values() if r["slug"] == slug), None)
        return _tenant(row) if row else None

    async def get_by_id(self, tenant_id: str) -> Tenant | None:
        row = self._table("tenants").get(tenant_id)
        return _tenant(row) if row else None

    async def search(self, page: PageRequest, query: str, order_by: str) -> PageOf[Tenant]:
        rows = list(self._table("tenants").values())
        if query:
            needle = query.lower()
            rows = [
                r
                for r in rows
                if needle in r["slug"].lower() or needle in r["display_name"].lower()
            ]
        descending = order_by.startswith("-")
        column = order_by.lstrip("-") or "slug"
        if column not in _ORDER_COLUMNS:
            raise ValueError(f"cannot order tenants by {order_by!r}")
        # Ties are broken by id, ascending whatever the direction (as the SQL store does).
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r[column], reverse=descending)
        return slice_page([_tenant(r) for r in rows], page)

    async def insert(self, tenant: Tenant) -> None:
        table = self._table("tenants")
        if any(r["slug"] == tenant.slug for r in table.values()):
            raise unique_violation("tenants", "slug")
        if tenant.id in table:
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
        table[tenant.id] = {
            "id": tenant.id,
            "slug": tenant.slug,
            "display_name": tenant.display_name,
            "app_limit": tenant.app_limit,
            "control_plane": tenant.control_plane,
            "settings": copy.deepcopy(tenant.settings.values),
            "version": tenant.version,
            "created_at": tenant.created_at,
            "updated_at": tenant.updated_at,
        }

    async def update(self, tenant: Tenant, expected_version: int) -> bool:
        row = self._table("tenants").get(tenant.id)
        if row is None or row["version"] != expected_version:
            return False
        values: dict[str, Any] = {
            "display_name": tenant.display_name,
            "app_limit": tenant.app_limit,
            "settings": copy.deepcopy(tenant.settings.values),
            "version": tenant.version,
            "updated_at": tenant.updated_at,
        }
        row.update(values)
        return True

    async def lock_bootstrap(self) -> None:
        """Writers are already serialised in memory, and nothing is shared across processes."""
