"""SQL implementation of the catalog feature's storage (``CatalogTx`` in
``services.registry.domain.catalog_service``), for PostgreSQL and SQLite.

Unique violations are translated here, once, into the feature's AlreadyExists reasons.
Tenants, apps and the audit log are read and written through the registry's own
``SqlRegistryTx`` on the same connection, so everything shares one unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database, constraint_name, is_unique_violation
from services.common.errors import AlreadyExists
from services.registry.domain.catalog_service import (
    CatalogEntry,
    EntryReferences,
    ResourceServer,
    Scope,
)
from services.registry.domain.models import App, AuditEvent, PageOf, PageRequest, Tenant
from services.registry.storage import tables as t
from services.registry.storage.common import SqlStorage, fetch_page, offset_page, utc, utc_or_none
from services.registry.storage.sql import SqlRegistryTx

T = TypeVar("T")


class SqlCatalogTx:
    """The catalog ports over one connection (inside one transaction, or a read)."""

    def __init__(self, connection: AsyncConnection, postgresql: bool) -> None:
        self._c = connection
        self._postgresql = postgresql
        self._registry = SqlRegistryTx(connection, postgresql)

    async def _insert(self, statement: Any, fragment: str, reason: str, message: str) -> None:
        try:
            await self._c.execute(statement)
        except IntegrityError as exc:
            if is_unique_violation(exc) and fragment in constraint_name(exc):
                raise AlreadyExists(reason, message) from exc
            raise

    async def _page(
        self, statement: Select[Any], page: PageRequest, order: Sequence[Any]
    ) -> tuple[list[Row[Any]], int]:
        return await fetch_page(self._c, statement, page, order)

    # -- shared registry reads and the audit log ---------------------------------------------

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        return await self._registry.get_tenant(slug, for_update=for_update)

    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None:
        return await self._registry.get_app(tenant_id, id_or_slug)

    async def insert_audit(self, event: AuditEvent) -> None:
        await self._registry.insert_audit(event)

    async def list_audit(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        return await self._registry.list_audit(tenant_id, page, action, target_id)

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

    async def lock_catalog(self, tenant_id: str, service_code: str, at: datetime) -> int:
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

    async def catalog_revision(self, tenant_id: str, service_code: str) -> int:
        return await self._revision(tenant_id, service_code, lock=False) or 0

    async def set_catalog_revision(
        self, tenant_id: str, service_code: str, revision: int, at: datetime
    ) -> None:
        await self._c.execute(
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

    async def catalog_entries(
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

    async def entry_references(self, permission_ids: Sequence[str]) -> dict[str, EntryReferences]:
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

    async def insert_permissions(self, tenant_id: str, entries: Sequence[CatalogEntry]) -> None:
        if not entries:
            return
        await self._c.execute(
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

    async def update_permission(self, entry: CatalogEntry) -> None:
        await self._c.execute(
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

    async def delete_permissions(self, permission_ids: Sequence[str]) -> None:
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

    async def list_permissions(
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
        rows, total = await self._page(
            statement,
            page,
            [t.permissions.c.service_code, t.permissions.c.code, t.permissions.c.id],
        )
        return offset_page([self._entry(r) for r in rows], total, page)

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

    async def get_scope(self, tenant_id: str, name: str) -> Scope | None:
        row = (
            await self._c.execute(
                self._scopes_query().where(
                    and_(t.scopes.c.tenant_id == tenant_id, t.scopes.c.name == name)
                )
            )
        ).first()
        return self._scope(row) if row else None

    async def insert_scope(self, scope: Scope) -> None:
        await self._insert(
            insert(t.scopes).values(
                id=scope.id,
                tenant_id=scope.tenant_id,
                app_id=scope.app_id,
                name=scope.name,
                description=scope.description,
                created_at=scope.created_at,
            ),
            "scopes",
            "SCOPE_TAKEN",
            f"This tenant already has a scope {scope.name!r}; scope names are unique per tenant.",
        )

    async def list_scopes(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[Scope]:
        statement = self._scopes_query().where(t.scopes.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.scopes.c.app_id == app_id)
        rows, total = await self._page(statement, page, [t.scopes.c.name])
        return offset_page([self._scope(r) for r in rows], total, page)

    async def scope_holders(self, scope_id: str) -> list[str]:
        rows = await self._c.execute(
            select(t.clients.c.client_id)
            .join(t.client_scopes, t.client_scopes.c.client_pk == t.clients.c.id)
            .where(t.client_scopes.c.scope_id == scope_id)
            .order_by(t.clients.c.client_id)
        )
        return [str(r) for r in rows.scalars()]

    async def delete_scope(self, scope_id: str) -> None:
        await self._c.execute(delete(t.client_scopes).where(t.client_scopes.c.scope_id == scope_id))
        await self._c.execute(delete(t.scopes).where(t.scopes.c.id == scope_id))

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

    async def get_resource_server(self, tenant_id: str, ref: str) -> ResourceServer | None:
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
        await self._c.execute(
            update(t.resource_servers)
            .where(t.resource_servers.c.id == server_id)
            .values(whole_catalog=not permission_ids)
        )
        if permission_ids:
            await self._c.execute(
                insert(t.resource_server_permissions),
                [{"resource_server_id": server_id, "permission_id": p} for p in permission_ids],
            )

    async def insert_resource_server(
        self, server: ResourceServer, permission_ids: Sequence[str]
    ) -> None:
        await self._insert(
            insert(t.resource_servers).values(
                id=server.id,
                tenant_id=server.tenant_id,
                app_id=server.app_id,
                audience=server.audience,
                name=server.name,
                created_at=server.created_at,
                whole_catalog=not permission_ids,
            ),
            "resource_servers",
            "AUDIENCE_TAKEN",
            f"This tenant already has a resource server with audience {server.audience!r}.",
        )
        await self._set_subset(server.id, permission_ids)

    async def update_resource_server(
        self, server_id: str, name: str, permission_ids: Sequence[str] | None
    ) -> None:
        await self._c.execute(
            update(t.resource_servers).where(t.resource_servers.c.id == server_id).values(name=name)
        )
        if permission_ids is not None:
            await self._set_subset(server_id, permission_ids)

    async def delete_resource_server(self, server_id: str) -> None:
        await self._set_subset(server_id, ())
        await self._c.execute(
            delete(t.resource_servers).where(t.resource_servers.c.id == server_id)
        )

    async def list_resource_servers(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[ResourceServer]:
        statement = self._servers_query().where(t.resource_servers.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.resource_servers.c.app_id == app_id)
        rows, total = await self._page(statement, page, [t.resource_servers.c.audience])
        return offset_page(await self._servers(rows), total, page)


class SqlCatalogStorage(SqlStorage[SqlCatalogTx]):
    """The catalog feature's unit of work."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, SqlCatalogTx)
