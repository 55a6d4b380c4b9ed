"""SQL RoleStore (services.registry.roles.store)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc
from services.registry.roles.models import Role, RolePermission, RoleRef


class SqlRoleStore(SqlStore):
    def _roles_query(self) -> Select[Any]:
        return (
            select(
                t.roles,
                t.tenants.c.slug.label("tenant_slug"),
                t.apps.c.slug.label("app_slug"),
            )
            .join(t.tenants, t.tenants.c.id == t.roles.c.tenant_id)
            .outerjoin(t.apps, t.apps.c.id == t.roles.c.app_id)
        )

    async def _roles(self, rows: Iterable[Row[Any]]) -> list[Role]:
        rows = list(rows)
        ids = [r._mapping["id"] for r in rows]
        granted: dict[str, list[RolePermission]] = defaultdict(list)
        if ids:
            for role_id, permission_id, service, code, deprecated in (
                await self._c.execute(
                    select(
                        t.role_permissions.c.role_id,
                        t.permissions.c.id,
                        t.permissions.c.service_code,
                        t.permissions.c.code,
                        t.permissions.c.deprecated_at.is_not(None),
                    )
                    .join(t.permissions, t.permissions.c.id == t.role_permissions.c.permission_id)
                    .where(t.role_permissions.c.role_id.in_(ids))
                    .order_by(t.permissions.c.service_code, t.permissions.c.code)
                )
            ).all():
                granted[role_id].append(
                    RolePermission(permission_id, service, code, bool(deprecated))
                )
        return [
            Role(
                id=m["id"],
                tenant_id=m["tenant_id"],
                tenant_slug=m["tenant_slug"],
                code=m["code"],
                name=m["name"],
                description=m["description"],
                app_id=m["app_id"],
                app_slug=m["app_slug"],
                permissions=tuple(granted[m["id"]]),
                created_at=utc(m["created_at"]),
            )
            for m in (r._mapping for r in rows)
        ]

    async def get(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Role | None:
        statement = self._roles_query().where(
            and_(
                t.roles.c.tenant_id == tenant_id,
                or_(t.roles.c.id == id_or_code, t.roles.c.code == id_or_code),
            )
        )
        row = (await self._c.execute(self.locked(statement, t.roles, for_update))).first()
        return (await self._roles([row]))[0] if row else None

    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Role]:
        statement = self._roles_query().where(t.roles.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.roles.c.app_id == app_id)
        rows, total = await self.page(statement, page, [t.roles.c.code, t.roles.c.id])
        return offset_page(await self._roles(rows), total, page)

    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, RoleRef]:
        rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code).where(
                    and_(
                        t.roles.c.tenant_id == tenant_id,
                        or_(t.roles.c.id.in_(list(refs)), t.roles.c.code.in_(list(refs))),
                    )
                )
            )
        ).all()
        found: dict[str, RoleRef] = {}
        for role_id, code in rows:
            found[role_id] = found[code] = RoleRef(role_id, code)
        return {ref: found[ref] for ref in refs if ref in found}

    async def insert(self, role: Role) -> None:
        await self.execute(
            insert(t.roles).values(
                id=role.id,
                tenant_id=role.tenant_id,
                app_id=role.app_id,
                code=role.code,
                name=role.name,
                description=role.description,
                created_at=role.created_at,
            )
        )

    async def update(self, role: Role) -> None:
        await self.execute(
            update(t.roles)
            .where(t.roles.c.id == role.id)
            .values(name=role.name, description=role.description)
        )

    async def delete(self, role_id: str) -> None:
        await self._c.execute(
            delete(t.role_permissions).where(t.role_permissions.c.role_id == role_id)
        )
        await self._c.execute(delete(t.roles).where(t.roles.c.id == role_id))

    async def blockers(self, role_id: str) -> list[str]:
        emails = (
            await self._c.execute(
                select(t.users.c.email)
                .join(t.user_roles, t.user_roles.c.user_id == t.users.c.id)
                .where(t.user_roles.c.role_id == role_id)
                .order_by(t.users.c.email_key)
            )
        ).scalars()
        codes = (
            await self._c.execute(
                select(t.groups.c.code)
                .join(t.group_roles, t.group_roles.c.group_id == t.groups.c.id)
                .where(t.group_roles.c.role_id == role_id)
                .order_by(t.groups.c.code)
            )
        ).scalars()
        client_ids = (
            await self._c.execute(
                select(t.clients.c.client_id)
                .join(t.client_roles, t.client_roles.c.client_pk == t.clients.c.id)
                .where(t.client_roles.c.role_id == role_id)
                .order_by(t.clients.c.client_id)
            )
        ).scalars()
        return [
            *(f"user:{e}" for e in emails),
            *(f"group:{c}" for c in codes),
            *(f"client:{c}" for c in client_ids),
        ]

    async def replace_permissions(self, role_id: str, permission_ids: Sequence[str]) -> None:
        await self._c.execute(
            delete(t.role_permissions).where(t.role_permissions.c.role_id == role_id)
        )
        if permission_ids:
            await self.execute(
                insert(t.role_permissions),
                [{"role_id": role_id, "permission_id": p} for p in permission_ids],
            )

    async def coded(self, tenant_id: str, codes: Sequence[str]) -> dict[str, NamedRef]:
        rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code, t.roles.c.app_id).where(
                    and_(t.roles.c.tenant_id == tenant_id, t.roles.c.code.in_(list(codes)))
                )
            )
        ).all()
        return {r[1]: NamedRef(r[0], r[1], r[2]) for r in rows}

    async def grants(self, role_ids: Sequence[str]) -> list[tuple[str, str]]:
        if not role_ids:
            return []
        rows = await self._c.execute(
            select(t.permissions.c.service_code, t.permissions.c.code)
            .join(t.role_permissions, t.role_permissions.c.permission_id == t.permissions.c.id)
            .where(t.role_permissions.c.role_id.in_(list(role_ids)))
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def upsert(
        self, tenant_id: str, app_id: str | None, code: str, name: str, at: datetime
    ) -> str:
        existing = (
            await self._c.execute(
                select(t.roles.c.id).where(
                    and_(t.roles.c.tenant_id == tenant_id, t.roles.c.code == code)
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return str(existing)
        role_id = str(uuid.uuid4())
        await self.execute(
            insert(t.roles).values(
                id=role_id, tenant_id=tenant_id, app_id=app_id, code=code, name=name, created_at=at
            )
        )
        return role_id

    async def grant(self, role_id: str, permission_ids: Sequence[str]) -> None:
        granted = set(
            (
                await self._c.execute(
                    select(t.role_permissions.c.permission_id).where(
                        t.role_permissions.c.role_id == role_id
                    )
                )
            ).scalars()
        )
        missing = [p for p in permission_ids if p not in granted]
        if missing:
            await self.execute(
                insert(t.role_permissions),
                [{"role_id": role_id, "permission_id": p} for p in missing],
            )
