"""The token service's RPCs of RegistryService: client and user resolution, tenant existence
and the CORS origin check."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.resolution.models import GrantContext
from services.registry.resolution.use_cases import ResolutionUseCases

Ctx = cv.ServicerContext


def grant_pb(grant: GrantContext) -> pb.ClientGrantContext:
    return pb.ClientGrantContext(
        tenant=grant.tenant_slug,
        tenant_id=grant.tenant_id,
        client_id=grant.client_id,
        confidential=grant.confidential,
        app_id=grant.app_id,
        app_code=grant.app_code,
        region=grant.region,
        db_code=grant.db_code,
        roles=list(grant.roles),
        permissions=list(grant.permissions),
        has_plan=grant.plan_code is not None,
        plan_code=grant.plan_code or "",
        entitlements=grant.entitlements,
        access_token_seconds=grant.access_token_seconds,
        scopes=list(grant.scopes),
        audiences=list(grant.audiences),
    )


class ResolutionServicer(Servicer):
    def __init__(self, auth: Authenticator, resolution: ResolutionUseCases) -> None:
        super().__init__(auth)
        self._resolution = resolution

    async def ResolveClient(
        self, request: pb.ResolveClientRequest, context: Ctx
    ) -> pb.ClientGrantContext:
        grant = await self._resolution.resolve_client(
            await self.principal(context),
            request.tenant,
            request.client_id,
            request.client_secret,
            request.app,
            request.grant_type,
        )
        return grant_pb(grant)

    async def ResolveUser(
        self, request: pb.ResolveUserRequest, context: Ctx
    ) -> pb.UserGrantContext:
        grant = await self._resolution.resolve_user(
            await self.principal(context),
            request.tenant,
            request.app,
            request.user_id,
            request.client_id,
        )
        return pb.UserGrantContext(
            app=grant_pb(grant.app),
            user_id=grant.user_id,
            email=grant.email,
            first_name=grant.first_name or "",
            last_name=grant.last_name or "",
            token_version=grant.token_version,
        )

    async def TenantExists(
        self, request: pb.TenantExistsRequest, context: Ctx
    ) -> pb.TenantExistsResponse:
        exists = await self._resolution.tenant_exists(await self.principal(context), request.tenant)
        return pb.TenantExistsResponse(exists=exists)

    async def CheckOrigin(
        self, request: pb.CheckOriginRequest, context: Ctx
    ) -> pb.CheckOriginResponse:
        # No caller identity: the answer is what CORS headers tell that origin anyway.
        allowed = await self._resolution.origin_allowed(request.tenant, request.origin)
        return pb.CheckOriginResponse(allowed=allowed)
