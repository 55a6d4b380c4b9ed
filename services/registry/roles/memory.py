"""In-memory RoleStore (services.registry.roles.store): the SQL store's semantics over
:class:`~services.registry.kernel.memory.MemoryTables` (roles, role_permissions; tenants, apps,
permissions, users, user_roles, groups, group_roles, clients and client_roles are read as the
SQL joins do)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.roles.models import Role, RolePermission, RoleRef


class MemoryRoleStore(MemoryStore):
    # -- reads -----------------------------------------------------------------------------

    def _role(self, row: Row) -> Role | None:
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:  # the SQL reads join the tenant
            return None
        app = self._table("apps").get(row["app_id"]) if row["app_id"] is not None else None
        permissions = self._table("permissions")
        granted = sorted(
            (
                permissions[link["permission_id"]]
                for link in self._table("role_permissions").values()
                if link["role_id"] == row["id"] and link["permission_id"] in permissions
            ),
            key=lambda entry: (entry["service_code"], entry["code"]),
        )
        return Role(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"],
            code=row["code"],
            name=row["name"],
            description=row["description"],
            app_id=row["app_id"],
            app_slug=app["slug"] if app is not None else None,
            permissions=tuple(
                RolePermission(
                    entry["id"],
                    entry["service_code"],
                    entry["code"],
                    entry["deprecated_at"] is not None,
                )
                for entry in granted
            ),
            created_at=row["created_at"],
        )

    def _tenant_roles(self, tenant_id: str) -> list[Row]:
        return [row for row in self._table("roles").values() if row["tenant_id"] == tenant_id]

    async def grants(self, role_ids: Sequence[str]) -> list[tuple[str, str]]:
        wanted = set(role_ids)
        permissions = self._table("permissions")
        return sorted(
            (
                permissions[link["permission_id"]]["service_code"],
                permissions[link["permission_id"]]["code"],
            )
            for link in self._table("role_permissions").values()
            if link["role_id"] in wanted and link["permission_id"] in permissions
        )

    async def get(
        self,
        tenant_id: str,
        id_or_code: str,
        *,
        for_update: bool = False,  # noqa: ARG002 - writers are serialised in memory
    ) -> Role | None:
        for row in self._tenant_roles(tenant_id):
            if id_or_code in (row["id"], row["code"]):
                return self._role(row)
        return None

    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, RoleRef]:
        found: dict[str, RoleRef] = {}
        for row in self._tenant_roles(tenant_id):
            found[row["id"]] = found[row["code"]] = RoleRef(row["id"], row["code"])
        return {ref: found[ref] for ref in refs if ref in found}

    async def coded(self, tenant_id: str, codes: Sequence[str]) -> dict[str, NamedRef]:
        wanted = set(codes)
        return {
            row["code"]: NamedRef(row["id"], row["code"], row["app_id"])
            for row in self._tenant_roles(tenant_id)
            if row["code"] in wanted
        }

    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Role]:
        rows = sorted(
            (
                row
                for row in self._tenant_roles(tenant_id)
                if app_id is None or row["app_id"] == app_id
            ),
            key=lambda row: (row["code"], row["id"]),
        )
        found = slice_page(rows, page)
        roles = [role for role in (self._role(row) for row in found.items) if role is not None]
        return PageOf(roles, found.total, found.next_offset)

    async def blockers(self, role_id: str) -> list[str]:
        users = self._table("users")
        holders = sorted(
            (users[link["user_id"]]["email_key"], users[link["user_id"]]["email"])
            for link in self._table("user_roles").values()
            if link["role_id"] == role_id and link["user_id"] in users
        )
        groups = self._table("groups")
        codes = sorted(
            groups[link["group_id"]]["code"]
            for link in self._table("group_roles").values()
            if link["role_id"] == role_id and link["group_id"] in groups
        )
        clients = self._table("clients")
        client_ids = sorted(
            clients[link["client_pk"]]["client_id"]
            for link in self._table("client_roles").values()
            if link["role_id"] == role_id and link["client_pk"] in clients
        )
        return [
            *(f"user:{email}" for _, email in holders),
            *(f"group:{code}" for code in codes),
            *(f"client:{client_id}" for client_id in client_ids),
        ]

    # -- writes ----------------------------------------------------------------------------

    def _insert_row(
        self,
        role_id: str,
        tenant_id: str,
        app_id: str | None,
        code: str,
        name: str,
        description: str,
        created_at: datetime,
    ) -> None:
        if any(row["code"] == code for row in self._tenant_roles(tenant_id)):
            raise unique_violation("roles", "tenant_id", "code")
        self._table("roles")[role_id] = {
            "id": role_id,
            "tenant_id": tenant_id,
            "app_id": app_id,
            "code": code,
            "name": name,
            "description": description,
            "created_at": created_at,
        }

    async def insert(self, role: Role) -> None:
        self._insert_row(
            role.id,
            role.tenant_id,
            role.app_id,
            role.code,
            role.name,
            role.description,
            role.created_at,
        )

    async def update(self, role: Role) -> None:
        row = self._table("roles").get(role.id)
        if row is not None:
            row["name"] = role.name
            row["description"] = role.description

    async def delete(self, role_id: str) -> None:
        links = self._table("role_permissions")
        for key in [key for key, link in links.items() if link["role_id"] == role_id]:
            del links[key]
        self._table("roles").pop(role_id, None)

    async def replace_permissions(self, role_id: str, permission_ids: Sequence[str]) -> None:
        links = self._table("role_permissions")
        for key in [key for key, link in links.items() if link["role_id"] == role_id]:
            del links[key]
        for permission_id in permission_ids:
            links[(role_id, permission_id)] = {"role_id": role_id, "permission_id": permission_id}

    async def upsert(
        self, tenant_id: str, app_id: str | None, code: str, name: str, at: datetime
    ) -> str:
        for row in self._tenant_roles(tenant_id):
            if row["code"] == code:
                return str(row["id"])
        role_id = str(uuid.uuid4())
        self._insert_row(role_id, tenant_id, app_id, code, name, "", at)
        return role_id

    async def grant(self, role_id: str, permission_ids: Sequence[str]) -> None:
        links = self._table("role_permissions")
        for permission_id in permission_ids:
            links.setdefault(
                (role_id, permission_id), {"role_id": role_id, "permission_id": permission_id}
            )
