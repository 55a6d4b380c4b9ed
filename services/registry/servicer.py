"""RegistryService gRPC servicer: authenticate the caller, translate, call one use case."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb
from tessera.registry.v1 import registry_pb2_grpc

from services.common.auth import Authenticator
from services.registry import convert as cv
from services.registry.domain.clients import (
    ClientDraft,
    ClientPatch,
    ClientService,
    IssuedCredentials,
)
from services.registry.domain.commands import (
    AppDraft,
    AppPatch,
    CloneDraft,
    PlanDraft,
    PlanPatch,
    RegionDraft,
    RegionPatch,
    TenantDraft,
    TenantPatch,
)
from services.registry.domain.resolution import ResolutionService
from services.registry.domain.service import RegistryService

Ctx = cv.ServicerContext


def _credentials(issued: IssuedCredentials) -> pb.ClientCredentials:
    message = pb.ClientCredentials(client_id=issued.client_id, client_secret=issued.client_secret)
    if issued.previous_secret_expires_at is not None:
        message.previous_secret_expires_at.CopyFrom(cv.timestamp(issued.previous_secret_expires_at))
    return message


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(
        self,
        service: RegistryService,
        clients: ClientService,
        resolution: ResolutionService,
        auth: Authenticator,
    ) -> None:
        self._s = service
        self._clients = clients
        self._resolution = resolution
        self._auth = auth

    # tenants
    async def CreateTenant(
        self, request: pb.CreateTenantRequest, context: Ctx
    ) -> pb.CreateTenantResponse:
        principal = await self._auth.principal(context)
        tenant, credentials = await self._s.create_tenant(
            principal,
            TenantDraft(
                slug=request.slug,
                display_name=request.display_name,
                app_limit=cv.optional(request, "app_limit"),
                settings=cv.settings_to_dict(request.settings),
            ),
        )
        return pb.CreateTenantResponse(
            tenant=cv.tenant_pb(tenant), admin_credentials=_credentials(credentials)
        )

    async def GetTenant(self, request: pb.GetTenantRequest, context: Ctx) -> pb.Tenant:
        principal = await self._auth.principal(context)
        return cv.tenant_pb(await self._s.get_tenant(principal, request.tenant))

    async def ListTenants(
        self, request: pb.ListTenantsRequest, context: Ctx
    ) -> pb.ListTenantsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_tenants(
            principal,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.query,
            request.order_by,
        )
        return pb.ListTenantsResponse(
            tenants=[cv.tenant_pb(t) for t in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateTenant(self, request: pb.UpdateTenantRequest, context: Ctx) -> pb.Tenant:
        principal = await self._auth.principal(context)
        patch = TenantPatch(
            display_name=cv.optional(request, "display_name"),
            app_limit=cv.optional(request, "app_limit"),
            settings=cv.settings_patch(request),
        )
        return cv.tenant_pb(
            await self._s.update_tenant(principal, request.tenant, patch, request.expected_version)
        )

    # regions
    async def CreateRegion(self, request: pb.CreateRegionRequest, context: Ctx) -> pb.Region:
        principal = await self._auth.principal(context)
        region = await self._s.create_region(
            principal,
            RegionDraft(
                code=request.code,
                name=request.name,
                active=request.active,
                databases=tuple((d.db_code, d.active) for d in request.databases),
            ),
        )
        return cv.region_pb(region)

    async def GetRegion(self, request: pb.GetRegionRequest, context: Ctx) -> pb.Region:
        principal = await self._auth.principal(context)
        return cv.region_pb(await self._s.get_region(principal, request.region))

    async def ListRegions(
        self, request: pb.ListRegionsRequest, context: Ctx
    ) -> pb.ListRegionsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_regions(
            principal,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            cv.optional(request, "active"),
        )
        return pb.ListRegionsResponse(
            regions=[cv.region_pb(r) for r in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateRegion(self, request: pb.UpdateRegionRequest, context: Ctx) -> pb.Region:
        principal = await self._auth.principal(context)
        patch = RegionPatch(
            name=cv.optional(request, "name"), active=cv.optional(request, "active")
        )
        return cv.region_pb(
            await self._s.update_region(principal, request.region, patch, request.expected_version)
        )

    async def AddRegionDatabase(
        self, request: pb.AddRegionDatabaseRequest, context: Ctx
    ) -> pb.Region:
        principal = await self._auth.principal(context)
        return cv.region_pb(
            await self._s.add_region_database(
                principal, request.region, request.db_code, request.active
            )
        )

    async def SetRegionDatabaseActive(
        self, request: pb.SetRegionDatabaseActiveRequest, context: Ctx
    ) -> pb.Region:
        principal = await self._auth.principal(context)
        return cv.region_pb(
            await self._s.set_region_database_active(
                principal, request.region, request.db_code, request.active
            )
        )

    async def DeleteRegion(
        self, request: pb.DeleteRegionRequest, context: Ctx
    ) -> pb.DeleteRegionResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_region(principal, request.region, request.expected_version)
        return pb.DeleteRegionResponse()

    async def DeletePlan(
        self, request: pb.DeletePlanRequest, context: Ctx
    ) -> pb.DeletePlanResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_plan(principal, request.plan, request.expected_version)
        return pb.DeletePlanResponse()

    # plans
    async def CreatePlan(self, request: pb.CreatePlanRequest, context: Ctx) -> pb.Plan:
        principal = await self._auth.principal(context)
        plan = await self._s.create_plan(
            principal, PlanDraft(code=request.code, name=request.name, limits=dict(request.limits))
        )
        return cv.plan_pb(plan)

    async def GetPlan(self, request: pb.GetPlanRequest, context: Ctx) -> pb.Plan:
        principal = await self._auth.principal(context)
        return cv.plan_pb(await self._s.get_plan(principal, request.plan))

    async def ListPlans(self, request: pb.ListPlansRequest, context: Ctx) -> pb.ListPlansResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_plans(
            principal,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.status,
        )
        return pb.ListPlansResponse(
            plans=[cv.plan_pb(p) for p in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdatePlan(self, request: pb.UpdatePlanRequest, context: Ctx) -> pb.Plan:
        principal = await self._auth.principal(context)
        patch = PlanPatch(
            name=cv.optional(request, "name"),
            status=cv.optional(request, "status"),
            limits=dict(request.limits) if request.replace_limits else None,
        )
        return cv.plan_pb(
            await self._s.update_plan(principal, request.plan, patch, request.expected_version)
        )

    # apps
    async def CreateApp(self, request: pb.CreateAppRequest, context: Ctx) -> pb.CreateAppResponse:
        principal = await self._auth.principal(context)
        draft = AppDraft(
            slug=request.slug,
            display_name=request.display_name,
            description=request.description,
            region=request.region,
            db_code=request.db_code,
            redirect_uris=tuple(request.redirect_uris),
            post_logout_redirect_uris=tuple(request.post_logout_redirect_uris),
            allowed_domains=tuple(request.allowed_domains),
            auto_grant_on_signup=request.auto_grant_on_signup,
            service_codes=tuple(request.service_codes),
            plan=cv.optional(request, "plan"),
            storage=cv.storage_input(request.storage) if request.HasField("storage") else None,
            settings=cv.settings_to_dict(request.settings),
            enabled=True if not request.HasField("enabled") else request.enabled,
            grant_types=tuple(request.grant_types),
        )
        app, credentials = await self._s.create_app(principal, request.tenant, draft)
        return pb.CreateAppResponse(app=cv.app_pb(app), credentials=_credentials(credentials))

    async def GetApp(self, request: pb.GetAppRequest, context: Ctx) -> pb.App:
        principal = await self._auth.principal(context)
        return cv.app_pb(await self._s.get_app(principal, request.tenant, request.app))

    async def ListApps(self, request: pb.ListAppsRequest, context: Ctx) -> pb.ListAppsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_apps(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            cv.optional(request, "enabled"),
            request.query,
            request.order_by,
        )
        return pb.ListAppsResponse(
            apps=[cv.app_pb(a) for a in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateApp(self, request: pb.UpdateAppRequest, context: Ctx) -> pb.App:
        principal = await self._auth.principal(context)
        patch = AppPatch(
            display_name=cv.optional(request, "display_name"),
            description=cv.optional(request, "description"),
            enabled=cv.optional(request, "enabled"),
            redirect_uris=cv.string_list(request, "redirect_uris"),
            post_logout_redirect_uris=cv.string_list(request, "post_logout_redirect_uris"),
            allowed_domains=cv.string_list(request, "allowed_domains"),
            auto_grant_on_signup=cv.optional(request, "auto_grant_on_signup"),
            service_codes=cv.string_list(request, "service_codes"),
            plan=cv.optional(request, "plan"),
            storage=cv.storage_input(request.storage) if request.HasField("storage") else None,
            clear_storage=request.clear_storage,
            settings=cv.settings_patch(request),
            grant_types=cv.string_list(request, "grant_types"),
            slug=cv.optional(request, "slug"),
        )
        return cv.app_pb(
            await self._s.update_app(
                principal, request.tenant, request.app, patch, request.expected_version
            )
        )

    async def DeleteApp(self, request: pb.DeleteAppRequest, context: Ctx) -> pb.DeleteAppResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_app(principal, request.tenant, request.app, request.expected_version)
        return pb.DeleteAppResponse()

    async def CloneApp(self, request: pb.CloneAppRequest, context: Ctx) -> pb.CreateAppResponse:
        principal = await self._auth.principal(context)
        app, credentials = await self._s.clone_app(
            principal,
            request.tenant,
            request.source_app,
            CloneDraft(
                slug=request.slug,
                display_name=request.display_name,
                description=request.description or None,
                region=request.region,
                db_code=request.db_code,
            ),
        )
        return pb.CreateAppResponse(app=cv.app_pb(app), credentials=_credentials(credentials))

    # clients
    async def CreateClient(
        self, request: pb.CreateClientRequest, context: Ctx
    ) -> pb.CreateClientResponse:
        principal = await self._auth.principal(context)
        view, credentials = await self._clients.create_client(
            principal,
            request.tenant,
            ClientDraft(
                display_name=request.display_name,
                description=request.description,
                confidential=True if not request.HasField("confidential") else request.confidential,
                apps=tuple(request.apps),
                grant_types=tuple(request.grant_types),
                scopes=tuple(request.scopes),
                roles=tuple(request.roles),
            ),
        )
        response = pb.CreateClientResponse(client=cv.client_pb(view))
        if credentials is not None:
            response.credentials.CopyFrom(_credentials(credentials))
        return response

    async def GetClient(self, request: pb.GetClientRequest, context: Ctx) -> pb.Client:
        principal = await self._auth.principal(context)
        return cv.client_pb(
            await self._clients.get_client(principal, request.tenant, request.client_id)
        )

    async def ListClients(
        self, request: pb.ListClientsRequest, context: Ctx
    ) -> pb.ListClientsResponse:
        principal = await self._auth.principal(context)
        page = await self._clients.list_clients(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.app,
        )
        return pb.ListClientsResponse(
            clients=[cv.client_pb(v) for v in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateClient(self, request: pb.UpdateClientRequest, context: Ctx) -> pb.Client:
        principal = await self._auth.principal(context)
        patch = ClientPatch(
            display_name=cv.optional(request, "display_name"),
            description=cv.optional(request, "description"),
            enabled=cv.optional(request, "enabled"),
            apps=cv.string_list(request, "apps"),
            grant_types=cv.string_list(request, "grant_types"),
            scopes=cv.string_list(request, "scopes"),
            roles=cv.string_list(request, "roles"),
        )
        view = await self._clients.update_client(
            principal, request.tenant, request.client_id, patch, request.expected_version
        )
        return cv.client_pb(view)

    async def RegenerateClientSecret(
        self, request: pb.RegenerateClientSecretRequest, context: Ctx
    ) -> pb.ClientCredentials:
        principal = await self._auth.principal(context)
        issued = await self._clients.regenerate_client_secret(
            principal, request.tenant, request.client_id, request.grace_period_seconds
        )
        return _credentials(issued)

    async def DeleteClient(
        self, request: pb.DeleteClientRequest, context: Ctx
    ) -> pb.DeleteClientResponse:
        principal = await self._auth.principal(context)
        await self._clients.delete_client(principal, request.tenant, request.client_id)
        return pb.DeleteClientResponse()

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_audit(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.action,
            request.target_id,
        )
        return pb.ListAuditEventsResponse(
            events=[cv.audit_pb(e) for e in page.items],
            next_page_token=cv.page_token(page.next_offset),
        )

    async def ResolveClient(
        self, request: pb.ResolveClientRequest, context: Ctx
    ) -> pb.ClientGrantContext:
        principal = await self._auth.principal(context)
        grant = await self._resolution.resolve_client(
            principal,
            request.tenant,
            request.client_id,
            request.client_secret,
            request.app,
            request.grant_type,
        )
        return cv.grant_pb(grant)

    async def TenantExists(
        self, request: pb.TenantExistsRequest, context: Ctx
    ) -> pb.TenantExistsResponse:
        principal = await self._auth.principal(context)
        return pb.TenantExistsResponse(
            exists=await self._resolution.tenant_exists(principal, request.tenant)
        )

    async def CheckOrigin(
        self, request: pb.CheckOriginRequest, context: Ctx
    ) -> pb.CheckOriginResponse:
        return pb.CheckOriginResponse(
            allowed=await self._resolution.origin_allowed(request.tenant, request.origin)
        )

    async def ResolveUser(
        self, request: pb.ResolveUserRequest, context: Ctx
    ) -> pb.UserGrantContext:
        principal = await self._auth.principal(context)
        grant = await self._resolution.resolve_user(
            principal, request.tenant, request.app, request.user_id, request.client_id
        )
        return pb.UserGrantContext(
            app=cv.grant_pb(grant.app),
            user_id=grant.user_id,
            email=grant.email,
            first_name=grant.first_name or "",
            last_name=grant.last_name or "",
            token_version=grant.token_version,
        )
