"""The tenant RPCs of RegistryService: translate, call one use case, translate back."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.clients.servicer import credentials_pb
from services.registry.kernel import convert as cv
from services.registry.kernel.models import Tenant
from services.registry.kernel.servicer import Servicer
from services.registry.tenants.models import TenantDraft, TenantPatch
from services.registry.tenants.use_cases import TenantUseCases

Ctx = cv.ServicerContext


def tenant_pb(tenant: Tenant) -> pb.Tenant:
    message = pb.Tenant(
        id=tenant.id,
        slug=tenant.slug,
        display_name=tenant.display_name,
        app_limit=tenant.app_limit,
        control_plane=tenant.control_plane,
        created_at=cv.timestamp(tenant.created_at),
        updated_at=cv.timestamp(tenant.updated_at),
        version=tenant.version,
    )
    cv.fill_settings(message.settings, tenant.settings)
    return message


class TenantServicer(Servicer):
    def __init__(self, auth: Authenticator, tenants: TenantUseCases) -> None:
        super().__init__(auth)
        self._tenants = tenants

    async def CreateTenant(
        self, request: pb.CreateTenantRequest, context: Ctx
    ) -> pb.CreateTenantResponse:
        draft = TenantDraft(
            slug=request.slug,
            display_name=request.display_name,
            app_limit=cv.optional(request, "app_limit"),
            settings=cv.settings_to_dict(request.settings),
        )
        tenant, credentials = await self._tenants.create(await self.principal(context), draft)
        return pb.CreateTenantResponse(
            tenant=tenant_pb(tenant), admin_credentials=credentials_pb(credentials)
        )

    async def GetTenant(self, request: pb.GetTenantRequest, context: Ctx) -> pb.Tenant:
        return tenant_pb(await self._tenants.get(await self.principal(context), request.tenant))

    async def ListTenants(
        self, request: pb.ListTenantsRequest, context: Ctx
    ) -> pb.ListTenantsResponse:
        page = await self._tenants.search(
            await self.principal(context),
            *cv.page_args(request),
            request.query,
            request.order_by,
        )
        return pb.ListTenantsResponse(
            tenants=[tenant_pb(t) for t in page.items],
            **cv.listing(page),
        )

    async def UpdateTenant(self, request: pb.UpdateTenantRequest, context: Ctx) -> pb.Tenant:
        patch = TenantPatch(
            display_name=cv.optional(request, "display_name"),
            app_limit=cv.optional(request, "app_limit"),
            settings=cv.settings_patch(request),
        )
        return tenant_pb(
            await self._tenants.update(
                await self.principal(context), request.tenant, patch, request.expected_version
            )
        )
