"""The resource-server RPCs of CatalogService."""

from __future__ import annotations

from tessera.registry.v1 import catalog_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.resource_servers.models import (
    ResourceServer,
    ResourceServerDraft,
    ResourceServerPatch,
)
from services.registry.resource_servers.use_cases import ResourceServerUseCases

Ctx = cv.ServicerContext


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


class ResourceServerServicer(Servicer):
    def __init__(self, auth: Authenticator, servers: ResourceServerUseCases) -> None:
        super().__init__(auth)
        self._servers = servers

    async def CreateResourceServer(
        self, request: pb.CreateResourceServerRequest, context: Ctx
    ) -> pb.ResourceServer:
        server = await self._servers.create(
            await self.principal(context),
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
        server = await self._servers.get(
            await self.principal(context), request.tenant, request.resource_server
        )
        return resource_server_pb(server)

    async def ListResourceServers(
        self, request: pb.ListResourceServersRequest, context: Ctx
    ) -> pb.ListResourceServersResponse:
        page = await self._servers.search(
            await self.principal(context),
            request.tenant,
            request.app,
            *cv.page_args(request),
        )
        return pb.ListResourceServersResponse(
            resource_servers=[resource_server_pb(s) for s in page.items],
            **cv.listing(page),
        )

    async def UpdateResourceServer(
        self, request: pb.UpdateResourceServerRequest, context: Ctx
    ) -> pb.ResourceServer:
        patch = ResourceServerPatch(
            name=request.name if request.HasField("name") else None,
            permissions=tuple(request.permissions.values)
            if request.HasField("permissions")
            else None,
        )
        server = await self._servers.update(
            await self.principal(context), request.tenant, request.resource_server, patch
        )
        return resource_server_pb(server)

    async def DeleteResourceServer(
        self, request: pb.DeleteResourceServerRequest, context: Ctx
    ) -> pb.DeleteResourceServerResponse:
        await self._servers.delete(
            await self.principal(context), request.tenant, request.resource_server
        )
        return pb.DeleteResourceServerResponse()
