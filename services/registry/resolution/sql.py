"""SQL ResolutionStore (services.registry.resolution.store): the token path's reads."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select

from services.common.vocabulary import CORE_SERVICE
from services.registry import schema as t
from services.registry.kernel.sql import SqlStore
from services.registry.resolution.models import UserRecord


class SqlResolutionStore(SqlStore):
    async def user(self, tenant_id: str, user_id: str) -> UserRecord | None:
        row = (
            await self._c.execute(
                select(
                    t.users.c.id,
                    t.users.c.email,
                    t.users.c.first_name,
                    t.users.c.last_name,
                    t.users.c.status,
                    t.users.c.token_version,
                ).where(and_(t.users.c.tenant_id == tenant_id, t.users.c.id == user_id))
            )
        ).first()
        return UserRecord(*row) if row else None

    async def membership_status(self, user_id: str, app_id: str) -> str | None:
        status = (
            await self._c.execute(
                select(t.memberships.c.status).where(
                    and_(t.memberships.c.user_id == user_id, t.memberships.c.app_id == app_id)
                )
            )
        ).scalar_one_or_none()
        return None if status is None else str(status)

    async def user_roles_and_permissions(
        self, tenant_id: str, user_id: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Roles given directly or through groups bound to the app (or to every app), limited
        to tenant-wide roles and roles of this app; permissions of those roles within the
        app's service codes, plus the core catalog. Three indexed queries, whatever the size
        of the tenant."""
        groups = (
            select(t.group_members.c.group_id)
            .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
            .outerjoin(
                t.group_apps,
                and_(t.group_apps.c.group_id == t.groups.c.id, t.group_apps.c.app_id == app_id),
            )
            .where(
                and_(
                    t.group_members.c.user_id == user_id,
                    or_(t.groups.c.bound_to_all_apps.is_(True), t.group_apps.c.app_id.is_not(None)),
                )
            )
        )
        role_ids = (
            select(t.user_roles.c.role_id.label("role_id"))
            .where(t.user_roles.c.user_id == user_id)
            .union(
                select(t.group_roles.c.role_id.label("role_id")).where(
                    t.group_roles.c.group_id.in_(groups)
                )
            )
            .subquery()
        )
        role_rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code).where(
                    and_(
                        t.roles.c.id.in_(select(role_ids.c.role_id)),
                        t.roles.c.tenant_id == tenant_id,
                        or_(t.roles.c.app_id.is_(None), t.roles.c.app_id == app_id),
                    )
                )
            )
        ).all()
        granted = (
            select(t.permissions.c.code)
            .join(t.role_permissions, t.role_permissions.c.permission_id == t.permissions.c.id)
            .where(
                and_(
                    t.role_permissions.c.role_id.in_([r[0] for r in role_rows]),
                    t.permissions.c.service_code.in_(list(service_codes)),
                )
            )
        )
        core = select(t.permissions.c.code).where(
            and_(
                t.permissions.c.tenant_id == tenant_id, t.permissions.c.service_code == CORE_SERVICE
            )
        )
        permissions = (await self._c.execute(granted.union(core))).scalars().all()
        return sorted(r[1] for r in role_rows), sorted(permissions)

    async def app_audiences(self, app_id: str) -> list[str]:
        rows = await self._c.execute(
            select(t.resource_servers.c.audience)
            .where(t.resource_servers.c.app_id == app_id)
            .order_by(t.resource_servers.c.audience)
        )
        return [str(r) for r in rows.scalars()]

    async def enabled_app_domains(self, tenant_id: str) -> set[str]:
        columns = (t.apps.c.allowed_domain_1, t.apps.c.allowed_domain_2, t.apps.c.allowed_domain_3)
        rows = await self._c.execute(
            select(*columns).where(t.apps.c.tenant_id == tenant_id, t.apps.c.enabled.is_(True))
        )
        return {str(domain) for row in rows for domain in row if domain}

    async def client_roles_and_permissions(
        self, client_pk: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        role_rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code)
                .join(t.client_roles, t.client_roles.c.role_id == t.roles.c.id)
                .where(
                    and_(
                        t.client_roles.c.client_pk == client_pk,
                        or_(t.roles.c.app_id.is_(None), t.roles.c.app_id == app_id),
                    )
                )
            )
        ).all()
        role_ids = [r[0] for r in role_rows]
        if not role_ids:
            return [], []
        permission_rows = (
            (
                await self._c.execute(
                    select(t.permissions.c.code)
                    .distinct()
                    .join(
                        t.role_permissions, t.role_permissions.c.permission_id == t.permissions.c.id
                    )
                    .where(
                        and_(
                            t.role_permissions.c.role_id.in_(role_ids),
                            t.permissions.c.service_code.in_(list(service_codes)),
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
        return sorted(r[1] for r in role_rows), sorted(permission_rows)
