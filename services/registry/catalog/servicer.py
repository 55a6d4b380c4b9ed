"""The permission-catalog RPCs of CatalogService."""

from __future__ import annotations

from tessera.registry.v1 import catalog_pb2 as pb

from services.common.auth import Authenticator
from services.registry.catalog.models import (
    CatalogEntry,
    PermissionDeclaration,
    ReconcileReport,
    ReferencedEntry,
)
from services.registry.catalog.use_cases import CatalogUseCases
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer

Ctx = cv.ServicerContext


def _referenced(entry: ReferencedEntry) -> pb.ReferencedEntry:
    message = pb.ReferencedEntry(
        code=entry.code, roles=list(entry.roles), resource_servers=list(entry.resource_servers)
    )
    if entry.deprecated_at is not None:
        message.deprecated_at.CopyFrom(cv.timestamp(entry.deprecated_at))
    return message


def report_pb(report: ReconcileReport) -> pb.ReconcileReport:
    return pb.ReconcileReport(
        service=report.service,
        revision=report.revision,
        dry_run=report.dry_run,
        changed=report.changed,
        created=list(report.created),
        updated=list(report.updated),
        renamed=[
            pb.PermissionRename(from_code=r.from_code, to_code=r.to_code) for r in report.renamed
        ],
        unchanged=list(report.unchanged),
        pruned=list(report.pruned),
        blocked=[_referenced(b) for b in report.blocked],
        pruned_with_grants=[_referenced(p) for p in report.pruned_with_grants],
    )


def entry_pb(entry: CatalogEntry) -> pb.PermissionEntry:
    message = pb.PermissionEntry(
        id=entry.id,
        service=entry.service_code,
        code=entry.code,
        name=entry.name,
        description=entry.description,
        created_at=cv.timestamp(entry.created_at),
    )
    if entry.updated_at is not None:
        message.updated_at.CopyFrom(cv.timestamp(entry.updated_at))
    if entry.deprecated_at is not None:
        message.deprecated_at.CopyFrom(cv.timestamp(entry.deprecated_at))
    return message


def _declaration(message: pb.PermissionDeclaration) -> PermissionDeclaration:
    return PermissionDeclaration(
        code=message.code,
        name=message.name,
        description=message.description,
        renamed_from=message.renamed_from if message.HasField("renamed_from") else None,
        resource=message.resource if message.HasField("resource") else None,
        action=message.action if message.HasField("action") else None,
    )


class CatalogServicer(Servicer):
    def __init__(self, auth: Authenticator, catalog: CatalogUseCases) -> None:
        super().__init__(auth)
        self._catalog = catalog

    async def RegisterPermissions(
        self, request: pb.RegisterPermissionsRequest, context: Ctx
    ) -> pb.ReconcileReport:
        report = await self._catalog.register(
            await self.principal(context),
            request.tenant,
            request.service,
            [_declaration(e) for e in request.entries],
            dry_run=request.dry_run,
            force=request.force,
        )
        return report_pb(report)

    async def ListPermissions(
        self, request: pb.ListPermissionsRequest, context: Ctx
    ) -> pb.ListPermissionsResponse:
        page = await self._catalog.search(
            await self.principal(context),
            request.tenant,
            request.service,
            request.include_deprecated,
            *cv.page_args(request),
        )
        return pb.ListPermissionsResponse(
            permissions=[entry_pb(e) for e in page.items],
            **cv.listing(page),
        )
