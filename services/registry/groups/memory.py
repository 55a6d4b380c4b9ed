"""In-memory GroupStore (services.registry.groups.store): the SQL store's semantics over
:class:`~services.registry.kernel.memory.MemoryTables` (groups, group_apps, group_roles,
group_members; tenants, apps and roles are read as the SQL joins do)."""

from __future__ import annotations

from services.registry.apps.models import AppRef
from services.registry.groups.models import Group
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.roles.models import RoleRef

# The tables holding a group's links, each keyed by (group_id, <other id>).
_LINKS = ("group_members", "group_apps", "group_roles")


class MemoryGroupStore(MemoryStore):
    # -- reads -----------------------------------------------------------------------------

    def _group(self, row: Row) -> Group | None:
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:  # the SQL reads join the tenant
            return None
        apps = self._table("apps")
        bound = sorted(
            (
                apps[link["app_id"]]
                for link in self._table("group_apps").values()
                if link["group_id"] == row["id"] and link["app_id"] in apps
            ),
            key=lambda app: str(app["slug"]),
        )
        roles = self._table("roles")
        given = sorted(
            (
                roles[link["role_id"]]
                for link in self._table("group_roles").values()
                if link["group_id"] == row["id"] and link["role_id"] in roles
            ),
            key=lambda role: str(role["code"]),
        )
        return Group(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"],
            code=row["code"],
            name=row["name"],
            all_apps=row["bound_to_all_apps"],
            apps=tuple(AppRef(app["id"], app["slug"]) for app in bound),
            roles=tuple(RoleRef(role["id"], role["code"]) for role in given),
            created_at=row["created_at"],
        )

    async def get(
        self,
        tenant_id: str,
        id_or_code: str,
        *,
        for_update: bool = False,  # noqa: ARG002 - writers are serialised in memory
    ) -> Group | None:
        for row in self._table("groups").values():
            if row["tenant_id"] == tenant_id and id_or_code in (row["id"], row["code"]):
                return self._group(row)
        return None

    async def search(self, tenant_id: str, page: PageRequest, query: str) -> PageOf[Group]:
        needle = query.lower()
        rows = sorted(
            (
                row
                for row in self._table("groups").values()
                if row["tenant_id"] == tenant_id
                and (not needle or needle in row["code"].lower() or needle in row["name"].lower())
            ),
            key=lambda row: (row["code"], row["id"]),
        )
        found = slice_page(rows, page)
        groups = [group for group in (self._group(row) for row in found.items) if group]
        return PageOf(groups, found.total, found.next_offset)

    # -- writes ----------------------------------------------------------------------------

    def _write_links(self, group: Group) -> None:
        for table in ("group_apps", "group_roles"):
            self._unlink(table, group.id)
        if not group.all_apps:
            apps = self._table("group_apps")
            for app in group.apps:
                apps[(group.id, app.id)] = {"group_id": group.id, "app_id": app.id}
        roles = self._table("group_roles")
        for role in group.roles:
            roles[(group.id, role.id)] = {"group_id": group.id, "role_id": role.id}

    def _unlink(self, table: str, group_id: str) -> None:
        links = self._table(table)
        for key in [key for key, link in links.items() if link["group_id"] == group_id]:
            del links[key]

    async def insert(self, group: Group) -> None:
        groups = self._table("groups")
        if any(
            row["tenant_id"] == group.tenant_id and row["code"] == group.code
            for row in groups.values()
        ):
            raise unique_violation("groups", "tenant_id", "code")
        groups[group.id] = {
            "id": group.id,
            "tenant_id": group.tenant_id,
            "code": group.code,
            "name": group.name,
            "bound_to_all_apps": group.all_apps,
            "created_at": group.created_at,
        }
        self._write_links(group)

    async def update(self, group: Group) -> None:
        row = self._table("groups").get(group.id)
        if row is None:
            return
        row["name"] = group.name
        row["bound_to_all_apps"] = group.all_apps
        self._write_links(group)

    async def delete(self, group_id: str) -> None:
        for table in _LINKS:
            self._unlink(table, group_id)
        self._table("groups").pop(group_id, None)

    async def add_member(self, group_id: str, user_id: str) -> bool:
        members = self._table("group_members")
        if (group_id, user_id) in members:
            return False
        members[(group_id, user_id)] = {"group_id": group_id, "user_id": user_id}
        return True

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        return self._table("group_members").pop((group_id, user_id), None) is not None
