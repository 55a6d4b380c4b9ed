"""The store bundles: every feature's store over one unit of work, for SQL and in memory.

A use case sees a bundle only through its feature's narrow Protocol (``RegionsTx``,
``AppsTx`` ...): these two classes are the one place that knows every store. Stores are built
on first use, so a unit of work pays only for the stores its use case touches.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database
from services.registry.apps.memory import MemoryAppStore
from services.registry.apps.sql import SqlAppStore
from services.registry.audit.memory import MemoryAuditLog
from services.registry.audit.sql import SqlAuditLog
from services.registry.catalog.memory import MemoryCatalogStore
from services.registry.catalog.sql import SqlCatalogStore
from services.registry.clients.memory import MemoryClientStore
from services.registry.clients.sql import SqlClientStore
from services.registry.groups.memory import MemoryGroupStore
from services.registry.groups.sql import SqlGroupStore
from services.registry.kernel.memory import MemoryDatabase, MemoryTables, MemoryUnitOfWork
from services.registry.kernel.sql import SqlUnitOfWork
from services.registry.kernel.versions import MemoryVersionStore, SqlVersionStore
from services.registry.memberships.memory import MemoryMembershipStore
from services.registry.memberships.sql import SqlMembershipStore
from services.registry.plans.memory import MemoryPlanStore
from services.registry.plans.sql import SqlPlanStore
from services.registry.regions.memory import MemoryRegionStore
from services.registry.regions.sql import SqlRegionStore
from services.registry.resolution.memory import MemoryResolutionStore
from services.registry.resolution.sql import SqlResolutionStore
from services.registry.resource_servers.memory import MemoryResourceServerStore
from services.registry.resource_servers.sql import SqlResourceServerStore
from services.registry.roles.memory import MemoryRoleStore
from services.registry.roles.sql import SqlRoleStore
from services.registry.scopes.memory import MemoryScopeStore
from services.registry.scopes.sql import SqlScopeStore
from services.registry.tenants.memory import MemoryTenantStore
from services.registry.tenants.sql import SqlTenantStore
from services.registry.users.memory import MemoryUserStore
from services.registry.users.sql import SqlUserStore


class SqlStores:
    def __init__(self, connection: AsyncConnection, postgresql: bool) -> None:
        self._connection = connection
        self._postgresql = postgresql

    @cached_property
    def tenants(self) -> SqlTenantStore:
        return SqlTenantStore(self._connection, self._postgresql)

    @cached_property
    def regions(self) -> SqlRegionStore:
        return SqlRegionStore(self._connection, self._postgresql)

    @cached_property
    def plans(self) -> SqlPlanStore:
        return SqlPlanStore(self._connection, self._postgresql)

    @cached_property
    def apps(self) -> SqlAppStore:
        return SqlAppStore(self._connection, self._postgresql)

    @cached_property
    def clients(self) -> SqlClientStore:
        return SqlClientStore(self._connection, self._postgresql)

    @cached_property
    def catalog(self) -> SqlCatalogStore:
        return SqlCatalogStore(self._connection, self._postgresql)

    @cached_property
    def scopes(self) -> SqlScopeStore:
        return SqlScopeStore(self._connection, self._postgresql)

    @cached_property
    def resource_servers(self) -> SqlResourceServerStore:
        return SqlResourceServerStore(self._connection, self._postgresql)

    @cached_property
    def users(self) -> SqlUserStore:
        return SqlUserStore(self._connection, self._postgresql)

    @cached_property
    def roles(self) -> SqlRoleStore:
        return SqlRoleStore(self._connection, self._postgresql)

    @cached_property
    def groups(self) -> SqlGroupStore:
        return SqlGroupStore(self._connection, self._postgresql)

    @cached_property
    def memberships(self) -> SqlMembershipStore:
        return SqlMembershipStore(self._connection, self._postgresql)

    @cached_property
    def audit(self) -> SqlAuditLog:
        return SqlAuditLog(self._connection, self._postgresql)

    @cached_property
    def resolution(self) -> SqlResolutionStore:
        return SqlResolutionStore(self._connection, self._postgresql)

    @cached_property
    def versions(self) -> SqlVersionStore:
        return SqlVersionStore(self._connection, self._postgresql)


class MemoryStores:
    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    @cached_property
    def tenants(self) -> MemoryTenantStore:
        return MemoryTenantStore(self._tables)

    @cached_property
    def regions(self) -> MemoryRegionStore:
        return MemoryRegionStore(self._tables)

    @cached_property
    def plans(self) -> MemoryPlanStore:
        return MemoryPlanStore(self._tables)

    @cached_property
    def apps(self) -> MemoryAppStore:
        return MemoryAppStore(self._tables)

    @cached_property
    def clients(self) -> MemoryClientStore:
        return MemoryClientStore(self._tables)

    @cached_property
    def catalog(self) -> MemoryCatalogStore:
        return MemoryCatalogStore(self._tables)

    @cached_property
    def scopes(self) -> MemoryScopeStore:
        return MemoryScopeStore(self._tables)

    @cached_property
    def resource_servers(self) -> MemoryResourceServerStore:
        return MemoryResourceServerStore(self._tables)

    @cached_property
    def users(self) -> MemoryUserStore:
        return MemoryUserStore(self._tables)

    @cached_property
    def roles(self) -> MemoryRoleStore:
        return MemoryRoleStore(self._tables)

    @cached_property
    def groups(self) -> MemoryGroupStore:
        return MemoryGroupStore(self._tables)

    @cached_property
    def memberships(self) -> MemoryMembershipStore:
        return MemoryMembershipStore(self._tables)

    @cached_property
    def audit(self) -> MemoryAuditLog:
        return MemoryAuditLog(self._tables)

    @cached_property
    def resolution(self) -> MemoryResolutionStore:
        return MemoryResolutionStore(self._tables)

    @cached_property
    def versions(self) -> MemoryVersionStore:
        return MemoryVersionStore(self._tables)


def sql_unit_of_work(database: Database) -> SqlUnitOfWork[SqlStores]:
    return SqlUnitOfWork(database, SqlStores)


def memory_unit_of_work(
    database: MemoryDatabase[MemoryTables] | None = None,
) -> MemoryUnitOfWork[MemoryTables, MemoryStores]:
    """Units of work over ``database`` (a fresh, empty one by default)."""
    return MemoryUnitOfWork(database or MemoryDatabase(MemoryTables()), MemoryStores)
