"""Permission catalogs: a service declares its slice of the tenant's catalog, usually at
every boot, and Tessera reconciles (Vendidit seed §5, ARCHITECTURE §2 "Permission catalog").

Declared entries are upserted, entries no longer declared are pruned, a repeated declaration
changes nothing, and two replicas booting at once end with one catalog (the catalog row is
locked for the reconcile). Removing an entry that a role still grants is never silent: it is
kept, deprecated and reported as blocked, unless the caller forces the prune, which removes
the grants too and reports them. A rename (``renamed_from``) keeps the entry's id, so the
role grants survive it. The plan is computed by :func:`services.registry.catalog.rules.
plan_reconcile` before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from services.common.access import any_of, needs
from services.common.auth import Principal
from services.common.errors import PermissionDenied, ValidationErrors
from services.common.vocabulary import RESERVED_SERVICES
from services.registry.catalog.models import (
    CatalogEntry,
    DeclaredEntry,
    PermissionDeclaration,
    ReconcilePlan,
    ReconcileReport,
)
from services.registry.catalog.rules import plan_reconcile, validate_declarations, validate_service
from services.registry.catalog.store import CatalogStore
from services.registry.kernel.models import PageOf, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import checked

REGISTER = needs("permission:write")
READ = any_of("permission:write", "app:read")


class CatalogTx(BaseTx, Protocol):
    @property
    def catalog(self) -> CatalogStore: ...


class CatalogUseCases(UseCases[CatalogTx]):
    async def register(
        self,
        principal: Principal,
        tenant: str,
        service: str,
        entries: Sequence[PermissionDeclaration],
        *,
        dry_run: bool = False,
        force: bool = False,
    ) -> ReconcileReport:
        """Reconcile ``service``'s catalog in the tenant with ``entries`` (module docstring).

        Side effects unless ``dry_run``: permission rows inserted, updated (renamed,
        deprecated, restored) and deleted, with the role grants and resource-server subset
        rows of force-pruned entries; the catalog revision bumped; audit
        ``catalog.reconcile``; one change published. A call that changes nothing writes
        nothing of that and keeps the revision.
        """
        self.authorize(principal, REGISTER, tenant)
        code, declared = _declaration(service, entries)
        if dry_run:
            async with self.read(principal, REGISTER, tenant) as reading:
                revision = await reading.tx.catalog.revision(reading.tenant.id, code)
                plan = await _plan(reading.tx, reading.tenant, code, declared, force, self._now())
            bumped = revision + 1 if plan.changed else revision
            return replace(plan.report, revision=bumped, dry_run=True)
        async with self.write(principal, REGISTER, tenant) as scope:
            tx, now = scope.tx, scope.now
            revision = await tx.catalog.lock(scope.tenant.id, code, now)
            plan = await _plan(tx, scope.tenant, code, declared, force, now)
            if not plan.changed:
                scope.unaudited("the declared catalog is the stored one")
                return replace(plan.report, revision=revision)
            await tx.catalog.delete(plan.deletes)
            for entry in plan.updates:
                await tx.catalog.update(entry)
            await tx.catalog.insert(scope.tenant.id, plan.inserts)
            revision += 1
            await tx.catalog.set_revision(scope.tenant.id, code, revision, now)
            await scope.audit(
                "catalog.reconcile",
                "catalog",
                code,
                {"service": code, "revision": revision, "force": force, **plan.report.counts()},
            )
            scope.publish("catalog", code)
        return replace(plan.report, revision=revision)

    async def search(
        self,
        principal: Principal,
        tenant: str,
        service: str,
        include_deprecated: bool,
        size: int,
        offset: int,
    ) -> PageOf[CatalogEntry]:
        """Catalog entries, by service then code; deprecated ones only when asked."""
        async with self.read(principal, READ, tenant) as scope:
            code = checked(validate_service, service) if service else None
            return await scope.tx.catalog.search(
                scope.tenant.id, code, include_deprecated, page_request(size, offset)
            )


def _declaration(
    service: str, entries: Sequence[PermissionDeclaration]
) -> tuple[str, list[DeclaredEntry]]:
    if service in RESERVED_SERVICES:
        raise PermissionDenied(
            "SERVICE_RESERVED",
            f"The {service!r} catalog belongs to the platform and is seeded by it; register "
            "your own service's permissions under its own service code.",
            metadata={"service": service},
        )
    errors = ValidationErrors()
    code = validate_service(errors, service)
    declared = validate_declarations(errors, entries)
    errors.raise_if_any()
    assert code is not None
    assert declared is not None
    return code, declared


async def _plan(
    tx: CatalogTx,
    tenant: Tenant,
    service: str,
    declared: Sequence[DeclaredEntry],
    force: bool,
    now: datetime,
) -> ReconcilePlan:
    existing = await tx.catalog.entries(tenant.id, [service], lock="update")
    references = await tx.catalog.references([e.id for e in existing])
    return plan_reconcile(
        service, existing, declared, references, force=force, now=now, new_id=new_id
    )
