"""In-memory ResolutionStore (services.registry.resolution.store): the same joins as the SQL
store, over the other features' tables (users, memberships, roles, role_permissions,
permissions, user_roles, groups, group_members, group_apps, group_roles, client_roles,
resource_servers, apps)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.common.vocabulary import CORE_SERVICE
from services.registry.kernel.memory import MemoryStore
from services.registry.resolution.models import UserRecord

_DOMAIN_COLUMNS = ("allowed_domain_1", "allowed_domain_2", "allowed_domain_3")


class MemoryResolutionStore(MemoryStore):
    async def user(self, tenant_id: str, user_id: str) -> UserRecord | None:
        row = self._table("users").get(user_id)
        if row is None or row["tenant_id"] != tenant_id:
            return None
        return UserRecord(
            id=str(row["id"]),
            email=str(row["email"]),
            first_name=row["first_name"],
            last_name=row["last_name"],
            status=str(row["status"]),
            token_version=int(row["token_version"]),
        )

    async def membership_status(self, user_id: str, app_id: str) -> str | None:
        row = self._table("memberships").get((user_id, app_id))
        return None if row is None else str(row["status"])

    async def client_roles_and_permissions(
        self, client_pk: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        role_ids = {
            str(link["role_id"])
            for link in self._table("client_roles").values()
            if link["client_pk"] == client_pk
        }
        roles = self._roles_of_app(role_ids, app_id, tenant_id=None)
        if not roles:
            return [], []
        permissions = self._granted(roles.keys(), service_codes)
        return sorted(roles.values()), sorted(permissions)

    async def user_roles_and_permissions(
        self, tenant_id: str, user_id: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        groups = self._table("groups")
        bound_here = {
            str(link["group_id"])
            for link in self._table("group_apps").values()
            if link["app_id"] == app_id
        }
        group_ids = {
            str(member["group_id"])
            for member in self._table("group_members").values()
            if member["user_id"] == user_id
            and member["group_id"] in groups
            and (
                bool(groups[member["group_id"]]["bound_to_all_apps"])
                or member["group_id"] in bound_here
            )
        }
        role_ids = {
            str(link["role_id"])
            for link in self._table("user_roles").values()
            if link["user_id"] == user_id
        }
        role_ids.update(
            str(link["role_id"])
            for link in self._table("group_roles").values()
            if link["group_id"] in group_ids
        )
        roles = self._roles_of_app(role_ids, app_id, tenant_id=tenant_id)
        permissions = self._granted(roles.keys(), service_codes)
        permissions.update(
            str(row["code"])
            for row in self._table("permissions").values()
            if row["tenant_id"] == tenant_id and row["service_code"] == CORE_SERVICE
        )
        return sorted(roles.values()), sorted(permissions)

    async def app_audiences(self, app_id: str) -> list[str]:
        return sorted(
            str(row["audience"])
            for row in self._table("resource_servers").values()
            if row["app_id"] == app_id
        )

    async def enabled_app_domains(self, tenant_id: str) -> set[str]:
        return {
            str(row[column])
            for row in self._table("apps").values()
            if row["tenant_id"] == tenant_id and bool(row["enabled"])
            for column in _DOMAIN_COLUMNS
            if row[column]
        }

    def _roles_of_app(
        self, role_ids: Iterable[str], app_id: str, *, tenant_id: str | None
    ) -> dict[str, str]:
        """Code by id of the existing roles among ``role_ids`` that are tenant-wide or bound to
        ``app_id`` (and belong to ``tenant_id`` when given)."""
        roles = self._table("roles")
        found: dict[str, str] = {}
        for role_id in role_ids:
            row = roles.get(role_id)
            if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
                continue
            if row["app_id"] is None or row["app_id"] == app_id:
                found[role_id] = str(row["code"])
        return found

    def _granted(self, role_ids: Iterable[str], service_codes: Sequence[str]) -> set[str]:
        """Codes of the permissions the roles carry within ``service_codes``."""
        wanted = set(role_ids)
        services = set(service_codes)
        permissions = self._table("permissions")
        codes: set[str] = set()
        for link in self._table("role_permissions").values():
            if link["role_id"] not in wanted:
                continue
            row = permissions.get(link["permission_id"])
            if row is not None and row["service_code"] in services:
                codes.add(str(row["code"]))
        return codes
