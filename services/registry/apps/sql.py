"""SQL AppStore and AppUsage (services.registry.apps.store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.apps.models import App, AppRef
from services.registry.apps.rows import app_columns, app_from_row, insert_columns
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, like_pattern, ordering


class SqlAppStore(SqlStore):
    def _apps_query(self) -> Select[Any]:
        return (
            select(
                t.apps, t.tenants.c.slug.label("tenant_slug"), t.regions.c.code.label("region_code")
            )
            .join(t.tenants, t.tenants.c.id == t.apps.c.tenant_id)
            .outerjoin(t.regions, t.regions.c.id == t.apps.c.region_id)
        )

    async def _app(self, row: Row[Any], *, with_client_ids: bool = True) -> App:
        m = row._mapping
        client_rows = (
            (
                await self._c.execute(
                    select(t.clients.c.client_id)
                    .join(t.client_apps, t.client_apps.c.client_pk == t.clients.c.id)
                    .where(t.client_apps.c.app_id == m["id"])
                    .order_by(t.clients.c.created_at)
                )
            ).all()
            if with_client_ids
            else []
        )
        return app_from_row(
            m,
            tenant_slug=m["tenant_slug"],
            region_code=m["region_code"],
            client_ids=tuple(r[0] for r in client_rows),
        )

    async def get(self, tenant_id: str, id_or_slug: str) -> App | None:
        row = (
            await self._c.execute(
                self._apps_query().where(
                    and_(
                        t.apps.c.tenant_id == tenant_id,
                        or_(t.apps.c.id == id_or_slug, t.apps.c.slug == id_or_slug),
                    )
                )
            )
        ).first()
        return await self._app(row) if row else None

    async def get_by_id(self, app_id: str, *, with_client_ids: bool = True) -> App | None:
        row = (await self._c.execute(self._apps_query().where(t.apps.c.id == app_id))).first()
        return await self._app(row, with_client_ids=with_client_ids) if row else None

    async def search(
        self, tenant_id: str, page: PageRequest, enabled: bool | None, query: str, order_by: str
    ) -> PageOf[App]:
        statement = self._apps_query().where(t.apps.c.tenant_id == tenant_id)
        if enabled is not None:
            statement = statement.where(t.apps.c.enabled == enabled)
        if query:
            pattern = like_pattern(query)
            statement = statement.where(
                or_(
                    t.apps.c.slug.like(pattern, escape="\\"),
                    t.apps.c.display_name_key.like(pattern, escape="\\"),
                )
            )
        rows, total = await self.page(statement, page, ordering(t.apps, order_by, "slug"))
        return offset_page([await self._app(r) for r in rows], total, page)

    async def count(self, tenant_id: str) -> int:
        result = await self._c.execute(
            select(func.count())
            .select_from(t.apps)
            .where(and_(t.apps.c.tenant_id == tenant_id, t.apps.c.is_system.is_(False)))
        )
        return int(result.scalar_one())

    async def name_taken(self, tenant_id: str, key: str, exclude_app_id: str | None) -> bool:
        statement = select(t.apps.c.id).where(
            and_(t.apps.c.tenant_id == tenant_id, t.apps.c.display_name_key == key)
        )
        if exclude_app_id:
            statement = statement.where(t.apps.c.id != exclude_app_id)
        return (await self._c.execute(statement)).first() is not None

    async def insert(self, app: App) -> None:
        await self.execute(insert(t.apps).values(**insert_columns(app)))

    async def update(self, app: App, expected_version: int) -> bool:
        result = await self.execute(
            update(t.apps)
            .where(and_(t.apps.c.id == app.id, t.apps.c.version == expected_version))
            .values(**app_columns(app))
        )
        return bool(result.rowcount == 1)

    async def delete(self, app_id: str) -> None:
        """Memberships and group bindings belong to the app and go with it; everything that
        could block deletion was checked by app_blockers first."""
        await self._c.execute(delete(t.memberships).where(t.memberships.c.app_id == app_id))
        await self._c.execute(delete(t.group_apps).where(t.group_apps.c.app_id == app_id))
        await self._c.execute(delete(t.apps).where(t.apps.c.id == app_id))

    async def blockers(self, app_id: str) -> list[str]:
        blockers: list[str] = []
        for (client_id,) in (
            await self._c.execute(
                select(t.clients.c.client_id)
                .join(t.client_apps, t.client_apps.c.client_pk == t.clients.c.id)
                .where(t.client_apps.c.app_id == app_id)
                .order_by(t.clients.c.client_id)
            )
        ).all():
            blockers.append(f"client:{client_id}")
        for (code,) in (
            await self._c.execute(
                select(t.roles.c.code).where(t.roles.c.app_id == app_id).order_by(t.roles.c.code)
            )
        ).all():
            blockers.append(f"role:{code}")
        for (name,) in (
            await self._c.execute(
                select(t.scopes.c.name).where(t.scopes.c.app_id == app_id).order_by(t.scopes.c.name)
            )
        ).all():
            blockers.append(f"scope:{name}")
        for (audience,) in (
            await self._c.execute(
                select(t.resource_servers.c.audience)
                .where(t.resource_servers.c.app_id == app_id)
                .order_by(t.resource_servers.c.audience)
            )
        ).all():
            blockers.append(f"resource_server:{audience}")
        return blockers

    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, AppRef]:
        rows = (
            await self._c.execute(
                select(t.apps.c.id, t.apps.c.slug).where(
                    and_(
                        t.apps.c.tenant_id == tenant_id,
                        or_(t.apps.c.id.in_(list(refs)), t.apps.c.slug.in_(list(refs))),
                    )
                )
            )
        ).all()
        found: dict[str, AppRef] = {}
        for app_id, slug in rows:
            app = AppRef(app_id, slug)
            found[app_id] = app
            found[slug] = app
        return {ref: found[ref] for ref in refs if ref in found}

    async def using(self, *, region_id: str | None = None, plan_id: str | None = None) -> list[str]:
        condition = t.apps.c.region_id == region_id if region_id else t.apps.c.plan_id == plan_id
        rows = await self._c.execute(
            select(t.tenants.c.slug, t.apps.c.slug)
            .join(t.tenants, t.tenants.c.id == t.apps.c.tenant_id)
            .where(condition)
            .order_by(t.tenants.c.slug, t.apps.c.slug)
        )
        return [f"app:{tenant}/{slug}" for tenant, slug in rows]
