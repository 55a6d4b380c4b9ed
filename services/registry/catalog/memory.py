"""In-memory CatalogStore (services.registry.catalog.store): tables ``permission_catalogs``
(lock and revision) and ``permissions`` (the entries), with the ``role_permissions`` grants
and ``resource_server_permissions`` subset rows a deleted entry takes with it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from services.registry.catalog.models import CatalogEntry, EntryReferences, PermissionEntry
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page


def _entry(row: Row) -> CatalogEntry:
    return CatalogEntry(
        id=row["id"],
        service_code=row["service_code"],
        code=row["code"],
        name=row["name"],
        description=row["description"] or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deprecated_at=row["deprecated_at"],
    )


def _ordered(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (row["service_code"], row["code"], row["id"]))


class MemoryCatalogStore(MemoryStore):
    def _find(self, tenant_id: str, service_code: str, code: str) -> Row | None:
        return next(
            (
                row
                for row in self._table("permissions").values()
                if row["tenant_id"] == tenant_id
                and row["service_code"] == service_code
                and row["code"] == code
            ),
            None,
        )

    async def lookup(
        self, tenant_id: str, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], PermissionEntry]:
        wanted = set(refs)
        return {
            (row["service_code"], row["code"]): PermissionEntry(
                row["id"], row["service_code"], row["code"], row["deprecated_at"] is not None
            )
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id and (row["service_code"], row["code"]) in wanted
        }

    async def lock(self, tenant_id: str, service_code: str, at: datetime) -> int:
        row = self._table("permission_catalogs").setdefault(
            (tenant_id, service_code),
            {"tenant_id": tenant_id, "service_code": service_code, "revision": 0, "updated_at": at},
        )
        return int(row["revision"])

    async def revision(self, tenant_id: str, service_code: str) -> int:
        row = self._table("permission_catalogs").get((tenant_id, service_code))
        return 0 if row is None else int(row["revision"])

    async def set_revision(
        self, tenant_id: str, service_code: str, revision: int, at: datetime
    ) -> None:
        row = self._table("permission_catalogs").get((tenant_id, service_code))
        if row is not None:
            row.update(revision=revision, updated_at=at)

    async def entries(
        self,
        tenant_id: str,
        service_codes: Sequence[str],
        *,
        lock: str | None = None,  # noqa: ARG002 - writers are serialised in memory
    ) -> list[CatalogEntry]:
        services = set(service_codes)
        rows = (
            row
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id and row["service_code"] in services
        )
        return [_entry(row) for row in _ordered(rows)]

    async def references(self, permission_ids: Sequence[str]) -> dict[str, EntryReferences]:
        wanted = set(permission_ids)
        roles: dict[str, list[str]] = {}
        role_rows = self._table("roles")
        for role_id, permission_id in self._table("role_permissions"):
            if permission_id in wanted and (role := role_rows.get(role_id)) is not None:
                roles.setdefault(permission_id, []).append(role["code"])
        servers: dict[str, list[str]] = {}
        server_rows = self._table("resource_servers")
        for server_id, permission_id in self._table("resource_server_permissions"):
            if permission_id in wanted and (server := server_rows.get(server_id)) is not None:
                servers.setdefault(permission_id, []).append(server["audience"])
        return {
            i: EntryReferences(tuple(sorted(roles.get(i, ()))), tuple(sorted(servers.get(i, ()))))
            for i in {*roles, *servers}
        }

    async def insert(self, tenant_id: str, entries: Sequence[CatalogEntry]) -> None:
        # Checked first, so a refused batch writes nothing (one statement in SQL).
        taken = {
            (row["service_code"], row["code"])
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id
        }
        for entry in entries:
            key = (entry.service_code, entry.code)
            if key in taken:
                raise unique_violation("permissions", "tenant_id", "service_code", "code")
            taken.add(key)
        permissions = self._table("permissions")
        for entry in entries:
            permissions[entry.id] = {
                "id": entry.id,
                "tenant_id": tenant_id,
                "service_code": entry.service_code,
                "code": entry.code,
                "name": entry.name,
                "description": entry.description,
                "created_at": entry.created_at,
                "updated_at": entry.updated_at,
                "deprecated_at": entry.deprecated_at,
            }

    async def update(self, entry: CatalogEntry) -> None:
        row = self._table("permissions").get(entry.id)
        if row is None:
            return
        clash = self._find(row["tenant_id"], row["service_code"], entry.code)
        if clash is not None and clash["id"] != entry.id:
            raise unique_violation("permissions", "tenant_id", "service_code", "code")
        row.update(
            code=entry.code,
            name=entry.name,
            description=entry.description,
            updated_at=entry.updated_at,
            deprecated_at=entry.deprecated_at,
        )

    async def delete(self, permission_ids: Sequence[str]) -> None:
        ids = set(permission_ids)
        for name in ("role_permissions", "resource_server_permissions"):
            links = self._table(name)
            for key in [k for k in links if k[1] in ids]:
                del links[key]
        permissions = self._table("permissions")
        for permission_id in ids:
            permissions.pop(permission_id, None)

    async def search(
        self,
        tenant_id: str,
        service_code: str | None,
        include_deprecated: bool,
        page: PageRequest,
    ) -> PageOf[CatalogEntry]:
        rows = (
            row
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id
            and (service_code is None or row["service_code"] == service_code)
            and (include_deprecated or row["deprecated_at"] is None)
        )
        return slice_page([_entry(row) for row in _ordered(rows)], page)

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
        existing = self._find(tenant_id, service_code, code)
        if existing is not None:
            existing.update(name=name, description=description, updated_at=at, deprecated_at=None)
            return str(existing["id"])
        permission_id = str(uuid.uuid4())
        self._table("permissions")[permission_id] = {
            "id": permission_id,
            "tenant_id": tenant_id,
            "service_code": service_code,
            "code": code,
            "name": name,
            "description": description,
            "created_at": at,
            "updated_at": None,
            "deprecated_at": None,
        }
        return permission_id

    async def ids(self, tenant_id: str, service_codes: Sequence[str]) -> dict[str, str]:
        services = set(service_codes)
        return {
            row["code"]: row["id"]
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id and row["service_code"] in services
        }

    async def copy(
        self, tenant_id: str, source_service: str, target_service: str, at: datetime
    ) -> int:
        live = [
            (row["code"], row["name"], row["description"])
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id
            and row["service_code"] == source_service
            and row["deprecated_at"] is None
        ]
        for code, name, description in live:
            # Upsert: a deleted app's slug may be reused, and its old catalog is still there.
            await self.upsert(tenant_id, target_service, code, name, at, description=description)
        return len(live)
