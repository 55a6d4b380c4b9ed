"""The storage the registry domain needs, as narrow Protocols (STYLE habit 2).

One transaction exposes every port (``RegistryTx``); the SQL implementation lives in
``services.registry.storage.sql``. Methods never commit: the unit of work does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

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
    Region,
    RegionDatabase,
    Tenant,
    UserRecord,
)


class TenantStore(Protocol):
    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None: ...
    async def get_tenant_by_id(self, tenant_id: str) -> Tenant | None: ...
    async def list_tenants(
        self, page: PageRequest, query: str, order_by: str
    ) -> PageOf[Tenant]: ...
    async def insert_tenant(self, tenant: Tenant) -> None: ...
    async def update_tenant(self, tenant: Tenant, expected_version: int) -> bool: ...


class RegionStore(Protocol):
    async def get_region(self, id_or_code: str) -> Region | None: ...
    async def list_regions(self, page: PageRequest, active: bool | None) -> PageOf[Region]: ...
    async def insert_region(self, region: Region, at: datetime) -> None: ...
    async def update_region(self, region: Region, expected_version: int, at: datetime) -> bool: ...
    async def add_region_database(
        self, region_id: str, database: RegionDatabase, at: datetime
    ) -> None: ...
    async def set_region_database_active(
        self, region_id: str, db_code: str, active: bool
    ) -> bool: ...
    async def apps_using(
        self, *, region_id: str | None = None, plan_id: str | None = None
    ) -> list[str]:
        """``app:<tenant>/<slug>`` of every app (any tenant) on the region or plan."""
        ...

    async def delete_region(self, region_id: str) -> None: ...


class PlanStore(Protocol):
    async def get_plan(self, id_or_code: str) -> Plan | None: ...
    async def list_plans(self, page: PageRequest, status: str | None) -> PageOf[Plan]: ...
    async def insert_plan(self, plan: Plan, at: datetime) -> None: ...
    async def update_plan(self, plan: Plan, expected_version: int, at: datetime) -> bool: ...
    async def delete_plan(self, plan_id: str) -> None: ...


class AppStore(Protocol):
    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None: ...
    async def get_app_by_id(self, app_id: str, *, with_client_ids: bool = True) -> App | None:
        """``with_client_ids=False`` skips the query for the app's clients (``client_ids``
        is then empty): the token path and client views do not read it."""
        ...

    async def list_apps(
        self,
        tenant_id: str,
        page: PageRequest,
        enabled: bool | None,
        query: str,
        order_by: str,
    ) -> PageOf[App]: ...
    async def count_apps(self, tenant_id: str) -> int:
        """Non-system apps of the tenant (the app limit counts these)."""
        ...

    async def display_name_taken(
        self, tenant_id: str, key: str, exclude_app_id: str | None
    ) -> bool: ...
    async def insert_app(self, app: App) -> None: ...
    async def update_app(self, app: App, expected_version: int) -> bool: ...
    async def delete_app(self, app_id: str) -> None: ...
    async def app_blockers(self, app_id: str) -> list[str]:
        """Human-readable references that keep the app from being deleted."""
        ...


class ClientStore(Protocol):
    async def insert_client(self, client: Client, at: datetime) -> None: ...
    async def link_client_app(self, client_pk: str, app_id: str) -> None: ...
    async def get_client(self, client_id: str) -> Client | None: ...
    async def client_secrets(self, client_pk: str) -> list[ClientSecretRecord]: ...
    async def insert_client_secret(self, client_pk: str, record: ClientSecretRecord) -> None: ...
    async def retire_client_secrets(
        self, client_pk: str, keep: str | None, keep_until: datetime | None
    ) -> None:
        """Delete every secret of the client but ``keep``, which then expires at
        ``keep_until`` at the latest (a grace period never lengthens)."""
        ...

    async def mark_secret_used(self, secret_id: str, at: datetime) -> None: ...
    async def replace_secret_hash(self, secret_id: str, secret_hash: str) -> None: ...
    async def delete_client(self, client_pk: str) -> None:
        """Remove the client with its secrets, app links, scopes and role assignments."""
        ...

    async def list_clients(
        self, tenant_id: str, page: PageRequest, app_id: str | None
    ) -> PageOf[Client]: ...
    async def update_client(self, client: Client, expected_version: int, at: datetime) -> bool: ...
    async def set_client_apps(self, client_pk: str, app_ids: list[str]) -> None: ...
    async def set_client_scopes(self, client_pk: str, scope_ids: list[str]) -> None: ...
    async def set_client_roles(self, client_pk: str, role_ids: list[str]) -> None: ...
    async def client_scopes(self, client_pk: str) -> list[NamedRef]: ...
    async def client_roles(self, client_pk: str) -> list[NamedRef]: ...
    async def scopes_named(self, tenant_id: str, names: list[str]) -> dict[str, NamedRef]: ...
    async def roles_coded(self, tenant_id: str, codes: list[str]) -> dict[str, NamedRef]: ...
    async def role_grants(self, role_ids: list[str]) -> list[tuple[str, str]]:
        """(service code, permission code) of every permission the roles carry."""
        ...


class ResolutionStore(Protocol):
    """Reads behind the token service's resolution call; each is one indexed query, so the
    cost does not grow with the size of the tenant."""

    async def client_credentials(self, client_id: str) -> ClientCredentials | None:
        """The client's tenant, state and secrets in ONE query, found or not: an unknown
        client must cost what a known one with a wrong secret costs (§7, no oracle)."""
        ...

    async def get_user(self, tenant_id: str, user_id: str) -> UserRecord | None: ...
    async def membership_status(self, user_id: str, app_id: str) -> str | None: ...
    async def user_roles_and_permissions(
        self, tenant_id: str, user_id: str, app_id: str, service_codes: list[str]
    ) -> tuple[list[str], list[str]]: ...
    async def app_audiences(self, app_id: str) -> list[str]: ...
    async def enabled_app_domains(self, tenant_id: str) -> set[str]:
        """The allowed domains of the tenant's enabled apps (CORS)."""
        ...


class CatalogStore(Protocol):
    async def upsert_permission(
        self,
        tenant_id: str,
        service_code: str,
        code: str,
        name: str,
        at: datetime,
        *,
        description: str = "",
    ) -> str: ...
    async def permission_ids(self, tenant_id: str, service_codes: list[str]) -> dict[str, str]: ...
    async def upsert_role(
        self, tenant_id: str, app_id: str | None, code: str, name: str, at: datetime
    ) -> str: ...
    async def grant_role_permissions(self, role_id: str, permission_ids: list[str]) -> None: ...
    async def assign_client_role(self, client_pk: str, role_id: str) -> None: ...
    async def copy_catalog(
        self, tenant_id: str, source_service: str, target_service: str, at: datetime
    ) -> int: ...
    async def client_roles_and_permissions(
        self, client_pk: str, app_id: str, service_codes: list[str]
    ) -> tuple[list[str], list[str]]: ...


class BootstrapStore(Protocol):
    async def lock_bootstrap(self) -> None:
        """Serialise bootstrap across processes for the rest of the transaction."""
        ...


class AuditStore(Protocol):
    async def insert_audit(self, event: AuditEvent) -> None: ...
    async def list_audit(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]: ...


class RegistryTx(
    TenantStore,
    RegionStore,
    PlanStore,
    AppStore,
    ClientStore,
    CatalogStore,
    AuditStore,
    ResolutionStore,
    BootstrapStore,
    Protocol,
):
    """Every registry port, bound to one transaction."""


class Transactions(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[RegistryTx]:
        """Open a unit of work: committed when the block exits normally."""
        ...


class ReadOnly(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[RegistryTx]: ...


__all__ = ["AsyncIterator", "ReadOnly", "RegistryTx", "Transactions"]


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[RegistryTx]:
        """Open a unit of work (committed when the block exits normally) or a read."""
        ...
