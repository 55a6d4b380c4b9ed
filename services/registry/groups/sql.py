"""SQL GroupStore (services.registry.groups.store)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.apps.models import AppRef
from services.registry.groups.models import Group
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, like_pattern, utc
from services.registry.roles.models import RoleRef


class SqlGroupStore(SqlStore):
    # -- groups ----------------------------------------------------------------------------

    def _groups_query(self) -> Select[Any]:
        return select(t.groups, t.tenants.c.slug.label("tenant_slug")).join(
            t.tenants, t.tenants.c.id == t.groups.c.tenant_id
        )

    async def _groups(self, rows: Iterable[Row[Any]]) -> list[Group]:
        rows = list(rows)
        ids = [r._mapping["id"] for r in rows]
        apps: dict[str, list[AppRef]] = defaultdict(list)
        roles: dict[str, list[RoleRef]] = defaultdict(list)
        if ids:
            for group_id, app_id, slug in (
                await self._c.execute(
                    select(t.group_apps.c.group_id, t.apps.c.id, t.apps.c.slug)
                    .join(t.apps, t.apps.c.id == t.group_apps.c.app_id)
                    .where(t.group_apps.c.group_id.in_(ids))
                    .order_by(t.apps.c.slug)
                )
            ).all():
                apps[group_id].append(AppRef(app_id, slug))
            for group_id, role_id, code in (
                await self._c.execute(
                    select(t.group_roles.c.group_id, t.roles.c.id, t.roles.c.code)
                    .join(t.roles, t.roles.c.id == t.group_roles.c.role_id)
                    .where(t.group_roles.c.group_id.in_(ids))
                    .order_by(t.roles.c.code)
                )
            ).all():
                roles[group_id].append(RoleRef(role_id, code))
        return [
            Group(
                id=m["id"],
                tenant_id=m["tenant_id"],
                tenant_slug=m["tenant_slug"],
                code=m["code"],
                name=m["name"],
                all_apps=bool(m["bound_to_all_apps"]),
                apps=tuple(apps[m["id"]]),
                roles=tuple(roles[m["id"]]),
                created_at=utc(m["created_at"]),
            )
            for m in (r._mapping for r in rows)
        ]

    async def get(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Group | None:
        statement = self._groups_query().where(
            and_(
                t.groups.c.tenant_id == tenant_id,
                or_(t.groups.c.id == id_or_code, t.groups.c.code == id_or_code),
            )
        )
        row = (await self._c.execute(self.locked(statement, t.groups, for_update))).first()
        return (await self._groups([row]))[0] if row else None

    async def search(self, tenant_id: str, page: PageRequest, query: str) -> PageOf[Group]:
        statement = self._groups_query().where(t.groups.c.tenant_id == tenant_id)
        if query:
            pattern = like_pattern(query)
            statement = statement.where(
                or_(
                    t.groups.c.code.like(pattern, escape="\\"),
                    func.lower(t.groups.c.name).like(pattern, escape="\\"),
                )
            )
        rows, total = await self.page(statement, page, [t.groups.c.code, t.groups.c.id])
        return offset_page(await self._groups(rows), total, page)

    async def _write_group_links(self, group: Group) -> None:
        await self._c.execute(delete(t.group_apps).where(t.group_apps.c.group_id == group.id))
        await self._c.execute(delete(t.group_roles).where(t.group_roles.c.group_id == group.id))
        if group.apps and not group.all_apps:
            await self.execute(
                insert(t.group_apps), [{"group_id": group.id, "app_id": a.id} for a in group.apps]
            )
        if group.roles:
            await self.execute(
                insert(t.group_roles),
                [{"group_id": group.id, "role_id": r.id} for r in group.roles],
            )

    async def insert(self, group: Group) -> None:
        await self.execute(
            insert(t.groups).values(
                id=group.id,
                tenant_id=group.tenant_id,
                code=group.code,
                name=group.name,
                bound_to_all_apps=group.all_apps,
                created_at=group.created_at,
            )
        )
        await self._write_group_links(group)

    async def update(self, group: Group) -> None:
        await self.execute(
            update(t.groups)
            .where(t.groups.c.id == group.id)
            .values(name=group.name, bound_to_all_apps=group.all_apps)
        )
        await self._write_group_links(group)

    async def delete(self, group_id: str) -> None:
        for table in (t.group_members, t.group_apps, t.group_roles):
            await self._c.execute(delete(table).where(table.c.group_id == group_id))
        await self._c.execute(delete(t.groups).where(t.groups.c.id == group_id))

    async def add_member(self, group_id: str, user_id: str) -> bool:
        exists = (
            await self._c.execute(
                select(t.group_members.c.user_id).where(
                    and_(
                        t.group_members.c.group_id == group_id,
                        t.group_members.c.user_id == user_id,
                    )
                )
            )
        ).first()
        if exists is not None:
            return False
        await self.execute(insert(t.group_members).values(group_id=group_id, user_id=user_id))
        return True

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        result = await self._c.execute(
            delete(t.group_members).where(
                and_(t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id)
            )
        )
        return bool(result.rowcount)
