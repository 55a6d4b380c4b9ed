"""What the skeleton itself needs of storage, and how a unit of work is opened.

Every feature declares the stores its use cases use as a Protocol of read-only properties
(``tx.apps``, ``tx.audit`` ...), extending :class:`BaseTx`; the composition root's bundles
(services.registry.stores) satisfy them all, for SQL and in memory alike.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from services.registry.kernel.models import AuditEvent, PageOf, PageRequest, Tenant
from services.registry.kernel.versions import VersionStore


class TenantLookup(Protocol):
    async def get(self, slug: str, *, for_update: bool = False) -> Tenant | None:
        """By slug. ``for_update`` locks the row until the unit of work ends."""
        ...

    async def get_by_id(self, tenant_id: str) -> Tenant | None: ...


class AuditLog(Protocol):
    async def insert(self, event: AuditEvent) -> None: ...
    async def search(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        """Newest first; ``action``/``target_id`` filter when not empty."""
        ...


class BaseTx(Protocol):
    """What every unit of work offers: finding tenants (every use case acts on one) and the
    audit log."""

    @property
    def tenants(self) -> TenantLookup: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def versions(self) -> VersionStore: ...


TxT_co = TypeVar("TxT_co", covariant=True)


class UnitOfWork(Protocol[TxT_co]):
    """Opens units of work over one store bundle. ``transaction()`` commits when its block
    ends normally and rolls back otherwise; ``read()`` never writes."""

    def transaction(self) -> AbstractAsyncContextManager[TxT_co]: ...
    def read(self) -> AbstractAsyncContextManager[TxT_co]: ...
