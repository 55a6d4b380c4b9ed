"""SQL ScopeStore (services.registry.scopes.store)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, insert, select
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc
from services.registry.scopes.models import Scope


class SqlScopeStore(SqlStore):
    # -- scopes ------------------------------------------------------------------------------

    def _scopes_query(self) -> Select[Any]:
        return (
            select(
                t.scopes,
                t.tenants.c.slug.label("tenant_slug"),
                t.apps.c.slug.label("app_slug"),
            )
            .join(t.tenants, t.tenants.c.id == t.scopes.c.tenant_id)
            .outerjoin(t.apps, t.apps.c.id == t.scopes.c.app_id)
        )

    @staticmethod
    def _scope(row: Row[Any]) -> Scope:
        m = row._mapping
        return Scope(
            id=m["id"],
            tenant_id=m["tenant_id"],
            tenant_slug=m["tenant_slug"],
            name=m["name"],
            description=m["description"],
            app_id=m["app_id"],
            app_slug=m["app_slug"],
            created_at=utc(m["created_at"]),
        )

    async def get(self, tenant_id: str, name: str) -> Scope | None:
        row = (
            await self._c.execute(
                self._scopes_query().where(
                    and_(t.scopes.c.tenant_id == tenant_id, t.scopes.c.name == name)
                )
            )
        ).first()
        return self._scope(row) if row else None

    async def insert(self, scope: Scope) -> None:
        await self.execute(
            insert(t.scopes).values(
                id=scope.id,
                tenant_id=scope.tenant_id,
                app_id=scope.app_id,
                name=scope.name,
                description=scope.description,
                created_at=scope.created_at,
            )
        )

    async def search(self, tenant_id: str, app_id: str | None, page: PageRequest) -> PageOf[Scope]:
        statement = self._scopes_query().where(t.scopes.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.scopes.c.app_id == app_id)
        rows, total = await self.page(statement, page, [t.scopes.c.name])
        return offset_page([self._scope(r) for r in rows], total, page)

    async def holders(self, scope_id: str) -> list[str]:
        rows = await self._c.execute(
            select(t.clients.c.client_id)
            .join(t.client_scopes, t.client_scopes.c.client_pk == t.clients.c.id)
            .where(t.client_scopes.c.scope_id == scope_id)
            .order_by(t.clients.c.client_id)
        )
        return [str(r) for r in rows.scalars()]

    async def delete(self, scope_id: str) -> None:
        await self._c.execute(delete(t.client_scopes).where(t.client_scopes.c.scope_id == scope_id))
        await self._c.execute(delete(t.scopes).where(t.scopes.c.id == scope_id))

    async def named(self, tenant_id: str, names: Sequence[str]) -> dict[str, NamedRef]:
        rows = (
            await self._c.execute(
                select(t.scopes.c.id, t.scopes.c.name, t.scopes.c.app_id).where(
                    and_(t.scopes.c.tenant_id == tenant_id, t.scopes.c.name.in_(list(names)))
                )
            )
        ).all()
        return {r[1]: NamedRef(r[0], r[1], r[2]) for r in rows}
