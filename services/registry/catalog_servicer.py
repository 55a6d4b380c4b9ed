"""CatalogService gRPC servicer: authenticate the caller, translate, call one use case."""

from __future__ import annotations

from tessera.registry.v1 import catalog_pb2 as pb
from tessera.registry.v1 import catalog_pb2_grpc

from services.common.auth import Authenticator
from services.registry import convert as cv
from services.registry.domain.catalog_service import (
    CatalogEntry,
    CatalogService,
    PermissionDeclaration,
    ReconcileReport,
    ReferencedEntry,
    ResourceServer,
    ResourceServerDraft,
    ResourceServerPatch,
    Scope,
)

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


def scope_pb(scope: Scope) -> pb.OAuthScope:
    return pb.OAuthScope(
        id=scope.id,
        tenant=scope.tenant_slug,
        name=scope.name,
        description=scope.description,
        app_id=scope.app_id or "",
        app_slug=scope.app_slug or "",
        created_at=cv.timestamp(scope.created_at),
    )


def resource_server_pb(server: ResourceServer) -> pb.ResourceServer:
    return pb.ResourceServer(
        id=server.id,
        tenant=server.tenant_slug,
        app_id=server.app_id,
        app_slug=server.app_slug,
        audience=server.audience,
        name=server.name,
        permissions=list(server.permissions),
        created_at=cv.timestamp(server.created_at),
        whole_catalog=server.whole_catalog,
    )


def _declaration(message: pb.PermissionDeclaration) -> PermissionDeclaration:
    return PermissionDeclaration(
        code=message.code,
        name=message.name,
        description=message.description,
        renamed_from=message.renamed_from if message.HasField("renamed_from") else None,
        resource=message.resource if message.HasField("resource") else None,
        action=message.action if message.HasField("action") else None,
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, service: CatalogService, auth: Authenticator) -> None:
        self._s = service
        self._auth = auth

    # permission catalog
    async def RegisterPermissions(
        self, request: pb.RegisterPermissionsRequest, context: Ctx
    ) -> pb.ReconcileReport:
        principal = await self._auth.principal(context)
        report = await self._s.register_permissions(
            principal,
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
        principal = await self._auth.principal(context)
        page = await self._s.list_permissions(
            principal,
            request.tenant,
            request.service,
            request.include_deprecated,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
        )
        return pb.ListPermissionsResponse(
            permissions=[entry_pb(e) for e in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    # scopes
    async def CreateScope(self, request: pb.CreateScopeRequest, context: Ctx) -> pb.OAuthScope:
        principal = await self._auth.principal(context)
        scope = await self._s.create_scope(
            principal, request.tenant, request.name, request.description, request.app
        )
        return scope_pb(scope)

    async def ListScopes(
        self, request: pb.ListScopesRequest, context: Ctx
    ) -> pb.ListScopesResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_scopes(
            principal,
            request.tenant,
            request.app,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
        )
        return pb.ListScopesResponse(
            scopes=[scope_pb(s) for s in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def DeleteScope(
        self, request: pb.DeleteScopeRequest, context: Ctx
    ) -> pb.DeleteScopeResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_scope(principal, request.tenant, request.name)
        return pb.DeleteScopeResponse()

    # resource servers
    async def CreateResourceServer(
        self, request: pb.CreateResourceServerRequest, context: Ctx
    ) -> pb.ResourceServer:
        principal = await self._auth.principal(context)
        server = await self._s.create_resource_server(
            principal,
            request.tenant,
            ResourceServerDraft(
                app=request.app,
                audience=request.audience,
                name=request.name,
                permissions=tuple(request.permissions),
            ),
        )
        return resource_server_pb(server)

    async def GetResourceServer(
        self, request: pb.GetResourceServerRequest, context: Ctx
    ) -> pb.ResourceServer:
        principal = await self._auth.principal(context)
        server = await self._s.get_resource_server(
            principal, request.tenant, request.resource_server
        )
        return resource_server_pb(server)

    async def ListResourceServers(
        self, request: pb.ListResourceServersRequest, context: Ctx
    ) -> pb.ListResourceServersResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_resource_servers(
            principal,
            request.tenant,
            request.app,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
        )
        return pb.ListResourceServersResponse(
            resource_servers=[resource_server_pb(s) for s in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateResourceServer(
        self, request: pb.UpdateResourceServerRequest, context: Ctx
    ) -> pb.ResourceServer:
        principal = await self._auth.principal(context)
        patch = ResourceServerPatch(
            name=request.name if request.HasField("name") else None,
            permissions=tuple(request.permissions.values)
            if request.HasField("permissions")
            else None,
        )
        server = await self._s.update_resource_server(
            principal, request.tenant, request.resource_server, patch
        )
        return resource_server_pb(server)

    async def DeleteResourceServer(
        self, request: pb.DeleteResourceServerRequest, context: Ctx
    ) -> pb.DeleteResourceServerResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_resource_server(principal, request.tenant, request.resource_server)
        return pb.DeleteResourceServerResponse()
