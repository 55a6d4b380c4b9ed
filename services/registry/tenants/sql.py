"""SQL TenantStore (services.registry.tenants.store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest, Settings, Tenant
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, like_pattern, ordering, utc

# Any fixed 64-bit key: it only has to be the same in every registry replica.
_BOOTSTRAP_LOCK = 0x7E55E7A


def _tenant(row: Row[Any]) -> Tenant:
    m = row._mapping
    return Tenant(
        id=m["id"],
        slug=m["slug"],
        display_name=m["display_name"],
        app_limit=m["app_limit"],
        control_plane=m["control_plane"],
        settings=Settings(dict(m["settings"])),
        version=m["version"],
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
    )


class SqlTenantStore(SqlStore):
    async def get(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        statement = select(t.tenants).where(t.tenants.c.slug == slug)
        if for_update and self._postgresql:
            statement = statement.with_for_update()
        row = (await self._c.execute(statement)).first()
        return _tenant(row) if row else None

    async def get_by_id(self, tenant_id: str) -> Tenant | None:
        row = (await self._c.execute(select(t.tenants).where(t.tenants.c.id == tenant_id))).first()
        return _tenant(row) if row else None

    async def search(self, page: PageRequest, query: str, order_by: str) -> PageOf[Tenant]:
        statement = select(t.tenants)
        if query:
            pattern = like_pattern(query)
            statement = statement.where(
                or_(
                    func.lower(t.tenants.c.slug).like(pattern, escape="\\"),
                    func.lower(t.tenants.c.display_name).like(pattern, escape="\\"),
                )
            )
        rows, total = await self.page(statement, page, ordering(t.tenants, order_by, "slug"))
        return offset_page([_tenant(r) for r in rows], total, page)

    async def insert(self, tenant: Tenant) -> None:
        await self.execute(
            insert(t.tenants).values(
                id=tenant.id,
                slug=tenant.slug,
                display_name=tenant.display_name,
                app_limit=tenant.app_limit,
                control_plane=tenant.control_plane,
                settings=tenant.settings.values,
                version=tenant.version,
                created_at=tenant.created_at,
                updated_at=tenant.updated_at,
            )
        )

    async def update(self, tenant: Tenant, expected_version: int) -> bool:
        result = await self.execute(
            update(t.tenants)
            .where(and_(t.tenants.c.id == tenant.id, t.tenants.c.version == expected_version))
            .values(
                display_name=tenant.display_name,
                app_limit=tenant.app_limit,
                settings=tenant.settings.values,
                version=tenant.version,
                updated_at=tenant.updated_at,
            )
        )
        return bool(result.rowcount == 1)

    async def lock_bootstrap(self) -> None:
        if self._postgresql:
            await self._c.execute(select(func.pg_advisory_xact_lock(_BOOTSTRAP_LOCK)))
