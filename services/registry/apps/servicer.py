"""The app RPCs of RegistryService: translate, call one use case, translate back."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.common.wire_enums import STORAGE_PROVIDERS
from services.registry.apps.models import App, AppDraft, AppPatch, CloneDraft, StorageInput
from services.registry.apps.use_cases import AppUseCases
from services.registry.clients.servicer import credentials_pb
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer

Ctx = cv.ServicerContext


def storage_input(message: pb.StorageConfigInput) -> StorageInput:
    return StorageInput(
        provider=provider.value
        if (provider := STORAGE_PROVIDERS.from_wire(message.provider))
        else "",
        access_key=message.access_key,
        secret_key=message.secret_key,
        bucket=message.bucket,
        endpoint=message.endpoint if message.HasField("endpoint") else None,
        region=message.region if message.HasField("region") else None,
    )


def app_pb(app: App) -> pb.App:
    message = pb.App(
        id=app.id,
        tenant=app.tenant_slug,
        slug=app.slug,
        display_name=app.display_name,
        description=app.description,
        enabled=app.enabled,
        region_id=app.region_id or "",
        region_code=app.region_code or "",
        db_code=app.db_code or "",
        redirect_uris=list(app.redirect_uris),
        post_logout_redirect_uris=list(app.post_logout_redirect_uris),
        allowed_domains=list(app.allowed_domains),
        auto_grant_on_signup=app.auto_grant_on_signup,
        service_codes=list(app.service_codes),
        is_system=app.is_system,
        client_ids=list(app.client_ids),
        created_at=cv.timestamp(app.created_at),
        updated_at=cv.timestamp(app.updated_at),
        version=app.version,
        grant_types=list(app.grant_types),
    )
    if app.plan_id:
        message.plan_id = app.plan_id
    if app.homepage_url:
        message.homepage_url = app.homepage_url
    if app.storage is not None:
        view = pb.StorageConfigView(
            provider=STORAGE_PROVIDERS.to_wire(app.storage.provider),
            access_key_masked=app.storage.access_key_hint,
            bucket=app.storage.bucket,
        )
        if app.storage.endpoint:
            view.endpoint = app.storage.endpoint
        if app.storage.region:
            view.region = app.storage.region
        message.storage.CopyFrom(view)
    cv.fill_settings(message.settings, app.settings)
    return message


class AppServicer(Servicer):
    def __init__(self, auth: Authenticator, apps: AppUseCases) -> None:
        super().__init__(auth)
        self._apps = apps

    async def CreateApp(self, request: pb.CreateAppRequest, context: Ctx) -> pb.CreateAppResponse:
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
            storage=storage_input(request.storage) if request.HasField("storage") else None,
            settings=cv.settings_to_dict(request.settings),
            enabled=True if not request.HasField("enabled") else request.enabled,
            grant_types=tuple(request.grant_types),
            homepage_url=cv.optional(request, "homepage_url"),
        )
        app, credentials = await self._apps.create(
            await self.principal(context), request.tenant, draft
        )
        return pb.CreateAppResponse(app=app_pb(app), credentials=credentials_pb(credentials))

    async def GetApp(self, request: pb.GetAppRequest, context: Ctx) -> pb.App:
        return app_pb(
            await self._apps.get(await self.principal(context), request.tenant, request.app)
        )

    async def ListApps(self, request: pb.ListAppsRequest, context: Ctx) -> pb.ListAppsResponse:
        page = await self._apps.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            cv.optional(request, "enabled"),
            request.query,
            request.order_by,
        )
        return pb.ListAppsResponse(
            apps=[app_pb(a) for a in page.items],
            **cv.listing(page),
        )

    async def UpdateApp(self, request: pb.UpdateAppRequest, context: Ctx) -> pb.App:
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
            storage=storage_input(request.storage) if request.HasField("storage") else None,
            clear_storage=request.clear_storage,
            settings=cv.settings_patch(request),
            grant_types=cv.string_list(request, "grant_types"),
            slug=cv.optional(request, "slug"),
            homepage_url=cv.optional(request, "homepage_url"),
        )
        return app_pb(
            await self._apps.update(
                await self.principal(context),
                request.tenant,
                request.app,
                patch,
                request.expected_version,
            )
        )

    async def DeleteApp(self, request: pb.DeleteAppRequest, context: Ctx) -> pb.DeleteAppResponse:
        await self._apps.delete(
            await self.principal(context), request.tenant, request.app, request.expected_version
        )
        return pb.DeleteAppResponse()

    async def CloneApp(self, request: pb.CloneAppRequest, context: Ctx) -> pb.CreateAppResponse:
        app, credentials = await self._apps.clone(
            await self.principal(context),
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
        return pb.CreateAppResponse(app=app_pb(app), credentials=credentials_pb(credentials))
