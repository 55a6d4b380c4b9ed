"""SQL ResolutionStore (services.registry.resolution.store): the token path's reads."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select

from services.common.vocabulary import CORE_SERVICE, PlanStatus
from services.registry import schema as t
from services.registry.kernel.sql import SqlStore, utc, utc_or_none
from services.registry.resolution.models import (
    AppFacts,
    ClientFacts,
    RoleFacts,
    SnapshotSecret,
    UserRecord,
)


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

    async def client_facts(self, tenant_id: str, client_id: str) -> ClientFacts | None:
        client = (
            await self._c.execute(
                select(t.clients).where(
                    and_(t.clients.c.client_id == client_id, t.clients.c.tenant_id == tenant_id)
                )
            )
        ).first()
        if client is None:
            return None
        pk = client.id
        secrets = (
            await self._c.execute(
                select(t.client_secrets)
                .where(t.client_secrets.c.client_pk == pk)
                .order_by(t.client_secrets.c.created_at.desc(), t.client_secrets.c.id)
            )
        ).all()
        app_rows = (
            await self._c.execute(
                select(
                    t.apps.c.id,
                    t.apps.c.slug,
                    t.apps.c.enabled,
                    t.apps.c.db_code,
                    t.apps.c.plan_id,
                    t.apps.c.service_codes,
                    t.apps.c.settings,
                    t.regions.c.code.label("region"),
                    t.plans.c.code.label("plan_code"),
                    t.plans.c.status.label("plan_status"),
                    t.plans.c.limits.label("plan_limits"),
                )
                .join(t.client_apps, t.client_apps.c.app_id == t.apps.c.id)
                .outerjoin(t.regions, t.regions.c.id == t.apps.c.region_id)
                .outerjoin(t.plans, t.plans.c.id == t.apps.c.plan_id)
                .where(t.client_apps.c.client_pk == pk)
                .order_by(t.apps.c.slug)
            )
        ).all()
        app_ids = [r.id for r in app_rows]
        audiences: dict[str, list[str]] = {}
        if app_ids:
            for app_id, audience in (
                await self._c.execute(
                    select(t.resource_servers.c.app_id, t.resource_servers.c.audience)
                    .where(t.resource_servers.c.app_id.in_(app_ids))
                    .order_by(t.resource_servers.c.audience)
                )
            ).all():
                audiences.setdefault(app_id, []).append(audience)
        role_rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code, t.roles.c.app_id)
                .join(t.client_roles, t.client_roles.c.role_id == t.roles.c.id)
                .where(t.client_roles.c.client_pk == pk)
                .order_by(t.roles.c.code)
            )
        ).all()
        granted: dict[str, list[tuple[str, str]]] = {}
        if role_rows:
            for role_id, service, code in (
                await self._c.execute(
                    select(
                        t.role_permissions.c.role_id,
                        t.permissions.c.service_code,
                        t.permissions.c.code,
                    )
                    .join(t.permissions, t.permissions.c.id == t.role_permissions.c.permission_id)
                    .where(t.role_permissions.c.role_id.in_([r.id for r in role_rows]))
                )
            ).all():
                granted.setdefault(role_id, []).append((service, code))
        scope_rows = (
            await self._c.execute(
                select(t.scopes.c.name, t.scopes.c.app_id)
                .join(t.client_scopes, t.client_scopes.c.scope_id == t.scopes.c.id)
                .where(t.client_scopes.c.client_pk == pk)
                .order_by(t.scopes.c.name)
            )
        ).all()
        return ClientFacts(
            client_pk=pk,
            client_id=client.client_id,
            enabled=bool(client.enabled),
            confidential=bool(client.confidential),
            grant_types=tuple(client.grant_types),
            secrets=tuple(
                SnapshotSecret(
                    id=s.id,
                    hash=s.secret_hash,
                    created_at=utc(s.created_at),
                    expires_at=utc_or_none(s.expires_at),
                    last_used_at=utc_or_none(s.last_used_at),
                )
                for s in secrets
            ),
            apps=tuple(
                AppFacts(
                    id=r.id,
                    slug=r.slug,
                    enabled=bool(r.enabled),
                    region=r.region or "",
                    db_code=r.db_code or "",
                    plan_code=r.plan_code if r.plan_id else None,
                    plan_retired=bool(r.plan_id)
                    and (r.plan_code is None or r.plan_status == PlanStatus.RETIRED.value),
                    entitlements=dict(r.plan_limits or {}),
                    service_codes=tuple(r.service_codes),
                    settings=dict(r.settings),
                    audiences=tuple(audiences.get(r.id, ())),
                )
                for r in app_rows
            ),
            roles=tuple(
                RoleFacts(
                    code=r.code, app_id=r.app_id, permissions=tuple(sorted(granted.get(r.id, ())))
                )
                for r in role_rows
            ),
            scopes=tuple((r.name, r.app_id) for r in scope_rows),
        )
