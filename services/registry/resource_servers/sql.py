"""SQL ResourceServerStore (services.registry.resource_servers.store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc
from services.registry.resource_servers.models import ResourceServer


class SqlResourceServerStore(SqlStore):
    # -- resource servers --------------------------------------------------------------------

    def _servers_query(self) -> Select[Any]:
        return (
            select(
                t.resource_servers,
                t.tenants.c.slug.label("tenant_slug"),
                t.apps.c.slug.label("app_slug"),
            )
            .join(t.tenants, t.tenants.c.id == t.resource_servers.c.tenant_id)
            .join(t.apps, t.apps.c.id == t.resource_servers.c.app_id)
        )

    async def _subsets(self, server_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not server_ids:
            return {}
        codes: dict[str, list[str]] = {}
        for server_id, code in (
            await self._c.execute(
                select(t.resource_server_permissions.c.resource_server_id, t.permissions.c.code)
                .distinct()
                .join(
                    t.permissions,
                    t.permissions.c.id == t.resource_server_permissions.c.permission_id,
                )
                .where(t.resource_server_permissions.c.resource_server_id.in_(server_ids))
                .order_by(t.permissions.c.code)
            )
        ).all():
            codes.setdefault(server_id, []).append(code)
        return {k: tuple(v) for k, v in codes.items()}

    async def _servers(self, rows: list[Row[Any]]) -> list[ResourceServer]:
        subsets = await self._subsets([r._mapping["id"] for r in rows])
        return [
            ResourceServer(
                id=m["id"],
                tenant_id=m["tenant_id"],
                tenant_slug=m["tenant_slug"],
                app_id=m["app_id"],
                app_slug=m["app_slug"],
                audience=m["audience"],
                name=m["name"],
                created_at=utc(m["created_at"]),
                permissions=subsets.get(m["id"], ()),
                whole_catalog=m["whole_catalog"],
            )
            for m in (r._mapping for r in rows)
        ]

    async def get(self, tenant_id: str, ref: str) -> ResourceServer | None:
        row = (
            await self._c.execute(
                self._servers_query()
                .where(
                    and_(
                        t.resource_servers.c.tenant_id == tenant_id,
                        or_(t.resource_servers.c.id == ref, t.resource_servers.c.audience == ref),
                    )
                )
                # An id wins over an audience that happens to look like one.
                .order_by((t.resource_servers.c.id == ref).desc())
            )
        ).first()
        if row is None:
            return None
        return (await self._servers([row]))[0]

    async def _set_subset(self, server_id: str, permission_ids: Sequence[str]) -> None:
        """An admin's explicit choice: an empty subset means the whole catalog."""
        await self._c.execute(
            delete(t.resource_server_permissions).where(
                t.resource_server_permissions.c.resource_server_id == server_id
            )
        )
        await self.execute(
            update(t.resource_servers)
            .where(t.resource_servers.c.id == server_id)
            .values(whole_catalog=not permission_ids)
        )
        if permission_ids:
            await self.execute(
                insert(t.resource_server_permissions),
                [{"resource_server_id": server_id, "permission_id": p} for p in permission_ids],
            )

    async def insert(self, server: ResourceServer, permission_ids: Sequence[str]) -> None:
        await self.execute(
            insert(t.resource_servers).values(
                id=server.id,
                tenant_id=server.tenant_id,
                app_id=server.app_id,
                audience=server.audience,
                name=server.name,
                created_at=server.created_at,
                whole_catalog=not permission_ids,
            )
        )
        await self._set_subset(server.id, permission_ids)

    async def update(self, server_id: str, name: str, permission_ids: Sequence[str] | None) -> None:
        await self.execute(
            update(t.resource_servers).where(t.resource_servers.c.id == server_id).values(name=name)
        )
        if permission_ids is not None:
            await self._set_subset(server_id, permission_ids)

    async def delete(self, server_id: str) -> None:
        await self._set_subset(server_id, ())
        await self._c.execute(
            delete(t.resource_servers).where(t.resource_servers.c.id == server_id)
        )

    async def search(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[ResourceServer]:
        statement = self._servers_query().where(t.resource_servers.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.resource_servers.c.app_id == app_id)
        rows, total = await self.page(statement, page, [t.resource_servers.c.audience])
        return offset_page(await self._servers(rows), total, page)
