"""SQL UserStore (services.registry.users.store).

The password hash column is written here and never read back: user queries select
``password_hash IS NOT NULL`` instead, so no read path can carry it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from services.common.vocabulary import UserStatus
from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, like_pattern, utc
from services.registry.users.models import User
from services.registry.users.rules import email_key

_USER_COLUMNS = (
    t.users.c.id,
    t.users.c.tenant_id,
    t.users.c.email,
    t.users.c.email_verified,
    t.users.c.first_name,
    t.users.c.last_name,
    t.users.c.username,
    t.users.c.password_hash.is_not(None).label("has_password"),
    t.users.c.status,
    t.users.c.token_version,
    t.users.c.version,
    t.users.c.created_at,
    t.users.c.updated_at,
    t.tenants.c.slug.label("tenant_slug"),
)


class SqlUserStore(SqlStore):
    def _users_query(self) -> Select[Any]:
        return select(*_USER_COLUMNS).join(t.tenants, t.tenants.c.id == t.users.c.tenant_id)

    async def _users(self, rows: Iterable[Row[Any]]) -> list[User]:
        rows = list(rows)
        ids = [r._mapping["id"] for r in rows]
        roles: dict[str, list[str]] = defaultdict(list)
        groups: dict[str, list[str]] = defaultdict(list)
        if ids:
            for user_id, code in (
                await self._c.execute(
                    select(t.user_roles.c.user_id, t.roles.c.code)
                    .join(t.roles, t.roles.c.id == t.user_roles.c.role_id)
                    .where(t.user_roles.c.user_id.in_(ids))
                    .order_by(t.roles.c.code)
                )
            ).all():
                roles[user_id].append(code)
            for user_id, code in (
                await self._c.execute(
                    select(t.group_members.c.user_id, t.groups.c.code)
                    .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
                    .where(t.group_members.c.user_id.in_(ids))
                    .order_by(t.groups.c.code)
                )
            ).all():
                groups[user_id].append(code)
        users = []
        for row in rows:
            m = row._mapping
            users.append(
                User(
                    id=m["id"],
                    tenant_id=m["tenant_id"],
                    tenant_slug=m["tenant_slug"],
                    email=m["email"],
                    email_verified=bool(m["email_verified"]),
                    first_name=m["first_name"],
                    last_name=m["last_name"],
                    username=m["username"],
                    has_password=bool(m["has_password"]),
                    status=UserStatus(m["status"]),
                    token_version=m["token_version"],
                    version=m["version"],
                    created_at=utc(m["created_at"]),
                    updated_at=utc(m["updated_at"]),
                    roles=tuple(roles[m["id"]]),
                    groups=tuple(groups[m["id"]]),
                )
            )
        return users

    async def get(
        self, tenant_id: str, id_or_email_key: str, *, for_update: bool = False
    ) -> User | None:
        statement = self._users_query().where(
            and_(
                t.users.c.tenant_id == tenant_id,
                or_(t.users.c.id == id_or_email_key, t.users.c.email_key == id_or_email_key),
            )
        )
        row = (await self._c.execute(self.locked(statement, t.users, for_update))).first()
        return (await self._users([row]))[0] if row else None

    async def search(
        self, tenant_id: str, page: PageRequest, query: str, status: UserStatus | None
    ) -> PageOf[User]:
        statement = self._users_query().where(t.users.c.tenant_id == tenant_id)
        if status is not None:
            statement = statement.where(t.users.c.status == status.value)
        if query:
            pattern = like_pattern(query)
            statement = statement.where(
                or_(
                    t.users.c.email_key.like(pattern, escape="\\"),
                    func.lower(t.users.c.first_name).like(pattern, escape="\\"),
                    func.lower(t.users.c.last_name).like(pattern, escape="\\"),
                    t.users.c.username.like(pattern, escape="\\"),
                )
            )
        rows, total = await self.page(statement, page, [t.users.c.email_key, t.users.c.id])
        return offset_page(await self._users(rows), total, page)

    async def username_taken(
        self, tenant_id: str, username: str, exclude_user_id: str | None
    ) -> bool:
        statement = select(t.users.c.id).where(
            and_(t.users.c.tenant_id == tenant_id, t.users.c.username == username)
        )
        if exclude_user_id:
            statement = statement.where(t.users.c.id != exclude_user_id)
        return (await self._c.execute(statement)).first() is not None

    @staticmethod
    def _user_values(user: User) -> dict[str, Any]:
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

    async def insert(self, user: User, password_hash: str | None) -> None:
        await self.execute(
            insert(t.users).values(
                id=user.id,
                tenant_id=user.tenant_id,
                password_hash=password_hash,
                created_at=user.created_at,
                **self._user_values(user),
            )
        )

    async def update(self, user: User, expected_version: int) -> bool:
        result = await self.execute(
            update(t.users)
            .where(and_(t.users.c.id == user.id, t.users.c.version == expected_version))
            .values(**self._user_values(user))
        )
        return bool(result.rowcount == 1)

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        await self.execute(
            update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    async def delete(self, user_id: str) -> None:
        await self._c.execute(delete(t.user_roles).where(t.user_roles.c.user_id == user_id))
        await self._c.execute(delete(t.group_members).where(t.group_members.c.user_id == user_id))
        await self._c.execute(delete(t.memberships).where(t.memberships.c.user_id == user_id))
        await self._c.execute(delete(t.users).where(t.users.c.id == user_id))

    async def assign_role(self, user_id: str, role_id: str) -> bool:
        exists = (
            await self._c.execute(
                select(t.user_roles.c.user_id).where(
                    and_(t.user_roles.c.user_id == user_id, t.user_roles.c.role_id == role_id)
                )
            )
        ).first()
        if exists is not None:
            return False
        await self.execute(insert(t.user_roles).values(user_id=user_id, role_id=role_id))
        return True

    async def unassign_role(self, user_id: str, role_id: str) -> bool:
        result = await self._c.execute(
            delete(t.user_roles).where(
                and_(t.user_roles.c.user_id == user_id, t.user_roles.c.role_id == role_id)
            )
        )
        return bool(result.rowcount)

    async def grants(self, user_id: str) -> list[tuple[str, str]]:
        through_groups = (
            select(t.group_roles.c.role_id)
            .join(t.group_members, t.group_members.c.group_id == t.group_roles.c.group_id)
            .where(t.group_members.c.user_id == user_id)
        )
        direct = select(t.user_roles.c.role_id).where(t.user_roles.c.user_id == user_id)
        rows = await self._c.execute(
            select(t.permissions.c.service_code, t.permissions.c.code)
            .distinct()
            .join(t.role_permissions, t.role_permissions.c.permission_id == t.permissions.c.id)
            .where(
                or_(
                    t.role_permissions.c.role_id.in_(direct),
                    t.role_permissions.c.role_id.in_(through_groups),
                )
            )
        )
        return [(str(r[0]), str(r[1])) for r in rows]
