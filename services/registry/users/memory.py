"""In-memory UserStore (services.registry.users.store): the SQL store's semantics over
:class:`~services.registry.kernel.memory.MemoryTables` (users, user_roles, group_members,
memberships; roles, groups, role_permissions and permissions are read as the SQL joins do).

The password hash is written to the row and never handed out: reads only say whether there
is one (``has_password``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.common.vocabulary import UserStatus
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.users.models import User
from services.registry.users.rules import email_key


class MemoryUserStore(MemoryStore):
    # -- reads -----------------------------------------------------------------------------

    def _user(self, row: Row) -> User | None:
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:  # the SQL reads join the tenant
            return None
        roles = self._table("roles")
        groups = self._table("groups")
        role_codes = sorted(
            roles[link["role_id"]]["code"]
            for link in self._table("user_roles").values()
            if link["user_id"] == row["id"] and link["role_id"] in roles
        )
        group_codes = sorted(
            groups[link["group_id"]]["code"]
            for link in self._table("group_members").values()
            if link["user_id"] == row["id"] and link["group_id"] in groups
        )
        return User(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"],
            email=row["email"],
            email_verified=row["email_verified"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            username=row["username"],
            has_password=row["password_hash"] is not None,
            status=UserStatus(row["status"]),
            token_version=row["token_version"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            roles=tuple(role_codes),
            groups=tuple(group_codes),
        )

    def _users(self, rows: Iterable[Row]) -> list[User]:
        return [user for user in (self._user(row) for row in rows) if user is not None]

    async def get(
        self,
        tenant_id: str,
        id_or_email_key: str,
        *,
        for_update: bool = False,  # noqa: ARG002 - writers are serialised in memory
    ) -> User | None:
        for row in self._table("users").values():
            if row["tenant_id"] == tenant_id and id_or_email_key in (row["id"], row["email_key"]):
                return self._user(row)
        return None

    async def search(
        self, tenant_id: str, page: PageRequest, query: str, status: UserStatus | None
    ) -> PageOf[User]:
        needle = query.lower()

        def matches(row: Row) -> bool:
            if row["tenant_id"] != tenant_id:
                return False
            if status is not None and row["status"] != status.value:
                return False
            if not needle:
                return True
            fields = (row["email_key"], row["first_name"], row["last_name"], row["username"])
            return any(value is not None and needle in value.lower() for value in fields)

        rows = sorted(
            (row for row in self._table("users").values() if matches(row)),
            key=lambda row: (row["email_key"], row["id"]),
        )
        found = slice_page(rows, page)
        return PageOf(self._users(found.items), found.total, found.next_offset)

    async def username_taken(
        self, tenant_id: str, username: str, exclude_user_id: str | None
    ) -> bool:
        return any(
            row["tenant_id"] == tenant_id
            and row["username"] == username
            and not (exclude_user_id and row["id"] == exclude_user_id)
            for row in self._table("users").values()
        )

    # -- writes ----------------------------------------------------------------------------

    @staticmethod
    def _values(user: User) -> dict[str, Any]:
        return {
            "email": user.email,
            "email_key": email_key(user.email),
            "email_verified": user.email_verified,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "username": user.username,
            "status": user.status.value,
            "token_version": user.token_version,
            "version": user.version,
            "updated_at": user.updated_at,
        }

    def _check_unique(self, user_id: str, tenant_id: str, values: dict[str, Any]) -> None:
        for row in self._table("users").values():
            if row["id"] == user_id or row["tenant_id"] != tenant_id:
                continue
            if row["email_key"] == values["email_key"]:
                raise unique_violation("users", "tenant_id", "email_key")
            # NULL usernames never collide.
            if values["username"] is not None and row["username"] == values["username"]:
                raise unique_violation("users", "tenant_id", "username")

    async def insert(self, user: User, password_hash: str | None) -> None:
        values = self._values(user)
        self._check_unique(user.id, user.tenant_id, values)
        self._table("users")[user.id] = {
            "id": user.id,
            "tenant_id": user.tenant_id,
            "password_hash": password_hash,
            "created_at": user.created_at,
            **values,
        }

    async def update(self, user: User, expected_version: int) -> bool:
        row = self._table("users").get(user.id)
        if row is None or row["version"] != expected_version:
            return False
        values = self._values(user)
        self._check_unique(user.id, row["tenant_id"], values)
        row.update(values)
        return True

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        row = self._table("users").get(user_id)
        if row is not None:
            row["password_hash"] = password_hash

    async def delete(self, user_id: str) -> None:
        for table in ("user_roles", "group_members", "memberships"):
            rows = self._table(table)
            for key in [key for key, row in rows.items() if row["user_id"] == user_id]:
                del rows[key]
        self._table("users").pop(user_id, None)

    async def assign_role(self, user_id: str, role_id: str) -> bool:
        rows = self._table("user_roles")
        if (user_id, role_id) in rows:
            return False
        rows[(user_id, role_id)] = {"user_id": user_id, "role_id": role_id}
        return True

    async def unassign_role(self, user_id: str, role_id: str) -> bool:
        return self._table("user_roles").pop((user_id, role_id), None) is not None

    async def grants(self, user_id: str) -> list[tuple[str, str]]:
        role_ids = {
            link["role_id"]
            for link in self._table("user_roles").values()
            if link["user_id"] == user_id
        }
        group_ids = {
            link["group_id"]
            for link in self._table("group_members").values()
            if link["user_id"] == user_id
        }
        role_ids.update(
            link["role_id"]
            for link in self._table("group_roles").values()
            if link["group_id"] in group_ids
        )
        permissions = self._table("permissions")
        return sorted(
            {
                (
                    permissions[link["permission_id"]]["service_code"],
                    permissions[link["permission_id"]]["code"],
                )
                for link in self._table("role_permissions").values()
                if link["role_id"] in role_ids and link["permission_id"] in permissions
            }
        )
