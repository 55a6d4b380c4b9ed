"""SQL implementation of the directory's storage port (``DirectoryStore``), SQLAlchemy Core over
the registry's own tables (SQLite and PostgreSQL).

Database errors are translated here, once: a unique violation becomes AlreadyExists with the
reason of the constraint it broke. The password hash column is written here and never read
back: user queries select ``password_hash IS NOT NULL`` instead, so no read path can carry it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database
from services.registry.domain.directory_models import (
    MEMBERSHIP_EXISTS,
    AppRef,
    Group,
    Membership,
    MembershipStatus,
    PermissionEntry,
    Role,
    RolePermission,
    RoleRef,
    User,
    UserStatus,
)
from services.registry.domain.directory_rules import email_key
from services.registry.domain.models import App, AuditEvent, PageOf, PageRequest, Tenant
from services.registry.storage import tables as t
from services.registry.storage.common import (
    SqlStorage,
    execute_unique,
    fetch_page,
    offset_page,
    utc,
    utc_or_none,
)
from services.registry.storage.sql import SqlRegistryTx

_UNIQUE_REASONS = (
    # (fragment of the PostgreSQL constraint name or of SQLite's column list, reason, message)
    ("users_tenant_id_email_key", "EMAIL_TAKEN", "Another user of this tenant has that email."),
    (
        "users.tenant_id, users.email_key",
        "EMAIL_TAKEN",
        "Another user of this tenant has that email.",
    ),
    (
        "users_tenant_id_username",
        "USERNAME_TAKEN",
        "Another user of this tenant has that username.",
    ),
    (
        "users.tenant_id, users.username",
        "USERNAME_TAKEN",
        "Another user of this tenant has that username.",
    ),
    ("roles_tenant_id_code", "ROLE_CODE_TAKEN", "This tenant already has a role with that code."),
    (
        "roles.tenant_id, roles.code",
        "ROLE_CODE_TAKEN",
        "This tenant already has a role with that code.",
    ),
    (
        "groups_tenant_id_code",
        "GROUP_CODE_TAKEN",
        "This tenant already has a group with that code.",
    ),
    (
        "groups.tenant_id, groups.code",
        "GROUP_CODE_TAKEN",
        "This tenant already has a group with that code.",
    ),
    ("pk_memberships", MEMBERSHIP_EXISTS, "The user already has a membership of that app."),
    ("memberships.user_id", MEMBERSHIP_EXISTS, "The user already has a membership of that app."),
)


def _like(query: str) -> str:
    """A LIKE pattern matching ``query`` as a literal substring (``%``/``_`` escaped)."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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


class SqlDirectoryTx:
    """The directory port over one connection (inside one transaction)."""

    def __init__(self, connection: AsyncConnection, for_update_supported: bool) -> None:
        self._c = connection
        self._for_update = for_update_supported
        # Tenants, apps and the audit log belong to the registry core: reuse its mapping.
        self._core = SqlRegistryTx(connection, for_update_supported)

    async def _execute(self, statement: Any) -> Any:
        return await execute_unique(self._c, statement, _UNIQUE_REASONS)

    async def _page(
        self, statement: Select[Any], page: PageRequest, order: Sequence[Any]
    ) -> tuple[list[Row[Any]], int]:
        return await fetch_page(self._c, statement, page, order)

    def _locked(self, statement: Select[Any], table: Any, for_update: bool) -> Select[Any]:
        # Lock only the entity's row, never the joined tenant row (that would serialise every
        # write of the tenant).
        if for_update and self._for_update:
            return statement.with_for_update(of=table)
        return statement

    # -- registry core (delegated) ---------------------------------------------------------

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        return await self._core.get_tenant(slug, for_update=for_update)

    async def get_tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return await self._core.get_tenant_by_id(tenant_id)

    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None:
        return await self._core.get_app(tenant_id, id_or_slug)

    async def insert_audit(self, event: AuditEvent) -> None:
        await self._core.insert_audit(event)

    async def list_audit(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        return await self._core.list_audit(tenant_id, page, action, target_id)

    async def find_apps(self, tenant_id: str, refs: Sequence[str]) -> dict[str, AppRef]:
        rows = (
            await self._c.execute(
                select(t.apps.c.id, t.apps.c.slug).where(
                    and_(
                        t.apps.c.tenant_id == tenant_id,
                        or_(t.apps.c.id.in_(list(refs)), t.apps.c.slug.in_(list(refs))),
                    )
                )
            )
        ).all()
        found: dict[str, AppRef] = {}
        for app_id, slug in rows:
            app = AppRef(app_id, slug)
            found[app_id] = app
            found[slug] = app
        return {ref: found[ref] for ref in refs if ref in found}

    # -- users -----------------------------------------------------------------------------

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

    async def get_user(
        self, tenant_id: str, id_or_email_key: str, *, for_update: bool = False
    ) -> User | None:
        statement = self._users_query().where(
            and_(
                t.users.c.tenant_id == tenant_id,
                or_(t.users.c.id == id_or_email_key, t.users.c.email_key == id_or_email_key),
            )
        )
        row = (await self._c.execute(self._locked(statement, t.users, for_update))).first()
        return (await self._users([row]))[0] if row else None

    async def list_users(
        self, tenant_id: str, page: PageRequest, query: str, status: UserStatus | None
    ) -> PageOf[User]:
        statement = self._users_query().where(t.users.c.tenant_id == tenant_id)
        if status is not None:
            statement = statement.where(t.users.c.status == status.value)
        if query:
            pattern = _like(query)
            statement = statement.where(
                or_(
                    t.users.c.email_key.like(pattern, escape="\\"),
                    func.lower(t.users.c.first_name).like(pattern, escape="\\"),
                    func.lower(t.users.c.last_name).like(pattern, escape="\\"),
                    t.users.c.username.like(pattern, escape="\\"),
                )
            )
        rows, total = await self._page(statement, page, [t.users.c.email_key, t.users.c.id])
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

    async def insert_user(self, user: User, password_hash: str | None) -> None:
        await self._execute(
            insert(t.users).values(
                id=user.id,
                tenant_id=user.tenant_id,
                password_hash=password_hash,
                created_at=user.created_at,
                **self._user_values(user),
            )
        )

    async def update_user(self, user: User, expected_version: int) -> bool:
        result = await self._execute(
            update(t.users)
            .where(and_(t.users.c.id == user.id, t.users.c.version == expected_version))
            .values(**self._user_values(user))
        )
        return bool(result.rowcount == 1)

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None:
        await self._c.execute(
            update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    async def delete_user(self, user_id: str) -> None:
        await self._c.execute(delete(t.user_roles).where(t.user_roles.c.user_id == user_id))
        await self._c.execute(delete(t.group_members).where(t.group_members.c.user_id == user_id))
        await self._c.execute(delete(t.memberships).where(t.memberships.c.user_id == user_id))
        await self._c.execute(delete(t.users).where(t.users.c.id == user_id))

    async def assign_user_role(self, user_id: str, role_id: str) -> bool:
        exists = (
            await self._c.execute(
                select(t.user_roles.c.user_id).where(
                    and_(t.user_roles.c.user_id == user_id, t.user_roles.c.role_id == role_id)
                )
            )
        ).first()
        if exists is not None:
            return False
        await self._execute(insert(t.user_roles).values(user_id=user_id, role_id=role_id))
        return True

    async def unassign_user_role(self, user_id: str, role_id: str) -> bool:
        result = await self._c.execute(
            delete(t.user_roles).where(
                and_(t.user_roles.c.user_id == user_id, t.user_roles.c.role_id == role_id)
            )
        )
        return bool(result.rowcount)

    async def user_grants(self, user_id: str) -> list[tuple[str, str]]:
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

    async def role_grants(self, role_ids: list[str]) -> list[tuple[str, str]]:
        return await self._core.role_grants(role_ids)

    # -- roles -----------------------------------------------------------------------------

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

    async def get_role(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Role | None:
        statement = self._roles_query().where(
            and_(
                t.roles.c.tenant_id == tenant_id,
                or_(t.roles.c.id == id_or_code, t.roles.c.code == id_or_code),
            )
        )
        row = (await self._c.execute(self._locked(statement, t.roles, for_update))).first()
        return (await self._roles([row]))[0] if row else None

    async def list_roles(
        self, tenant_id: str, page: PageRequest, app_id: str | None
    ) -> PageOf[Role]:
        statement = self._roles_query().where(t.roles.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.where(t.roles.c.app_id == app_id)
        rows, total = await self._page(statement, page, [t.roles.c.code, t.roles.c.id])
        return offset_page(await self._roles(rows), total, page)

    async def find_roles(self, tenant_id: str, refs: Sequence[str]) -> dict[str, RoleRef]:
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

    async def insert_role(self, role: Role) -> None:
        await self._execute(
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

    async def update_role(self, role: Role) -> None:
        await self._c.execute(
            update(t.roles)
            .where(t.roles.c.id == role.id)
            .values(name=role.name, description=role.description)
        )

    async def delete_role(self, role_id: str) -> None:
        await self._c.execute(
            delete(t.role_permissions).where(t.role_permissions.c.role_id == role_id)
        )
        await self._c.execute(delete(t.roles).where(t.roles.c.id == role_id))

    async def role_blockers(self, role_id: str) -> list[str]:
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

    async def catalog_entries(
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
        if self._for_update:
            # FOR SHARE: a concurrent catalog reconcile (FOR UPDATE) cannot prune these
            # entries between this read and the grant that references them.
            statement = statement.with_for_update(read=True, of=t.permissions)
        rows = (await self._c.execute(statement)).all()
        return {
            (service, code): PermissionEntry(permission_id, service, code, bool(deprecated))
            for permission_id, service, code, deprecated in rows
            if (service, code) in wanted
        }

    async def replace_role_permissions(self, role_id: str, permission_ids: Sequence[str]) -> None:
        await self._c.execute(
            delete(t.role_permissions).where(t.role_permissions.c.role_id == role_id)
        )
        if permission_ids:
            await self._c.execute(
                insert(t.role_permissions),
                [{"role_id": role_id, "permission_id": p} for p in permission_ids],
            )

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

    async def get_group(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Group | None:
        statement = self._groups_query().where(
            and_(
                t.groups.c.tenant_id == tenant_id,
                or_(t.groups.c.id == id_or_code, t.groups.c.code == id_or_code),
            )
        )
        row = (await self._c.execute(self._locked(statement, t.groups, for_update))).first()
        return (await self._groups([row]))[0] if row else None

    async def list_groups(self, tenant_id: str, page: PageRequest, query: str) -> PageOf[Group]:
        statement = self._groups_query().where(t.groups.c.tenant_id == tenant_id)
        if query:
            pattern = _like(query)
            statement = statement.where(
                or_(
                    t.groups.c.code.like(pattern, escape="\\"),
                    func.lower(t.groups.c.name).like(pattern, escape="\\"),
                )
            )
        rows, total = await self._page(statement, page, [t.groups.c.code, t.groups.c.id])
        return offset_page(await self._groups(rows), total, page)

    async def _write_group_links(self, group: Group) -> None:
        await self._c.execute(delete(t.group_apps).where(t.group_apps.c.group_id == group.id))
        await self._c.execute(delete(t.group_roles).where(t.group_roles.c.group_id == group.id))
        if group.apps and not group.all_apps:
            await self._c.execute(
                insert(t.group_apps), [{"group_id": group.id, "app_id": a.id} for a in group.apps]
            )
        if group.roles:
            await self._c.execute(
                insert(t.group_roles),
                [{"group_id": group.id, "role_id": r.id} for r in group.roles],
            )

    async def insert_group(self, group: Group) -> None:
        await self._execute(
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

    async def update_group(self, group: Group) -> None:
        await self._c.execute(
            update(t.groups)
            .where(t.groups.c.id == group.id)
            .values(name=group.name, bound_to_all_apps=group.all_apps)
        )
        await self._write_group_links(group)

    async def delete_group(self, group_id: str) -> None:
        for table in (t.group_members, t.group_apps, t.group_roles):
            await self._c.execute(delete(table).where(table.c.group_id == group_id))
        await self._c.execute(delete(t.groups).where(t.groups.c.id == group_id))

    async def add_group_member(self, group_id: str, user_id: str) -> bool:
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
        await self._execute(insert(t.group_members).values(group_id=group_id, user_id=user_id))
        return True

    async def remove_group_member(self, group_id: str, user_id: str) -> bool:
        result = await self._c.execute(
            delete(t.group_members).where(
                and_(t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id)
            )
        )
        return bool(result.rowcount)

    # -- memberships -----------------------------------------------------------------------

    def _memberships_query(self) -> Select[Any]:
        return (
            select(
                t.memberships,
                t.users.c.email.label("user_email"),
                t.apps.c.slug.label("app_slug"),
            )
            .join(t.users, t.users.c.id == t.memberships.c.user_id)
            .join(t.apps, t.apps.c.id == t.memberships.c.app_id)
        )

    @staticmethod
    def _membership(row: Row[Any]) -> Membership:
        m = row._mapping
        return Membership(
            user_id=m["user_id"],
            user_email=m["user_email"],
            app_id=m["app_id"],
            app_slug=m["app_slug"],
            status=MembershipStatus(m["status"]),
            granted_at=utc(m["granted_at"]),
            granted_by=m["granted_by"],
            revoked_at=utc_or_none(m["revoked_at"]),
        )

    async def get_membership(
        self, user_id: str, app_id: str, *, for_update: bool = False
    ) -> Membership | None:
        statement = self._memberships_query().where(
            and_(t.memberships.c.user_id == user_id, t.memberships.c.app_id == app_id)
        )
        row = (await self._c.execute(self._locked(statement, t.memberships, for_update))).first()
        return self._membership(row) if row else None

    async def insert_membership(self, membership: Membership) -> None:
        await self._execute(
            insert(t.memberships).values(
                user_id=membership.user_id,
                app_id=membership.app_id,
                status=membership.status.value,
                granted_at=membership.granted_at,
                granted_by=membership.granted_by,
                revoked_at=membership.revoked_at,
            )
        )

    async def update_membership(self, membership: Membership) -> None:
        await self._c.execute(
            update(t.memberships)
            .where(
                and_(
                    t.memberships.c.user_id == membership.user_id,
                    t.memberships.c.app_id == membership.app_id,
                )
            )
            .values(
                status=membership.status.value,
                granted_at=membership.granted_at,
                granted_by=membership.granted_by,
                revoked_at=membership.revoked_at,
            )
        )

    async def list_memberships(
        self,
        tenant_id: str,
        page: PageRequest,
        *,
        user_id: str | None,
        app_id: str | None,
        status: MembershipStatus | None,
    ) -> PageOf[Membership]:
        statement = self._memberships_query().where(t.users.c.tenant_id == tenant_id)
        if user_id is not None:
            statement = statement.where(t.memberships.c.user_id == user_id)
        if app_id is not None:
            statement = statement.where(t.memberships.c.app_id == app_id)
        if status is not None:
            statement = statement.where(t.memberships.c.status == status.value)
        rows, total = await self._page(
            statement, page, [t.apps.c.slug, t.users.c.email_key, t.memberships.c.user_id]
        )
        return offset_page([self._membership(r) for r in rows], total, page)


class SqlDirectoryStorage(SqlStorage[SqlDirectoryTx]):
    """The directory feature's unit of work."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, SqlDirectoryTx)
