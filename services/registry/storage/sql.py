"""SQL implementation of the registry ports (SQLite and PostgreSQL through SQLAlchemy Core).

Database errors are translated here, once: a unique violation becomes AlreadyExists with the
reason of the constraint it broke; nothing above this module sees an IntegrityError.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database
from services.registry.domain.models import (
    App,
    AuditEvent,
    Client,
    ClientCredentials,
    ClientSecretRecord,
    NamedRef,
    PageOf,
    PageRequest,
    Plan,
    PlanStatus,
    Region,
    RegionDatabase,
    Settings,
    StorageConfig,
    Tenant,
    UserRecord,
)
from services.registry.storage import tables as t
from services.registry.storage.common import (
    SqlStorage,
    execute_unique,
    fetch_page,
    offset_page,
    utc,
    utc_or_none,
)

T = TypeVar("T")

_UNIQUE_REASONS = (
    # (fragment of the constraint name or SQLite column list, reason, message)
    ("display_name_key", "APP_NAME_TAKEN", "Another app of this tenant already has that name."),
    ("apps_tenant_id_slug", "APP_SLUG_TAKEN", "This tenant already has an app with that slug."),
    (
        "apps.tenant_id, apps.slug",
        "APP_SLUG_TAKEN",
        "This tenant already has an app with that slug.",
    ),
    ("tenants", "TENANT_SLUG_TAKEN", "A tenant with that slug already exists."),
    ("regions", "REGION_CODE_TAKEN", "A region with that code already exists."),
    ("region_databases", "DB_CODE_TAKEN", "The region already has a database with that code."),
    ("plans", "PLAN_CODE_TAKEN", "A plan with that code already exists."),
    ("clients", "CLIENT_ID_TAKEN", "A client with that client_id already exists."),
)


def new_id() -> str:
    return str(uuid.uuid4())


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _secret_record(row: Any, *, id_column: str = "id") -> ClientSecretRecord:
    return ClientSecretRecord(
        id=row[id_column],
        secret_hash=row["secret_hash"],
        created_at=utc(row["created_at"]),
        expires_at=utc_or_none(row["expires_at"]),
        last_used_at=utc_or_none(row["last_used_at"]),
    )


class SqlRegistryTx:
    """All registry ports over one connection (inside one transaction)."""

    def __init__(self, connection: AsyncConnection, for_update_supported: bool) -> None:
        self._c = connection
        self._for_update = for_update_supported

    async def _execute(self, statement: Any) -> Any:
        return await execute_unique(self._c, statement, _UNIQUE_REASONS)

    async def _page(
        self, statement: Select[Any], page: PageRequest, order: Sequence[Any]
    ) -> tuple[list[Row[Any]], int]:
        return await fetch_page(self._c, statement, page, order)

    # -- tenants ---------------------------------------------------------------------------

    @staticmethod
    def _tenant(row: Row[Any]) -> Tenant:
        m = row._mapping
        return Tenant(
            id=m["id"],
            slug=m["slug"],
            display_name=m["display_name"],
            app_limit=m["app_limit"],
            control_plane=m["control_plane"],
            settings=Settings(dict(m["settings"])),
            version=m["version"],
            created_at=utc(m["created_at"]),
            updated_at=utc(m["updated_at"]),
        )

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        statement = select(t.tenants).where(t.tenants.c.slug == slug)
        if for_update and self._for_update:
            statement = statement.with_for_update()
        row = (await self._c.execute(statement)).first()
        return self._tenant(row) if row else None

    async def get_tenant_by_id(self, tenant_id: str) -> Tenant | None:
        row = (await self._c.execute(select(t.tenants).where(t.tenants.c.id == tenant_id))).first()
        return self._tenant(row) if row else None

    async def list_tenants(self, page: PageRequest, query: str, order_by: str) -> PageOf[Tenant]:
        statement = select(t.tenants)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(t.tenants.c.slug).like(pattern),
                    func.lower(t.tenants.c.display_name).like(pattern),
                )
            )
        rows, total = await self._page(statement, page, _order(t.tenants, order_by, "slug"))
        return offset_page([self._tenant(r) for r in rows], total, page)

    async def insert_tenant(self, tenant: Tenant) -> None:
        await self._execute(
            insert(t.tenants).values(
                id=tenant.id,
                slug=tenant.slug,
                display_name=tenant.display_name,
                app_limit=tenant.app_limit,
                control_plane=tenant.control_plane,
                settings=tenant.settings.values,
                version=tenant.version,
                created_at=tenant.created_at,
                updated_at=tenant.updated_at,
            )
        )

    async def update_tenant(self, tenant: Tenant, expected_version: int) -> bool:
        result = await self._execute(
            update(t.tenants)
            .where(and_(t.tenants.c.id == tenant.id, t.tenants.c.version == expected_version))
            .values(
                display_name=tenant.display_name,
                app_limit=tenant.app_limit,
                settings=tenant.settings.values,
                version=tenant.version,
                updated_at=tenant.updated_at,
            )
        )
        return bool(result.rowcount == 1)

    # -- regions ---------------------------------------------------------------------------

    async def _region_from_row(self, row: Row[Any]) -> Region:
        m = row._mapping
        dbs = (
            await self._c.execute(
                select(t.region_databases)
                .where(t.region_databases.c.region_id == m["id"])
                .order_by(t.region_databases.c.position)
            )
        ).all()
        return Region(
            id=m["id"],
            code=m["code"],
            name=m["name"],
            active=m["active"],
            databases=tuple(
                RegionDatabase(d._mapping["db_code"], d._mapping["active"]) for d in dbs
            ),
            version=m["version"],
        )

    async def get_region(self, id_or_code: str) -> Region | None:
        row = (
            await self._c.execute(
                select(t.regions).where(
                    or_(t.regions.c.id == id_or_code, t.regions.c.code == id_or_code)
                )
            )
        ).first()
        return await self._region_from_row(row) if row else None

    async def list_regions(self, page: PageRequest, active: bool | None) -> PageOf[Region]:
        statement = select(t.regions)
        if active is not None:
            statement = statement.where(t.regions.c.active == active)
        rows, total = await self._page(statement, page, [t.regions.c.code])
        return offset_page([await self._region_from_row(r) for r in rows], total, page)

    async def insert_region(self, region: Region, at: datetime) -> None:
        await self._execute(
            insert(t.regions).values(
                id=region.id,
                code=region.code,
                name=region.name,
                active=region.active,
                version=region.version,
                created_at=at,
                updated_at=at,
            )
        )
        for position, database in enumerate(region.databases):
            await self._execute(
                insert(t.region_databases).values(
                    region_id=region.id,
                    db_code=database.db_code,
                    position=position,
                    active=database.active,
                    created_at=at,
                )
            )

    async def update_region(self, region: Region, expected_version: int, at: datetime) -> bool:
        result = await self._execute(
            update(t.regions)
            .where(and_(t.regions.c.id == region.id, t.regions.c.version == expected_version))
            .values(name=region.name, active=region.active, version=region.version, updated_at=at)
        )
        return bool(result.rowcount == 1)

    async def add_region_database(
        self, region_id: str, database: RegionDatabase, at: datetime
    ) -> None:
        last = (
            await self._c.execute(
                select(func.max(t.region_databases.c.position)).where(
                    t.region_databases.c.region_id == region_id
                )
            )
        ).scalar_one()
        await self._execute(
            insert(t.region_databases).values(
                region_id=region_id,
                db_code=database.db_code,
                position=0 if last is None else last + 1,
                active=database.active,
                created_at=at,
            )
        )
        await self._c.execute(
            update(t.regions)
            .where(t.regions.c.id == region_id)
            .values(version=t.regions.c.version + 1)
        )

    async def set_region_database_active(self, region_id: str, db_code: str, active: bool) -> bool:
        result = await self._c.execute(
            update(t.region_databases)
            .where(
                and_(
                    t.region_databases.c.region_id == region_id,
                    t.region_databases.c.db_code == db_code,
                )
            )
            .values(active=active)
        )
        await self._c.execute(
            update(t.regions)
            .where(t.regions.c.id == region_id)
            .values(version=t.regions.c.version + 1)
        )
        return bool(result.rowcount == 1)

    async def apps_using(
        self, *, region_id: str | None = None, plan_id: str | None = None
    ) -> list[str]:
        condition = t.apps.c.region_id == region_id if region_id else t.apps.c.plan_id == plan_id
        rows = await self._c.execute(
            select(t.tenants.c.slug, t.apps.c.slug)
            .join(t.tenants, t.tenants.c.id == t.apps.c.tenant_id)
            .where(condition)
            .order_by(t.tenants.c.slug, t.apps.c.slug)
        )
        return [f"app:{tenant}/{slug}" for tenant, slug in rows]

    async def delete_region(self, region_id: str) -> None:
        await self._c.execute(
            delete(t.region_databases).where(t.region_databases.c.region_id == region_id)
        )
        await self._c.execute(delete(t.regions).where(t.regions.c.id == region_id))

    async def delete_plan(self, plan_id: str) -> None:
        await self._c.execute(delete(t.plans).where(t.plans.c.id == plan_id))

    # -- plans -----------------------------------------------------------------------------

    @staticmethod
    def _plan(row: Row[Any]) -> Plan:
        m = row._mapping
        return Plan(
            id=m["id"],
            code=m["code"],
            name=m["name"],
            status=PlanStatus(m["status"]),
            limits={k: int(v) for k, v in dict(m["limits"]).items()},
            version=m["version"],
        )

    async def get_plan(self, id_or_code: str) -> Plan | None:
        row = (
            await self._c.execute(
                select(t.plans).where(or_(t.plans.c.id == id_or_code, t.plans.c.code == id_or_code))
            )
        ).first()
        return self._plan(row) if row else None

    async def list_plans(self, page: PageRequest, status: str | None) -> PageOf[Plan]:
        statement = select(t.plans)
        if status:
            statement = statement.where(t.plans.c.status == status)
        rows, total = await self._page(statement, page, [t.plans.c.code])
        return offset_page([self._plan(r) for r in rows], total, page)

    async def insert_plan(self, plan: Plan, at: datetime) -> None:
        await self._execute(
            insert(t.plans).values(
                id=plan.id,
                code=plan.code,
                name=plan.name,
                status=plan.status.value,
                limits=plan.limits,
                version=plan.version,
                created_at=at,
                updated_at=at,
            )
        )

    async def update_plan(self, plan: Plan, expected_version: int, at: datetime) -> bool:
        result = await self._execute(
            update(t.plans)
            .where(and_(t.plans.c.id == plan.id, t.plans.c.version == expected_version))
            .values(
                name=plan.name,
                status=plan.status.value,
                limits=plan.limits,
                version=plan.version,
                updated_at=at,
            )
        )
        return bool(result.rowcount == 1)

    # -- apps ------------------------------------------------------------------------------

    def _apps_query(self) -> Select[Any]:
        return (
            select(
                t.apps, t.tenants.c.slug.label("tenant_slug"), t.regions.c.code.label("region_code")
            )
            .join(t.tenants, t.tenants.c.id == t.apps.c.tenant_id)
            .outerjoin(t.regions, t.regions.c.id == t.apps.c.region_id)
        )

    async def _app(self, row: Row[Any], *, with_client_ids: bool = True) -> App:
        m = row._mapping
        client_rows = (
            (
                await self._c.execute(
                    select(t.clients.c.client_id)
                    .join(t.client_apps, t.client_apps.c.client_pk == t.clients.c.id)
                    .where(t.client_apps.c.app_id == m["id"])
                    .order_by(t.clients.c.created_at)
                )
            ).all()
            if with_client_ids
            else []
        )
        storage = m["storage"]
        return App(
            id=m["id"],
            tenant_id=m["tenant_id"],
            tenant_slug=m["tenant_slug"],
            slug=m["slug"],
            display_name=m["display_name"],
            description=m["description"],
            enabled=m["enabled"],
            is_system=m["is_system"],
            region_id=m["region_id"],
            region_code=m["region_code"],
            db_code=m["db_code"],
            plan_id=m["plan_id"],
            redirect_uris=tuple(m["redirect_uris"]),
            post_logout_redirect_uris=tuple(m["post_logout_redirect_uris"]),
            allowed_domains=tuple(
                d
                for d in (m["allowed_domain_1"], m["allowed_domain_2"], m["allowed_domain_3"])
                if d
            ),
            auto_grant_on_signup=m["auto_grant_on_signup"],
            service_codes=tuple(m["service_codes"]),
            grant_types=tuple(m["grant_types"]),
            storage=StorageConfig(**storage) if storage else None,
            settings=Settings(dict(m["settings"])),
            client_ids=tuple(r[0] for r in client_rows),
            version=m["version"],
            created_at=utc(m["created_at"]),
            updated_at=utc(m["updated_at"]),
        )

    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None:
        row = (
            await self._c.execute(
                self._apps_query().where(
                    and_(
                        t.apps.c.tenant_id == tenant_id,
                        or_(t.apps.c.id == id_or_slug, t.apps.c.slug == id_or_slug),
                    )
                )
            )
        ).first()
        return await self._app(row) if row else None

    async def get_app_by_id(self, app_id: str, *, with_client_ids: bool = True) -> App | None:
        row = (await self._c.execute(self._apps_query().where(t.apps.c.id == app_id))).first()
        return await self._app(row, with_client_ids=with_client_ids) if row else None

    async def list_apps(
        self, tenant_id: str, page: PageRequest, enabled: bool | None, query: str, order_by: str
    ) -> PageOf[App]:
        statement = self._apps_query().where(t.apps.c.tenant_id == tenant_id)
        if enabled is not None:
            statement = statement.where(t.apps.c.enabled == enabled)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(
                or_(t.apps.c.slug.like(pattern), t.apps.c.display_name_key.like(pattern))
            )
        rows, total = await self._page(statement, page, _order(t.apps, order_by, "slug"))
        return offset_page([await self._app(r) for r in rows], total, page)

    async def count_apps(self, tenant_id: str) -> int:
        result = await self._c.execute(
            select(func.count())
            .select_from(t.apps)
            .where(and_(t.apps.c.tenant_id == tenant_id, t.apps.c.is_system.is_(False)))
        )
        return int(result.scalar_one())

    async def display_name_taken(
        self, tenant_id: str, key: str, exclude_app_id: str | None
    ) -> bool:
        statement = select(t.apps.c.id).where(
            and_(t.apps.c.tenant_id == tenant_id, t.apps.c.display_name_key == key)
        )
        if exclude_app_id:
            statement = statement.where(t.apps.c.id != exclude_app_id)
        return (await self._c.execute(statement)).first() is not None

    @staticmethod
    def _app_values(app: App) -> dict[str, Any]:
        from services.registry.domain.rules import display_name_key

        domains = [*app.allowed_domains, None, None, None]
        storage = app.storage
        return {
            "display_name": app.display_name,
            "display_name_key": display_name_key(app.display_name),
            "description": app.description,
            "enabled": app.enabled,
            "region_id": app.region_id,
            "db_code": app.db_code,
            "plan_id": app.plan_id,
            "redirect_uris": list(app.redirect_uris),
            "post_logout_redirect_uris": list(app.post_logout_redirect_uris),
            "allowed_domain_1": domains[0],
            "allowed_domain_2": domains[1],
            "allowed_domain_3": domains[2],
            "auto_grant_on_signup": app.auto_grant_on_signup,
            "service_codes": list(app.service_codes),
            "grant_types": list(app.grant_types),
            "storage": None
            if storage is None
            else {
                "provider": storage.provider,
                "access_key_ciphertext": storage.access_key_ciphertext,
                "secret_key_ciphertext": storage.secret_key_ciphertext,
                "access_key_hint": storage.access_key_hint,
                "bucket": storage.bucket,
                "endpoint": storage.endpoint,
                "region": storage.region,
            },
            "settings": app.settings.values,
            "version": app.version,
            "updated_at": app.updated_at,
        }

    async def insert_app(self, app: App) -> None:
        await self._execute(
            insert(t.apps).values(
                id=app.id,
                tenant_id=app.tenant_id,
                slug=app.slug,
                is_system=app.is_system,
                created_at=app.created_at,
                **self._app_values(app),
            )
        )

    async def update_app(self, app: App, expected_version: int) -> bool:
        result = await self._execute(
            update(t.apps)
            .where(and_(t.apps.c.id == app.id, t.apps.c.version == expected_version))
            .values(**self._app_values(app))
        )
        return bool(result.rowcount == 1)

    async def delete_app(self, app_id: str) -> None:
        """Memberships and group bindings belong to the app and go with it; everything that
        could block deletion was checked by app_blockers first."""
        await self._c.execute(delete(t.memberships).where(t.memberships.c.app_id == app_id))
        await self._c.execute(delete(t.group_apps).where(t.group_apps.c.app_id == app_id))
        await self._c.execute(delete(t.apps).where(t.apps.c.id == app_id))

    async def app_blockers(self, app_id: str) -> list[str]:
        blockers: list[str] = []
        for (client_id,) in (
            await self._c.execute(
                select(t.clients.c.client_id)
                .join(t.client_apps, t.client_apps.c.client_pk == t.clients.c.id)
                .where(t.client_apps.c.app_id == app_id)
                .order_by(t.clients.c.client_id)
            )
        ).all():
            blockers.append(f"client:{client_id}")
        for (code,) in (
            await self._c.execute(
                select(t.roles.c.code).where(t.roles.c.app_id == app_id).order_by(t.roles.c.code)
            )
        ).all():
            blockers.append(f"role:{code}")
        for (name,) in (
            await self._c.execute(
                select(t.scopes.c.name).where(t.scopes.c.app_id == app_id).order_by(t.scopes.c.name)
            )
        ).all():
            blockers.append(f"scope:{name}")
        for (audience,) in (
            await self._c.execute(
                select(t.resource_servers.c.audience)
                .where(t.resource_servers.c.app_id == app_id)
                .order_by(t.resource_servers.c.audience)
            )
        ).all():
            blockers.append(f"resource_server:{audience}")
        return blockers

    # -- clients ---------------------------------------------------------------------------

    async def insert_client(self, client: Client, at: datetime) -> None:
        await self._execute(
            insert(t.clients).values(
                id=client.id,
                tenant_id=client.tenant_id,
                client_id=client.client_id,
                display_name=client.display_name,
                confidential=client.confidential,
                enabled=client.enabled,
                grant_types=list(client.grant_types),
                description=client.description,
                version=client.version,
                created_at=at,
                updated_at=at,
            )
        )

    async def link_client_app(self, client_pk: str, app_id: str) -> None:
        await self._execute(insert(t.client_apps).values(client_pk=client_pk, app_id=app_id))

    async def get_client(self, client_id: str) -> Client | None:
        row = (
            await self._c.execute(select(t.clients).where(t.clients.c.client_id == client_id))
        ).first()
        if row is None:
            return None
        m = row._mapping
        app_ids = (
            (
                await self._c.execute(
                    select(t.client_apps.c.app_id).where(t.client_apps.c.client_pk == m["id"])
                )
            )
            .scalars()
            .all()
        )
        return Client(
            id=m["id"],
            tenant_id=m["tenant_id"],
            client_id=m["client_id"],
            display_name=m["display_name"],
            confidential=m["confidential"],
            enabled=m["enabled"],
            grant_types=tuple(m["grant_types"]),
            app_ids=tuple(app_ids),
            version=m["version"],
            description=m["description"],
        )

    async def client_credentials(self, client_id: str) -> ClientCredentials | None:
        rows = (
            await self._c.execute(
                select(
                    t.clients.c.id,
                    t.clients.c.enabled,
                    t.clients.c.confidential,
                    t.tenants.c.slug,
                    t.client_secrets.c.id.label("secret_id"),
                    t.client_secrets.c.secret_hash,
                    t.client_secrets.c.created_at,
                    t.client_secrets.c.expires_at,
                    t.client_secrets.c.last_used_at,
                )
                .join(t.tenants, t.tenants.c.id == t.clients.c.tenant_id)
                .outerjoin(t.client_secrets, t.client_secrets.c.client_pk == t.clients.c.id)
                .where(t.clients.c.client_id == client_id)
                .order_by(t.client_secrets.c.created_at.desc())
            )
        ).all()
        if not rows:
            return None
        first = rows[0]._mapping
        return ClientCredentials(
            client_pk=first["id"],
            tenant_slug=first["slug"],
            enabled=first["enabled"],
            confidential=first["confidential"],
            secrets=tuple(
                _secret_record(m, id_column="secret_id")
                for m in (r._mapping for r in rows)
                if m["secret_id"] is not None
            ),
        )

    async def client_secrets(self, client_pk: str) -> list[ClientSecretRecord]:
        rows = (
            await self._c.execute(
                select(t.client_secrets)
                .where(t.client_secrets.c.client_pk == client_pk)
                .order_by(t.client_secrets.c.created_at.desc())
            )
        ).all()
        return [_secret_record(r._mapping) for r in rows]

    async def insert_client_secret(self, client_pk: str, record: ClientSecretRecord) -> None:
        await self._execute(
            insert(t.client_secrets).values(
                id=record.id,
                client_pk=client_pk,
                secret_hash=record.secret_hash,
                created_at=record.created_at,
                expires_at=record.expires_at,
                last_used_at=None,
            )
        )

    async def retire_client_secrets(
        self, client_pk: str, keep: str | None, keep_until: datetime | None
    ) -> None:
        others = [t.client_secrets.c.client_pk == client_pk]
        if keep is not None:
            others.append(t.client_secrets.c.id != keep)
        await self._c.execute(delete(t.client_secrets).where(and_(*others)))
        if keep is not None and keep_until is not None:
            await self._c.execute(
                update(t.client_secrets)
                .where(
                    and_(
                        t.client_secrets.c.id == keep,
                        or_(
                            t.client_secrets.c.expires_at.is_(None),
                            t.client_secrets.c.expires_at > keep_until,
                        ),
                    )
                )
                .values(expires_at=keep_until)
            )

    async def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        await self._c.execute(
            update(t.client_secrets)
            .where(t.client_secrets.c.id == secret_id)
            .values(last_used_at=at)
        )

    async def replace_secret_hash(self, secret_id: str, secret_hash: str) -> None:
        await self._c.execute(
            update(t.client_secrets)
            .where(t.client_secrets.c.id == secret_id)
            .values(secret_hash=secret_hash)
        )

    async def delete_client(self, client_pk: str) -> None:
        for link in (t.client_secrets, t.client_apps, t.client_roles, t.client_scopes):
            await self._c.execute(delete(link).where(link.c.client_pk == client_pk))
        await self._c.execute(delete(t.clients).where(t.clients.c.id == client_pk))

    async def list_clients(
        self, tenant_id: str, page: PageRequest, app_id: str | None
    ) -> PageOf[Client]:
        statement = select(t.clients.c.client_id).where(t.clients.c.tenant_id == tenant_id)
        if app_id is not None:
            statement = statement.join(
                t.client_apps, t.client_apps.c.client_pk == t.clients.c.id
            ).where(t.client_apps.c.app_id == app_id)
        rows, total = await self._page(statement, page, [t.clients.c.client_id])
        clients = [c for c in [await self.get_client(r[0]) for r in rows] if c is not None]
        return offset_page(clients, total, page)

    async def update_client(self, client: Client, expected_version: int, at: datetime) -> bool:
        result = await self._execute(
            update(t.clients)
            .where(and_(t.clients.c.id == client.id, t.clients.c.version == expected_version))
            .values(
                display_name=client.display_name,
                description=client.description,
                enabled=client.enabled,
                grant_types=list(client.grant_types),
                version=client.version,
                updated_at=at,
            )
        )
        return bool(result.rowcount == 1)

    async def _replace_links(self, table: Any, client_pk: str, column: str, ids: list[str]) -> None:
        await self._c.execute(delete(table).where(table.c.client_pk == client_pk))
        if ids:
            await self._c.execute(
                insert(table), [{"client_pk": client_pk, column: i} for i in dict.fromkeys(ids)]
            )

    async def set_client_apps(self, client_pk: str, app_ids: list[str]) -> None:
        await self._replace_links(t.client_apps, client_pk, "app_id", app_ids)

    async def set_client_scopes(self, client_pk: str, scope_ids: list[str]) -> None:
        await self._replace_links(t.client_scopes, client_pk, "scope_id", scope_ids)

    async def set_client_roles(self, client_pk: str, role_ids: list[str]) -> None:
        await self._replace_links(t.client_roles, client_pk, "role_id", role_ids)

    async def client_scopes(self, client_pk: str) -> list[NamedRef]:
        rows = (
            await self._c.execute(
                select(t.scopes.c.id, t.scopes.c.name, t.scopes.c.app_id)
                .join(t.client_scopes, t.client_scopes.c.scope_id == t.scopes.c.id)
                .where(t.client_scopes.c.client_pk == client_pk)
                .order_by(t.scopes.c.name)
            )
        ).all()
        return [NamedRef(r[0], r[1], r[2]) for r in rows]

    async def client_roles(self, client_pk: str) -> list[NamedRef]:
        rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code, t.roles.c.app_id)
                .join(t.client_roles, t.client_roles.c.role_id == t.roles.c.id)
                .where(t.client_roles.c.client_pk == client_pk)
                .order_by(t.roles.c.code)
            )
        ).all()
        return [NamedRef(r[0], r[1], r[2]) for r in rows]

    async def scopes_named(self, tenant_id: str, names: list[str]) -> dict[str, NamedRef]:
        rows = (
            await self._c.execute(
                select(t.scopes.c.id, t.scopes.c.name, t.scopes.c.app_id).where(
                    and_(t.scopes.c.tenant_id == tenant_id, t.scopes.c.name.in_(names))
                )
            )
        ).all()
        return {r[1]: NamedRef(r[0], r[1], r[2]) for r in rows}

    async def roles_coded(self, tenant_id: str, codes: list[str]) -> dict[str, NamedRef]:
        rows = (
            await self._c.execute(
                select(t.roles.c.id, t.roles.c.code, t.roles.c.app_id).where(
                    and_(t.roles.c.tenant_id == tenant_id, t.roles.c.code.in_(codes))
                )
            )
        ).all()
        return {r[1]: NamedRef(r[0], r[1], r[2]) for r in rows}

    async def role_grants(self, role_ids: list[str]) -> list[tuple[str, str]]:
        if not role_ids:
            return []
        rows = await self._c.execute(
            select(t.permissions.c.service_code, t.permissions.c.code)
            .join(t.role_permissions, t.role_permissions.c.permission_id == t.permissions.c.id)
            .where(t.role_permissions.c.role_id.in_(role_ids))
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # -- resolution ------------------------------------------------------------------------

    async def get_user(self, tenant_id: str, user_id: str) -> UserRecord | None:
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
        self, tenant_id: str, user_id: str, app_id: str, service_codes: list[str]
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
                    t.permissions.c.service_code.in_(service_codes),
                )
            )
        )
        core = select(t.permissions.c.code).where(
            and_(t.permissions.c.tenant_id == tenant_id, t.permissions.c.service_code == "core")
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

    # -- catalog ---------------------------------------------------------------------------

    async def upsert_permission(
        self,
        tenant_id: str,
        service_code: str,
        code: str,
        name: str,
        at: datetime,
        *,
        description: str = "",
    ) -> str:
        """Insert the entry, or refresh its name and description and make it live again."""
        existing = (
            await self._c.execute(
                select(t.permissions.c.id).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code == service_code,
                        t.permissions.c.code == code,
                    )
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            await self._c.execute(
                update(t.permissions)
                .where(t.permissions.c.id == existing)
                .values(name=name, description=description, updated_at=at, deprecated_at=None)
            )
            return str(existing)
        permission_id = new_id()
        await self._execute(
            insert(t.permissions).values(
                id=permission_id,
                tenant_id=tenant_id,
                service_code=service_code,
                code=code,
                name=name,
                description=description,
                created_at=at,
            )
        )
        return permission_id

    async def permission_ids(self, tenant_id: str, service_codes: list[str]) -> dict[str, str]:
        rows = (
            await self._c.execute(
                select(t.permissions.c.code, t.permissions.c.id).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code.in_(service_codes),
                    )
                )
            )
        ).all()
        return {r[0]: r[1] for r in rows}

    async def upsert_role(
        self, tenant_id: str, app_id: str | None, code: str, name: str, at: datetime
    ) -> str:
        existing = (
            await self._c.execute(
                select(t.roles.c.id).where(
                    and_(t.roles.c.tenant_id == tenant_id, t.roles.c.code == code)
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return str(existing)
        role_id = new_id()
        await self._execute(
            insert(t.roles).values(
                id=role_id, tenant_id=tenant_id, app_id=app_id, code=code, name=name, created_at=at
            )
        )
        return role_id

    async def grant_role_permissions(self, role_id: str, permission_ids: list[str]) -> None:
        granted = set(
            (
                await self._c.execute(
                    select(t.role_permissions.c.permission_id).where(
                        t.role_permissions.c.role_id == role_id
                    )
                )
            ).scalars()
        )
        missing = [p for p in permission_ids if p not in granted]
        if missing:
            await self._c.execute(
                insert(t.role_permissions),
                [{"role_id": role_id, "permission_id": p} for p in missing],
            )

    async def assign_client_role(self, client_pk: str, role_id: str) -> None:
        exists = (
            await self._c.execute(
                select(t.client_roles).where(
                    and_(
                        t.client_roles.c.client_pk == client_pk, t.client_roles.c.role_id == role_id
                    )
                )
            )
        ).first()
        if exists is None:
            await self._c.execute(
                insert(t.client_roles).values(client_pk=client_pk, role_id=role_id)
            )

    async def copy_catalog(
        self, tenant_id: str, source_service: str, target_service: str, at: datetime
    ) -> int:
        """Copy the live entries (not deprecated ones) as new rows with fresh ids, so the
        source's role grants and resource-server subsets stay the source's."""
        rows = (
            await self._c.execute(
                select(
                    t.permissions.c.code, t.permissions.c.name, t.permissions.c.description
                ).where(
                    and_(
                        t.permissions.c.tenant_id == tenant_id,
                        t.permissions.c.service_code == source_service,
                        t.permissions.c.deprecated_at.is_(None),
                    )
                )
            )
        ).all()
        for code, name, description in rows:
            # Upsert: a deleted app's slug may be reused, and its old catalog is still there.
            await self.upsert_permission(
                tenant_id, target_service, code, name, at, description=description
            )
        return len(rows)

    async def client_roles_and_permissions(
        self, client_pk: str, app_id: str, service_codes: list[str]
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
                            t.permissions.c.service_code.in_(service_codes),
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
        return sorted(r[1] for r in role_rows), sorted(permission_rows)

    async def lock_bootstrap(self) -> None:
        if self._for_update:
            # Any fixed 64-bit key: it only has to be the same in every registry replica.
            await self._c.execute(select(func.pg_advisory_xact_lock(0x7E55E7A)))

    # -- audit -----------------------------------------------------------------------------

    async def insert_audit(self, event: AuditEvent) -> None:
        await self._c.execute(
            insert(t.audit_events).values(
                id=event.id,
                tenant_id=event.tenant_id,
                actor_type=event.actor_type,
                actor_id=event.actor_id,
                actor_tenant=event.actor_tenant,
                action=event.action,
                target_type=event.target_type,
                target_id=event.target_id,
                occurred_at=event.occurred_at,
                details=event.details,
            )
        )

    async def list_audit(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        statement = select(t.audit_events, t.tenants.c.slug.label("tenant_slug")).outerjoin(
            t.tenants, t.tenants.c.id == t.audit_events.c.tenant_id
        )
        if tenant_id is not None:
            statement = statement.where(t.audit_events.c.tenant_id == tenant_id)
        if action:
            statement = statement.where(t.audit_events.c.action == action)
        if target_id:
            statement = statement.where(t.audit_events.c.target_id == target_id)
        rows, total = await self._page(
            statement, page, [t.audit_events.c.occurred_at.desc(), t.audit_events.c.id]
        )
        events = [
            AuditEvent(
                id=m["id"],
                tenant_id=m["tenant_id"],
                tenant_slug=m["tenant_slug"] or "",
                actor_type=m["actor_type"],
                actor_id=m["actor_id"],
                actor_tenant=m["actor_tenant"],
                action=m["action"],
                target_type=m["target_type"],
                target_id=m["target_id"],
                occurred_at=utc(m["occurred_at"]),
                details=dict(m["details"]),
            )
            for m in (r._mapping for r in rows)
        ]
        return offset_page(events, total, page)


def _order(table: Any, order_by: str, default: str) -> list[Any]:
    """Translate ``name`` / ``-name`` into ORDER BY; unknown names are refused earlier."""
    descending = order_by.startswith("-")
    name = order_by.lstrip("-") or default
    column = table.c[name]
    return [column.desc() if descending else column.asc(), table.c.id]


class SqlRegistryStorage(SqlStorage[SqlRegistryTx]):
    """The registry core's unit of work."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, SqlRegistryTx)
