"""The use-case skeleton: every registry use case runs inside one of these scopes.

A write scope, in order:

1. checks the caller's access (before any input is looked at in the store; a use case whose
   access depends on its input, such as assigning a plan, calls :meth:`UseCases.authorize`
   for that part before opening the scope);
2. opens a unit of work and loads the tenant it acts on (NotFound otherwise);
3. runs the use case, which records what it changed with :meth:`Write.audit` (in the same
   unit of work: the record commits or rolls back with the change) and names the changes to
   publish with :meth:`Write.publish`;
4. refuses to commit a write that recorded no audit event, unless the use case said why
   none is due (:meth:`Write.unaudited`: nothing changed, or the platform seeding itself) —
   so no write can forget its audit record silently: it records one or states, in code
   a reviewer sees, why none is due;
5. before the commit, bumps the snapshot version of every tenant (or the platform) it changed
   and announces it on the version board (services.common.versions), so no token-service
   cache outlives the write; after the commit, publishes the change notifications
   (ARCHITECTURE §5);
6. when the use case refused an escalation (:class:`EscalationDenied`), records the refused
   attempt in a unit of work of its own, since the attempt's own rolls back.

Read scopes do 1, 2 and 6.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog

from services.common.access import Access, admit
from services.common.auth import Principal
from services.common.changes import Change, ChangeBus
from services.common.errors import NotFound
from services.common.versions import VersionBoard
from services.common.vocabulary import CONTROL_PLANE_TENANT
from services.registry.kernel.escalation import EscalationDenied
from services.registry.kernel.models import AuditEvent, Tenant
from services.registry.kernel.ports import BaseTx, UnitOfWork

TxT = TypeVar("TxT", bound=BaseTx)

DENIED_ACTION = "escalation.denied"
# The actor of writes the registry makes on its own (bootstrap from configuration, start-up).
REGISTRY_SERVICE = Principal(
    tenant=CONTROL_PLANE_TENANT, subject="service:registry", kind="service", permissions=frozenset()
)

log = structlog.get_logger("tessera.registry")


def new_id() -> str:
    return str(uuid.uuid4())


async def load_tenant(tx: BaseTx, slug: str, *, for_update: bool = False) -> Tenant:
    tenant = await tx.tenants.get(slug, for_update=for_update)
    if tenant is None:
        raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {slug!r}.")
    return tenant


async def record_audit(
    tx: BaseTx,
    principal: Principal,
    tenant: Tenant | None,
    at: datetime,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Insert one audit event naming its actor (ARCHITECTURE §7: a user or a client, never
    just "system") into ``tx``'s unit of work. Platform-wide writes (``tenant`` None: regions,
    plans) go to the control plane's log, where operators read them."""
    if tenant is None:
        tenant = await tx.tenants.get(CONTROL_PLANE_TENANT)
    await tx.audit.insert(
        AuditEvent(
            id=new_id(),
            tenant_id=tenant.id if tenant else None,
            tenant_slug=tenant.slug if tenant else "",
            actor_type=principal.actor_type,
            actor_id=principal.subject,
            actor_tenant=principal.tenant,
            action=action,
            target_type=target_type,
            target_id=target_id,
            occurred_at=at,
            details=details or {},
        )
    )


class Read(Generic[TxT]):
    def __init__(self, tx: TxT, principal: Principal, tenant: Tenant | None) -> None:
        self.tx = tx
        self.principal = principal
        self._tenant = tenant

    @property
    def tenant(self) -> Tenant:
        """The tenant the scope was opened for (a scope opened without one has none)."""
        if self._tenant is None:
            raise RuntimeError("this scope was opened without a tenant")
        return self._tenant


class Write(Read[TxT]):
    def __init__(self, tx: TxT, principal: Principal, tenant: Tenant | None, now: datetime) -> None:
        super().__init__(tx, principal, tenant)
        self.now = now
        self.changes: list[Change] = []
        self._audited = False
        self._unaudited_because = ""

    async def audit(
        self,
        action: str,
        target_type: str,
        target_id: str,
        details: dict[str, Any] | None = None,
        *,
        tenant: Tenant | None = None,
    ) -> None:
        """Record this write in the audit log (committed with it). ``tenant`` defaults to the
        scope's own; platform-wide writes have none (see :func:`record_audit`)."""
        await record_audit(
            self.tx,
            self.principal,
            tenant or self._tenant,
            self.now,
            action,
            target_type,
            target_id,
            details,
        )
        self._audited = True

    def publish(self, kind: str, target_id: str, *, tenant_slug: str | None = None) -> None:
        """Announce, after the commit, that something a token may carry changed. ``tenant_slug``
        defaults to the scope's tenant; "*" names platform-wide objects such as plans."""
        slug = tenant_slug if tenant_slug is not None else self.tenant.slug
        self.changes.append(Change(slug, kind, target_id))

    def unaudited(self, because: str) -> None:
        """Declare why this write records no audit event: it changed nothing (an idempotent
        repeat), or it is the platform seeding itself."""
        self._unaudited_because = because

    def ensure_recorded(self) -> None:
        if not (self._audited or self._unaudited_because):
            raise RuntimeError(
                "a write unit of work is about to commit without an audit record; call "
                "Write.audit() (or Write.unaudited() saying why none is due)"
            )


@dataclass(frozen=True)
class Publisher:
    """Where a write's changes go: the version board before the commit, the change bus
    after it."""

    bus: ChangeBus
    board: VersionBoard


class UseCases(Generic[TxT]):
    """Base of every feature's use cases: holds the unit of work, the publisher and the
    clock, and opens the scopes above."""

    def __init__(
        self, uow: UnitOfWork[TxT], publisher: Publisher, now: Callable[[], datetime]
    ) -> None:
        self._uow = uow
        self._publisher = publisher
        self._now = now

    @staticmethod
    def authorize(principal: Principal, access: Access, tenant: str | None = None) -> None:
        """The scope's access check alone, for work a use case must do before it opens its
        scope (validating input that is costly to check, hashing a password): callers learn
        nothing about input they may not send."""
        admit(principal, access, tenant)

    @asynccontextmanager
    async def write(
        self,
        principal: Principal,
        access: Access | None,
        tenant: str | None = None,
        *,
        lock_tenant: bool = False,
    ) -> AsyncIterator[Write[TxT]]:
        """A write unit of work for ``principal`` on ``tenant`` (a slug; None = platform-wide).
        ``access`` None is for the platform's own writes (bootstrap, sign-in), never for a
        caller's request."""
        if access is not None:
            admit(principal, access, tenant)
        try:
            async with self._uow.transaction() as tx:
                loaded = await load_tenant(tx, tenant, for_update=lock_tenant) if tenant else None
                scope = Write(tx, principal, loaded, self._now())
                yield scope
                scope.ensure_recorded()
                for changed in sorted({c.tenant for c in scope.changes}):
                    version = await tx.versions.bump(changed)
                    await self._publisher.board.announce(changed, version)
        except EscalationDenied as denied:
            await self._record_denial(principal, tenant, denied)
            raise
        for change in scope.changes:
            await self._publisher.bus.publish(change)

    @asynccontextmanager
    async def read(
        self, principal: Principal, access: Access | None, tenant: str | None = None
    ) -> AsyncIterator[Read[TxT]]:
        if access is not None:
            admit(principal, access, tenant)
        try:
            async with self._uow.read() as tx:
                loaded = await load_tenant(tx, tenant) if tenant else None
                yield Read(tx, principal, loaded)
        except EscalationDenied as denied:
            # A write may check rank in a read first (before costly work such as hashing).
            await self._record_denial(principal, tenant, denied)
            raise

    async def _record_denial(
        self, principal: Principal, tenant_slug: str | None, denied: EscalationDenied
    ) -> None:
        try:
            async with self._uow.transaction() as tx:
                tenant = await tx.tenants.get(tenant_slug) if tenant_slug else None
                await record_audit(
                    tx,
                    principal,
                    tenant,
                    self._now(),
                    DENIED_ACTION,
                    denied.target_type,
                    denied.target_id,
                    {
                        "operation": denied.operation,
                        "reason": denied.reason,
                        "missing": list(denied.missing),
                    },
                )
        except Exception:
            # The refusal stands either way; a lost audit record is logged, never a 500.
            log.exception("escalation refusal not audited", operation=denied.operation)
