"""The scope RPCs of CatalogService."""

from __future__ import annotations

from tessera.registry.v1 import catalog_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.scopes.models import Scope
from services.registry.scopes.use_cases import ScopeUseCases

Ctx = cv.ServicerContext


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


class ScopeServicer(Servicer):
    def __init__(self, auth: Authenticator, scopes: ScopeUseCases) -> None:
        super().__init__(auth)
        self._scopes = scopes

    async def CreateScope(self, request: pb.CreateScopeRequest, context: Ctx) -> pb.OAuthScope:
        scope = await self._scopes.create(
            await self.principal(context),
            request.tenant,
            request.name,
            request.description,
            request.app,
        )
        return scope_pb(scope)

    async def ListScopes(
        self, request: pb.ListScopesRequest, context: Ctx
    ) -> pb.ListScopesResponse:
        page = await self._scopes.search(
            await self.principal(context),
            request.tenant,
            request.app,
            *cv.page_args(request),
        )
        return pb.ListScopesResponse(
            scopes=[scope_pb(s) for s in page.items],
            **cv.listing(page),
        )

    async def DeleteScope(
        self, request: pb.DeleteScopeRequest, context: Ctx
    ) -> pb.DeleteScopeResponse:
        await self._scopes.delete(await self.principal(context), request.tenant, request.name)
        return pb.DeleteScopeResponse()
