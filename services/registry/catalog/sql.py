"""SQL CatalogStore (services.registry.catalog.store)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.db import is_unique_violation
from services.registry import schema as t
from services.registry.catalog.models import CatalogEntry, EntryReferences, PermissionEntry
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc, utc_or_none


def new_id() -> str:
    return str(uuid.uuid4())


class SqlCatalogStore(SqlStore):
    # -- catalog lock and revision -----------------------------------------------------------

    def _catalog_row(self, tenant_id: str, service_code: str) -> Any:
        return and_(
            t.permission_catalogs.c.tenant_id == tenant_id,
            t.permission_catalogs.c.service_code == service_code,
        )

    async def _revision(self, tenant_id: str, service_code: str, *, lock: bool) -> int | None:
        statement = select(t.permission_catalogs.c.revision).where(
            self._catalog_row(tenant_id, service_code)
        )
        if lock and self._postgresql:
            statement = statement.with_for_update()
        value = (await self._c.execute(statement)).scalar_one_or_none()
        return None if value is None else int(value)

    async def lock(self, tenant_id: str, service_code: str, at: datetime) -> int:
        revision = await self._revision(tenant_id, service_code, lock=True)
        if revision is not None:
            return revision
        row = insert(t.permission_catalogs).values(
            tenant_id=tenant_id, service_code=service_code, revision=0, updated_at=at
        )
        if self._postgresql:
            # Two first registrations may race to create the row: the loser's INSERT waits
            # for the winner's commit and then violates the primary key. The savepoint keeps
            # that from aborting the transaction; the SELECT ... FOR UPDATE below then waits
            # for, or takes, the row lock.
            try:
                async with self._c.begin_nested():
                    await self._c.execute(row)
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
        else:
            # SQLite: Database.transaction() serialises writers, so nobody else can insert it.
            await self._c.execute(row)
        revision = await self._revision(tenant_id, service_code, lock=True)
        assert revision is not None
        return revision

    async def revision(self, tenant_id: str, service_code: str) -> int:
        return await self._revision(tenant_id, service_code, lock=False) or 0

    async def set_revision(
        self, tenant_id: str, service_code: str, revision: int, at: datetime
    ) -> None:
        await self.execute(
            update(t.permission_catalogs)
            .where(self._catalog_row(tenant_id, service_code))
            .values(revision=revision, updated_at=at)
        )

    # -- catalog entries ---------------------------------------------------------------------

    @staticmethod
    def _entry(row: Row[Any]) -> CatalogEntry:
        m = row._mapping
        return CatalogEntry(
            id=m["id"],
            service_code=m["service_code"],
            code=m["code"],
            name=m["name"],
            description=m["description"] or "",
            created_at=utc(m["created_at"]),
            updated_at=utc_or_none(m["updated_at"]),
            deprecated_at=utc_or_none(m["deprecated_at"]),
        )

    async def entries(
        self, tenant_id: str, service_codes: Sequence[str], *, lock: str | None = None
    ) -> list[CatalogEntry]:
        """``lock="update"`` (a reconcile about to prune) or ``"share"`` (a write that will
        reference the entries): on PostgreSQL the two serialise, so a prune never races a
        new grant into a foreign-key error or a silently lost grant."""
        if not service_codes:
            return []
        statement = (
            select(t.permissions)
            .where(
                and_(
                    t.permissions.c.tenant_id == tenant_id,
                    t.permissions.c.service_code.in_(list(service_codes)),
                )
            )
            .order_by(t.permissions.c.service_code, t.permissions.c.code)
        )
        if lock is not None and self._postgresql:
            statement = statement.with_for_update(read=lock == "share", of=t.permissions)
        rows = await self._c.execute(statement)
        return [self._entry(r) for r in rows.all()]

    async def references(self, permission_ids: Sequence[str]) -> dict[str, EntryReferences]:
        if not permission_ids:
            return {}
        ids = list(permission_ids)
        roles: dict[str, list[str]] = {}
        for permission_id, code in (
            await self._c.execute(
                select(t.role_permissions.c.permission_id, t.roles.c.code)
                .join(t.roles, t.roles.c.id == t.role_permissions.c.role_id)
                .where(t.role_permissions.c.permission_id.in_(ids))
                .order_by(t.roles.c.code)
            )
        ).all():
            roles.setdefault(permission_id, []).append(code)
        servers: dict[str, list[str]] = {}
        for permission_id, audience in (
            await self._c.execute(
                select(t.resource_server_permissions.c.permission_id, t.resource_servers.c.audience)
                .join(
                    t.resource_servers,
                    t.resource_servers.c.id == t.resource_server_permissions.c.resource_server_id,
                )
                .where(t.resource_server_permissions.c.permission_id.in_(ids))
                .order_by(t.resource_servers.c.audience)
            )
        ).all():
            servers.setdefault(permission_id, []).append(audience)
        return {
            i: EntryReferences(tuple(roles.get(i, ())), tuple(servers.get(i, ())))
            for i in {*roles, *servers}
        }

    async def insert(self, tenant_id: str, entries: Sequence[CatalogEntry]) -> None:
        if not entries:
            return
        await self.execute(
            insert(t.permissions),
            [
                {
                    "id": e.id,
                    "tenant_id": tenant_id,
                    "service_code": e.service_code,
                    "code": e.code,
                    "name": e.name,
                    "description": e.description,
                    "created_at": e.created_at,
                    "updated_at": e.updated_at,
                    "deprecated_at": e.deprecated_at,
                }
                for e in entries
            ],
        )

    async def update(self, entry: CatalogEntry) -> None:
        await self.execute(
            update(t.permissions)
            .where(t.permissions.c.id == entry.id)
            .values(
                code=entry.code,
                name=entry.name,
                description=entry.description,
                updated_at=entry.updated_at,
                deprecated_at=entry.deprecated_at,
            )
        )

    async def delete(self, permission_ids: Sequence[str]) -> None:
        if not permission_ids:
            return
        ids = list(permission_ids)
        await self._c.execute(
            delete(t.role_permissions).where(t.role_permissions.c.permission_id.in_(ids))
        )
        await self._c.execute(
            delete(t.resource_server_permissions).where(
                t.resource_server_permissions.c.permission_id.in_(ids)
            )
        )
        await self._c.execute(delete(t.permissions).where(t.permissions.c.id.in_(ids)))

    async def search(
        self,
        tenant_id: str,
        service_code: str | None,
        include_deprecated: bool,
        page: PageRequest,
    ) -> PageOf[CatalogEntry]:
        statement = select(t.permissions).where(t.permissions.c.tenant_id == tenant_id)
        if service_code is not None:
            statement = statement.where(t.permissions.c.service_code == service_code)
        if not include_deprecated:
            statement = statement.where(t.permissions.c.deprecated_at.is_(None))
        rows, total = await self.page(
            statement,
            page,
            [t.permissions.c.service_code, t.permissions.c.code, t.permissions.c.id],
        )
        return offset_page([self._entry(r) for r in rows], total, page)

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
        """Insert the entry, or refresh its name and description and make it live again."""
        existing = (
            await self._c.execute(
                select(t.permissions.c.id).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code == service_code,
                        t.permissions.c.code == code,
                    )
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            await self.execute(
                update(t.permissions)
                .where(t.permissions.c.id == existing)
                .values(name=name, description=description, updated_at=at, deprecated_at=None)
            )
            return str(existing)
        permission_id = new_id()
        await self.execute(
            insert(t.permissions).values(
                id=permission_id,
                tenant_id=tenant_id,
                service_code=service_code,
                code=code,
                name=name,
                description=description,
                created_at=at,
            )
        )
        return permission_id

    async def ids(self, tenant_id: str, service_codes: Sequence[str]) -> dict[str, str]:
        rows = (
            await self._c.execute(
                select(t.permissions.c.code, t.permissions.c.id).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code.in_(list(service_codes)),
                    )
                )
            )
        ).all()
        return {r[0]: r[1] for r in rows}

    async def copy(
        self, tenant_id: str, source_service: str, target_service: str, at: datetime
    ) -> int:
        rows = (
            await self._c.execute(
                select(
                    t.permissions.c.code, t.permissions.c.name, t.permissions.c.description
                ).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code == source_service,
                        t.permissions.c.deprecated_at.is_(None),
                    )
                )
            )
        ).all()
        for code, name, description in rows:
            # Upsert: a deleted app's slug may be reused, and its old catalog is still there.
            await self.upsert(tenant_id, target_service, code, name, at, description=description)
        return len(rows)

    async def lookup(
        self, tenant_id: str, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], PermissionEntry]:
        if not refs:
            return {}
        wanted = set(refs)
        statement = select(
            t.permissions.c.id,
            t.permissions.c.service_code,
            t.permissions.c.code,
            t.permissions.c.deprecated_at.is_not(None),
        ).where(
            and_(
                t.permissions.c.tenant_id == tenant_id,
                t.permissions.c.service_code.in_(sorted({s for s, _ in wanted})),
                t.permissions.c.code.in_(sorted({c for _, c in wanted})),
            )
        )
        if self._postgresql:
            # FOR SHARE: a concurrent catalog reconcile (FOR UPDATE) cannot prune these
            # entries between this read and the grant that references them.
            statement = statement.with_for_update(read=True, of=t.permissions)
        rows = (await self._c.execute(statement)).all()
        return {
            (service, code): PermissionEntry(permission_id, service, code, bool(deprecated))
            for permission_id, service, code, deprecated in rows
            if (service, code) in wanted
        }
