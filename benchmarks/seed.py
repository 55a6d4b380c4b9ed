"""Seeding a tenant of any size in seconds: bulk inserts into the registry's own tables
(services.registry.schema), in the database ``tessera serve`` uses, while it is stopped.

Creating 10,000 apps and 100,000 users through the REST API would take most of an hour, so
the rows are written directly, in one transaction, shaped as the registry's stores write them
(services/registry/*/sql.py): an app row through ``apps.rows.insert_columns``; every app with
its own confidential client (``clients``, ``client_apps``, ``client_secrets``), as creating an
app does; client secrets as keyed hashes under the pepper ``tessera serve`` uses (its
dev-secrets.json), so the clients authenticate. The tenant itself is created over the REST API
first, so it has its keys, its system app and its admin client like any other. The seed bumps
the tenant's snapshot version (``snapshot_versions``) as every registry write does.

The shape of a seeded tenant (the same for every size, so only the size differs):

* apps: ``orders`` (the measured one) and ``app-00001`` ... ; each serves its own slug as
  service code and has its own client;
* permissions: 50 in the ``orders`` catalog, the rest spread over the other apps' catalogs
  (one ``permission_catalogs`` row per catalog);
* roles: ``orders-operator`` (bound to ``orders``, granting all 50) and one role per other app
  with a catalog, granting that catalog;
* users: each active, with one role and one active app membership;
* measured clients of ``orders``, all with ``orders-operator``: the app's own client (the warm
  one) and ``cold_clients`` more that nothing uses before the measurement.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import JSON, Table, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database, schema_name
from services.common.hashing import (
    CLIENT_SECRET_PREFIX,
    SecretHasher,
    generate_client_id,
    generate_secret,
)
from services.common.settings import Settings
from services.registry import schema as t
from services.registry.apps.models import App
from services.registry.apps.rows import insert_columns
from services.registry.kernel.models import Settings as AppSettings

MEASURED_APP = "orders"
MEASURED_ROLE = "orders-operator"
CHUNK = 5_000  # rows per executemany: bounded memory and statement size on both backends


@dataclass(frozen=True)
class Shape:
    apps: int
    users: int
    permissions: int
    cold_clients: int
    role_permissions: int = 50  # what the measured clients' role grants in ``orders``

    def __post_init__(self) -> None:
        if self.apps < 2 or self.permissions < self.role_permissions or self.users < 1:
            raise ValueError(
                f"a tenant needs at least 2 apps, 1 user and {self.role_permissions} "
                f"permissions; got {self}"
            )


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class SeededTenant:
    slug: str
    shape: Shape
    warm: Credentials
    cold: tuple[Credentials, ...]
    permissions: frozenset[str]  # what the measured clients' tokens for ``orders`` must carry
    rows: int
    seconds: float


async def seed_tenant(
    settings: Settings, hasher: SecretHasher, tenant_slug: str, region_code: str, shape: Shape
) -> SeededTenant:
    """Fill the existing tenant ``tenant_slug`` to ``shape`` (one transaction). Side effects:
    the rows above; the tenant's app limit raised to hold its apps; its snapshot version
    bumped."""
    started = time.perf_counter()
    database = Database(settings, "registry")
    try:
        async with database.transaction() as connection:
            plan = await _Plan.build(connection, hasher, tenant_slug, region_code, shape)
            schema = schema_name(settings, "registry")
            for table, rows in plan.tables():
                await _insert(connection, table, rows, schema)
            await connection.execute(
                update(t.tenants)
                .where(t.tenants.c.id == plan.tenant_id)
                .values(
                    app_limit=shape.apps + 25,
                    version=t.tenants.c.version + 1,
                    updated_at=plan.now,
                )
            )
            await _bump_version(connection, database.dialect, tenant_slug)
    finally:
        await database.dispose()
    return SeededTenant(
        slug=tenant_slug,
        shape=shape,
        warm=plan.warm,
        cold=tuple(plan.cold),
        permissions=frozenset(plan.measured_permissions),
        rows=plan.row_count,
        seconds=time.perf_counter() - started,
    )


async def _insert(
    connection: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], schema: str | None
) -> None:
    """SQLite: executemany (sqlite3 loops in C). PostgreSQL: COPY, the only bulk path there
    that is not dominated by per-row round trips or by compiling huge statements; the column
    names come from the registry's table, the rows go in within the seed's transaction."""
    if not rows:
        return
    if schema is None:
        for start in range(0, len(rows), CHUNK):
            await connection.execute(insert(table), list(rows[start : start + CHUNK]))
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    as_json = {c.name for c in columns if isinstance(c.type, JSON)}
    statement = pgsql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        pgsql.Identifier(schema),
        pgsql.Identifier(table.name),
        pgsql.SQL(", ").join(pgsql.Identifier(c.name) for c in columns),
    )
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, psycopg.AsyncConnection)
    async with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row(
                [
                    json.dumps(row[c.name])
                    if c.name in as_json and row[c.name] is not None
                    else row[c.name]
                    for c in columns
                ]
            )


async def _bump_version(connection: AsyncConnection, dialect: str, scope: str) -> None:
    """As services.registry.kernel.versions.SqlVersionStore.bump: what a token may carry
    changed, so snapshots read before are stale (``tessera serve`` re-announces the committed
    versions when it starts)."""
    table = t.snapshot_versions
    upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    await connection.execute(
        upsert.values(scope=scope, version=1).on_conflict_do_update(
            index_elements=[table.c.scope], set_={"version": table.c.version + 1}
        )
    )


def _id() -> str:
    return str(uuid.uuid4())


class _Plan:
    """Every row of one seed, computed before anything is written."""

    def __init__(self, tenant_id: str, region_id: str, db_code: str, hasher: SecretHasher) -> None:
        self.tenant_id = tenant_id
        self.region_id = region_id
        self.db_code = db_code
        self.hasher = hasher
        self.now = datetime.now(UTC)
        self.apps: list[dict[str, Any]] = []
        self.clients: list[dict[str, Any]] = []
        self.client_apps: list[dict[str, Any]] = []
        self.client_secrets: list[dict[str, Any]] = []
        self.client_roles: list[dict[str, Any]] = []
        self.permissions: list[dict[str, Any]] = []
        self.catalogs: list[dict[str, Any]] = []
        self.roles: list[dict[str, Any]] = []
        self.role_permissions: list[dict[str, Any]] = []
        self.users: list[dict[str, Any]] = []
        self.user_roles: list[dict[str, Any]] = []
        self.memberships: list[dict[str, Any]] = []
        self.measured_permissions: list[str] = []
        self.warm = Credentials("", "")
        self.cold: list[Credentials] = []

    @classmethod
    async def build(
        cls,
        connection: AsyncConnection,
        hasher: SecretHasher,
        tenant_slug: str,
        region_code: str,
        shape: Shape,
    ) -> _Plan:
        tenant_id = (
            await connection.execute(select(t.tenants.c.id).where(t.tenants.c.slug == tenant_slug))
        ).scalar_one_or_none()
        if tenant_id is None:
            raise LookupError(
                f"tenant {tenant_slug!r} does not exist; create it over the API first"
            )
        region = (
            await connection.execute(
                select(t.regions.c.id, t.region_databases.c.db_code)
                .join(t.region_databases, t.region_databases.c.region_id == t.regions.c.id)
                .where(and_(t.regions.c.code == region_code, t.region_databases.c.active.is_(True)))
                .order_by(t.region_databases.c.position)
            )
        ).first()
        if region is None:
            raise LookupError(f"region {region_code!r} with an active database does not exist")
        plan = cls(str(tenant_id), str(region[0]), str(region[1]), hasher)
        plan._fill(tenant_slug, shape)
        return plan

    def _fill(self, tenant_slug: str, shape: Shape) -> None:
        slugs = [MEASURED_APP, *(f"app-{i:05d}" for i in range(1, shape.apps))]
        app_ids = [self._app(tenant_slug, slug) for slug in slugs]
        own_clients = [
            self._client(app_id, f"{slug} client")
            for app_id, slug in zip(app_ids, slugs, strict=True)
        ]

        # Permissions: 50 for the measured app, the rest round-robin over the other apps.
        catalog: dict[int, list[str]] = {0: []}
        for k in range(shape.role_permissions):
            code = f"resource-{k:02d}:read"
            catalog[0].append(self._permission(MEASURED_APP, code))
            self.measured_permissions.append(code)
        for j in range(shape.permissions - shape.role_permissions):
            app = 1 + j % (shape.apps - 1)
            catalog.setdefault(app, []).append(self._permission(slugs[app], f"item-{j}:read"))
        for app in catalog:
            self.catalogs.append(
                {
                    "tenant_id": self.tenant_id,
                    "service_code": slugs[app],
                    "revision": 1,
                    "updated_at": self.now,
                }
            )

        # Roles: the measured one, then one per other catalog.
        role_ids = [self._role(app_ids[0], MEASURED_ROLE, catalog[0])]
        role_ids += [
            self._role(app_ids[app], f"{slugs[app]}-user", granted)
            for app, granted in catalog.items()
            if app != 0
        ]

        self._users(tenant_slug, shape.users, role_ids, app_ids)

        # Measured clients: the app's own (warm) and the cold ones, all with the measured role.
        warm_pk, self.warm = own_clients[0]
        measured = [warm_pk]
        for n in range(shape.cold_clients):
            pk, credentials = self._client(app_ids[0], f"cold client {n}")
            measured.append(pk)
            self.cold.append(credentials)
        self.client_roles = [{"client_pk": pk, "role_id": role_ids[0]} for pk in measured]

    def _app(self, tenant_slug: str, slug: str) -> str:
        app = App(
            id=_id(),
            tenant_id=self.tenant_id,
            tenant_slug=tenant_slug,
            slug=slug,
            display_name=slug.replace("-", " ").title(),
            description="",
            enabled=True,
            is_system=False,
            region_id=self.region_id,
            region_code=None,
            db_code=self.db_code,
            plan_id=None,
            redirect_uris=(),
            post_logout_redirect_uris=(),
            allowed_domains=(),
            auto_grant_on_signup=False,
            service_codes=(slug,),
            grant_types=("client_credentials",),
            storage=None,
            settings=AppSettings({}),
            client_ids=(),
            version=1,
            created_at=self.now,
            updated_at=self.now,
        )
        self.apps.append(insert_columns(app))
        return app.id

    def _client(self, app_id: str, display_name: str) -> tuple[str, Credentials]:
        pk, client_id, secret = _id(), generate_client_id(), generate_secret(CLIENT_SECRET_PREFIX)
        self.clients.append(
            {
                "id": pk,
                "tenant_id": self.tenant_id,
                "client_id": client_id,
                "display_name": display_name,
                "confidential": True,
                "enabled": True,
                "grant_types": ["client_credentials"],
                "description": "",
                "version": 1,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        self.client_apps.append({"client_pk": pk, "app_id": app_id})
        self.client_secrets.append(
            {
                "id": _id(),
                "client_pk": pk,
                "secret_hash": self.hasher.hash(secret),
                "created_at": self.now,
                "expires_at": None,
                "last_used_at": None,
            }
        )
        return pk, Credentials(client_id, secret)

    def _permission(self, service_code: str, code: str) -> str:
        permission_id = _id()
        self.permissions.append(
            {
                "id": permission_id,
                "tenant_id": self.tenant_id,
                "service_code": service_code,
                "code": code,
                "name": code,
                "description": "",
                "created_at": self.now,
                "updated_at": None,
                "deprecated_at": None,
            }
        )
        return permission_id

    def _role(self, app_id: str, code: str, permission_ids: Iterable[str]) -> str:
        role_id = _id()
        self.roles.append(
            {
                "id": role_id,
                "tenant_id": self.tenant_id,
                "app_id": app_id,
                "code": code,
                "name": code,
                "description": "",
                "created_at": self.now,
            }
        )
        self.role_permissions += [{"role_id": role_id, "permission_id": p} for p in permission_ids]
        return role_id

    def _users(self, tenant_slug: str, count: int, role_ids: list[str], app_ids: list[str]) -> None:
        for n in range(count):
            user_id = _id()
            email = f"user{n:06d}@{tenant_slug}.example"
            self.users.append(
                {
                    "id": user_id,
                    "tenant_id": self.tenant_id,
                    "email": email,
                    "email_key": email,
                    "email_verified": True,
                    "first_name": None,
                    "last_name": None,
                    "username": None,
                    "password_hash": None,
                    "status": "active",
                    "token_version": 1,
                    "version": 1,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
            self.user_roles.append({"user_id": user_id, "role_id": role_ids[n % len(role_ids)]})
            self.memberships.append(
                {
                    "user_id": user_id,
                    "app_id": app_ids[n % len(app_ids)],
                    "status": "active",
                    "granted_at": self.now,
                    "granted_by": "make bench seed",
                    "revoked_at": None,
                }
            )

    def tables(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        """The rows per table, in foreign-key order."""
        return [
            (t.apps, self.apps),
            (t.clients, self.clients),
            (t.client_apps, self.client_apps),
            (t.client_secrets, self.client_secrets),
            (t.permission_catalogs, self.catalogs),
            (t.permissions, self.permissions),
            (t.roles, self.roles),
            (t.role_permissions, self.role_permissions),
            (t.client_roles, self.client_roles),
            (t.users, self.users),
            (t.user_roles, self.user_roles),
            (t.memberships, self.memberships),
        ]

    @property
    def row_count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())
