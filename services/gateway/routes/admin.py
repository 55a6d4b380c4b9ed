"""Admin REST API (``/api/v1``): translates HTTP to registry gRPC calls, nothing more.

The caller's bearer token is forwarded; the registry authenticates and authorises it.
Errors come back as RemoteError and are rendered once, as problem+json, by the app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from tessera.registry.v1 import registry_pb2 as pb

from services.common.errors import FieldViolation
from services.common.grpc_errors import RemoteError
from services.common.wire_enums import STORAGE_PROVIDERS
from services.gateway import views
from services.gateway.access import GatedRoute
from services.gateway.clients import GatewayClients, call
from services.gateway.routes import admin_models as m

router = APIRouter(prefix="/api/v1", route_class=GatedRoute)
_bearer_scheme = HTTPBearer(
    auto_error=False, description="An access token from the token endpoint."
)


def clients(request: Request) -> GatewayClients:
    gateway_clients: GatewayClients = request.app.state.clients
    return gateway_clients


def bearer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> str | None:
    return credentials.credentials if credentials else None


Clients = Annotated[GatewayClients, Depends(clients)]
Bearer = Annotated[str | None, Depends(bearer)]
PageSize = Annotated[int, Query(ge=0, le=200, description="1..200, default 50")]
PageToken = Annotated[str, Query(description="next_page_token of the previous page")]


def _bad_request(field: str, reason: str, message: str) -> RemoteError:
    import grpc

    return RemoteError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "The request has invalid fields.",
        "VALIDATION_FAILED",
        violations=[FieldViolation(field, reason, message)],
    )


def expected_version(if_match: str | None) -> int:
    """If-Match → the version the caller read (0 = unconditional). ETags are ``"<version>"``."""
    if if_match is None or if_match.strip() == "*":
        return 0
    value = if_match.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise _bad_request(
            "If-Match", "ETAG_INVALID", 'If-Match must be an ETag this API returned, e.g. "3".'
        )
    return int(value)


IfMatch = Annotated[str | None, Header(description="ETag from a previous read; stale → 412")]


def _with_etag(response: Response, body: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = f'"{body["version"]}"'
    return body


def _page(items: list[dict[str, Any]], token: str, total: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": items, "next_page_token": token or None}
    if total is not None:
        body["total"] = total
    return body


def _settings(body: m.SettingsBody | None, target: Any) -> None:
    if body is not None:
        views.settings_message(target, body.model_dump(exclude_none=True))


def _settings_patch(body: m.TenantUpdate | m.AppUpdate, request: Any) -> None:
    """``settings`` as a JSON Merge Patch (RFC 7396): given values travel in
    ``request.settings``, explicit nulls as the dotted keys of ``request.reset_settings``."""
    if "settings" not in body.model_fields_set:
        return
    if body.settings is not None:
        request.settings.SetInParent()
        _settings(body.settings, request.settings)
    request.reset_settings.extend(m.settings_nulls(body.settings))


# -- tenants -------------------------------------------------------------------------------


@router.post(
    "/tenants",
    status_code=201,
    tags=["tenants"],
    summary="Create a tenant; returns its admin client's secret once",
)
async def create_tenant(
    body: m.TenantCreate, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateTenantRequest(slug=body.slug, display_name=body.display_name)
    if body.app_limit is not None:
        request.app_limit = body.app_limit
    _settings(body.settings, request.settings)
    result = await call(c.registry.CreateTenant, request, bearer=token)
    response.headers["Cache-Control"] = "no-store"
    created = _with_etag(response, views.tenant_view(result.tenant))
    created["admin_client"] = views.credentials_view(result.admin_credentials)
    return created


@router.get("/tenants", tags=["tenants"], summary="List tenants")
async def list_tenants(
    c: Clients,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    q: str = "",
    order_by: str = "",
) -> dict[str, Any]:
    result = await call(
        c.registry.ListTenants,
        pb.ListTenantsRequest(
            page=pb.Page(page_size=page_size, page_token=page_token), query=q, order_by=order_by
        ),
        bearer=token,
    )
    return _page(
        [views.tenant_view(t) for t in result.tenants], result.next_page_token, result.total
    )


@router.get("/tenants/{tenant}", tags=["tenants"], summary="Get a tenant")
async def get_tenant(tenant: str, c: Clients, token: Bearer, response: Response) -> dict[str, Any]:
    result = await call(c.registry.GetTenant, pb.GetTenantRequest(tenant=tenant), bearer=token)
    return _with_etag(response, views.tenant_view(result))


@router.patch("/tenants/{tenant}", tags=["tenants"], summary="Change a tenant")
async def update_tenant(
    tenant: str,
    body: m.TenantUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateTenantRequest(tenant=tenant, expected_version=expected_version(if_match))
    if body.display_name is not None:
        request.display_name = body.display_name
    if body.app_limit is not None:
        request.app_limit = body.app_limit
    _settings_patch(body, request)
    return _with_etag(
        response, views.tenant_view(await call(c.registry.UpdateTenant, request, bearer=token))
    )


# -- regions -------------------------------------------------------------------------------


@router.post("/regions", status_code=201, tags=["regions"], summary="Create a license region")
async def create_region(
    body: m.RegionCreate, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateRegionRequest(
        code=body.code,
        name=body.name,
        active=body.active,
        databases=[pb.RegionDatabase(db_code=d.db_code, active=d.active) for d in body.databases],
    )
    return _with_etag(
        response, views.region_view(await call(c.registry.CreateRegion, request, bearer=token))
    )


@router.get("/regions", tags=["regions"], summary="List license regions")
async def list_regions(
    c: Clients,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    active: bool | None = None,
) -> dict[str, Any]:
    request = pb.ListRegionsRequest(page=pb.Page(page_size=page_size, page_token=page_token))
    if active is not None:
        request.active = active
    result = await call(c.registry.ListRegions, request, bearer=token)
    return _page(
        [views.region_view(r) for r in result.regions], result.next_page_token, result.total
    )


@router.get("/regions/{region}", tags=["regions"], summary="Get a license region")
async def get_region(region: str, c: Clients, token: Bearer, response: Response) -> dict[str, Any]:
    result = await call(c.registry.GetRegion, pb.GetRegionRequest(region=region), bearer=token)
    return _with_etag(response, views.region_view(result))


@router.patch("/regions/{region}", tags=["regions"], summary="Rename or (de)activate a region")
async def update_region(
    region: str,
    body: m.RegionUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateRegionRequest(region=region, expected_version=expected_version(if_match))
    if body.name is not None:
        request.name = body.name
    if body.active is not None:
        request.active = body.active
    return _with_etag(
        response, views.region_view(await call(c.registry.UpdateRegion, request, bearer=token))
    )


@router.post(
    "/regions/{region}/databases",
    status_code=201,
    tags=["regions"],
    summary="Add a region database",
)
async def add_region_database(
    region: str, body: m.RegionDatabaseBody, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.AddRegionDatabaseRequest(region=region, db_code=body.db_code, active=body.active)
    return _with_etag(
        response, views.region_view(await call(c.registry.AddRegionDatabase, request, bearer=token))
    )


@router.patch(
    "/regions/{region}/databases/{db_code}",
    tags=["regions"],
    summary="(De)activate a region database",
)
async def set_region_database(
    region: str,
    db_code: str,
    body: m.RegionDatabaseUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
) -> dict[str, Any]:
    request = pb.SetRegionDatabaseActiveRequest(region=region, db_code=db_code, active=body.active)
    return _with_etag(
        response,
        views.region_view(await call(c.registry.SetRegionDatabaseActive, request, bearer=token)),
    )


# -- plans ---------------------------------------------------------------------------------


@router.post("/plans", status_code=201, tags=["plans"], summary="Create a plan")
async def create_plan(
    body: m.PlanCreate, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreatePlanRequest(code=body.code, name=body.name, limits=body.limits)
    return _with_etag(
        response, views.plan_view(await call(c.registry.CreatePlan, request, bearer=token))
    )


@router.get("/plans", tags=["plans"], summary="List plans")
async def list_plans(
    c: Clients, token: Bearer, page_size: PageSize = 0, page_token: PageToken = "", status: str = ""
) -> dict[str, Any]:
    result = await call(
        c.registry.ListPlans,
        pb.ListPlansRequest(
            page=pb.Page(page_size=page_size, page_token=page_token), status=status
        ),
        bearer=token,
    )
    return _page([views.plan_view(p) for p in result.plans], result.next_page_token, result.total)


@router.get("/plans/{plan}", tags=["plans"], summary="Get a plan")
async def get_plan(plan: str, c: Clients, token: Bearer, response: Response) -> dict[str, Any]:
    return _with_etag(
        response,
        views.plan_view(await call(c.registry.GetPlan, pb.GetPlanRequest(plan=plan), bearer=token)),
    )


@router.patch("/plans/{plan}", tags=["plans"], summary="Rename, retire or re-limit a plan")
async def update_plan(
    plan: str,
    body: m.PlanUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdatePlanRequest(plan=plan, expected_version=expected_version(if_match))
    if body.name is not None:
        request.name = body.name
    if body.status is not None:
        request.status = body.status
    if body.limits is not None:
        request.replace_limits = True
        request.limits.update(body.limits)
    return _with_etag(
        response, views.plan_view(await call(c.registry.UpdatePlan, request, bearer=token))
    )


@router.delete(
    "/regions/{region}",
    status_code=204,
    tags=["regions"],
    summary="Delete a license region (409 with blockers while apps use it)",
)
async def delete_region(
    region: str, c: Clients, token: Bearer, if_match: IfMatch = None
) -> Response:
    request = pb.DeleteRegionRequest(region=region, expected_version=expected_version(if_match))
    await call(c.registry.DeleteRegion, request, bearer=token)
    return Response(status_code=204)


@router.delete(
    "/plans/{plan}",
    status_code=204,
    tags=["plans"],
    summary="Delete a plan (409 with blockers while apps are on it; retire it instead)",
)
async def delete_plan(plan: str, c: Clients, token: Bearer, if_match: IfMatch = None) -> Response:
    request = pb.DeletePlanRequest(plan=plan, expected_version=expected_version(if_match))
    await call(c.registry.DeletePlan, request, bearer=token)
    return Response(status_code=204)


# -- apps ----------------------------------------------------------------------------------


def _storage_message(body: m.StorageBody) -> pb.StorageConfigInput:
    message = pb.StorageConfigInput(
        provider=STORAGE_PROVIDERS.to_wire(body.provider),
        access_key=body.access_key,
        secret_key=body.secret_key,
        bucket=body.bucket,
    )
    if body.endpoint is not None:
        message.endpoint = body.endpoint
    if body.region is not None:
        message.region = body.region
    return message


@router.post(
    "/tenants/{tenant}/apps",
    status_code=201,
    tags=["apps"],
    summary="Register an app; returns its client_secret once",
)
async def create_app(
    tenant: str, body: m.AppCreate, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateAppRequest(
        tenant=tenant,
        slug=body.slug,
        display_name=body.display_name,
        description=body.description,
        region=body.region,
        db_code=body.db_code,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        allowed_domains=body.allowed_domains,
        auto_grant_on_signup=body.auto_grant_on_signup,
        service_codes=body.service_codes,
        enabled=body.status == "active",
        grant_types=body.grant_types,
    )
    if body.plan:
        request.plan = body.plan
    if body.homepage_url is not None:
        request.homepage_url = body.homepage_url
    if body.storage is not None:
        request.storage.CopyFrom(_storage_message(body.storage))
    _settings(body.settings, request.settings)
    result = await call(c.registry.CreateApp, request, bearer=token)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/apps/{result.app.id}"
    return {
        **_with_etag(response, views.app_view(result.app)),
        **views.credentials_view(result.credentials),
    }


@router.get("/tenants/{tenant}/apps", tags=["apps"], summary="List a tenant's apps")
async def list_apps(
    tenant: str,
    c: Clients,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    enabled: bool | None = None,
    q: str = "",
    order_by: Annotated[
        str, Query(description="slug|display_name|created_at|updated_at, '-' = desc")
    ] = "",
) -> dict[str, Any]:
    request = pb.ListAppsRequest(
        tenant=tenant,
        page=pb.Page(page_size=page_size, page_token=page_token),
        query=q,
        order_by=order_by,
    )
    if enabled is not None:
        request.enabled = enabled
    result = await call(c.registry.ListApps, request, bearer=token)
    return _page([views.app_view(a) for a in result.apps], result.next_page_token, result.total)


@router.get("/tenants/{tenant}/apps/{app}", tags=["apps"], summary="Get an app (by id or slug)")
async def get_app(
    tenant: str, app: str, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    result = await call(c.registry.GetApp, pb.GetAppRequest(tenant=tenant, app=app), bearer=token)
    return _with_etag(response, views.app_view(result))


@router.patch(
    "/tenants/{tenant}/apps/{app}", tags=["apps"], summary="Change an app (the slug is immutable)"
)
async def update_app(
    tenant: str,
    app: str,
    body: m.AppUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateAppRequest(
        tenant=tenant, app=app, expected_version=expected_version(if_match)
    )
    if body.slug is not None:
        request.slug = body.slug  # the registry accepts it unchanged only (immutable)
    for name in ("display_name", "description", "enabled", "auto_grant_on_signup"):
        value = getattr(body, name)
        if value is not None:
            setattr(request, name, value)
    for name in (
        "redirect_uris",
        "post_logout_redirect_uris",
        "allowed_domains",
        "service_codes",
        "grant_types",
    ):
        value = getattr(body, name)
        if value is not None:
            getattr(request, name).values.extend(value)
            getattr(request, name).SetInParent()
    if "plan" in body.model_fields_set:
        request.plan = body.plan or ""
    if "homepage_url" in body.model_fields_set:
        request.homepage_url = body.homepage_url or ""
    if "storage" in body.model_fields_set:
        if body.storage is None:
            request.clear_storage = True
        else:
            request.storage.CopyFrom(_storage_message(body.storage))
    _settings_patch(body, request)
    return _with_etag(
        response, views.app_view(await call(c.registry.UpdateApp, request, bearer=token))
    )


@router.delete(
    "/tenants/{tenant}/apps/{app}",
    status_code=204,
    tags=["apps"],
    summary="Delete an app (409 with blockers while anything references it)",
)
async def delete_app(
    tenant: str, app: str, c: Clients, token: Bearer, if_match: IfMatch = None
) -> Response:
    await call(
        c.registry.DeleteApp,
        pb.DeleteAppRequest(tenant=tenant, app=app, expected_version=expected_version(if_match)),
        bearer=token,
    )
    return Response(status_code=204)


@router.post(
    "/tenants/{tenant}/apps/{app}/clone",
    status_code=201,
    tags=["apps"],
    summary="Clone an app under a new slug and name",
)
async def clone_app(
    tenant: str, app: str, body: m.AppClone, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CloneAppRequest(
        tenant=tenant,
        source_app=app,
        slug=body.slug,
        display_name=body.display_name,
        description=body.description or "",
        region=body.region,
        db_code=body.db_code,
    )
    result = await call(c.registry.CloneApp, request, bearer=token)
    response.headers["Cache-Control"] = "no-store"
    return {
        **_with_etag(response, views.app_view(result.app)),
        **views.credentials_view(result.credentials),
    }


@router.post(
    "/tenants/{tenant}/clients",
    status_code=201,
    tags=["clients"],
    summary="Create a client; a confidential client's secret is returned once",
)
async def create_client(
    tenant: str, body: m.ClientCreate, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateClientRequest(
        tenant=tenant,
        display_name=body.display_name,
        description=body.description,
        confidential=body.confidential,
        apps=body.apps,
        grant_types=body.grant_types,
        scopes=body.scopes,
        roles=body.roles,
    )
    result = await call(c.registry.CreateClient, request, bearer=token)
    response.headers["Cache-Control"] = "no-store"
    created = _with_etag(response, views.client_view(result.client))
    if result.HasField("credentials"):
        created["client_secret"] = result.credentials.client_secret
    return created


@router.get("/tenants/{tenant}/clients", tags=["clients"], summary="List a tenant's clients")
async def list_clients(
    tenant: str,
    c: Clients,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    app: Annotated[str, Query(description="Only clients serving this app (slug or id)")] = "",
) -> dict[str, Any]:
    request = pb.ListClientsRequest(
        tenant=tenant, page=pb.Page(page_size=page_size, page_token=page_token), app=app
    )
    result = await call(c.registry.ListClients, request, bearer=token)
    return _page(
        [views.client_view(x) for x in result.clients], result.next_page_token, result.total
    )


@router.get(
    "/tenants/{tenant}/clients/{client_id}",
    tags=["clients"],
    summary="Get a client (secret metadata only, never a secret)",
)
async def get_client(
    tenant: str, client_id: str, c: Clients, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.GetClientRequest(tenant=tenant, client_id=client_id)
    return _with_etag(
        response, views.client_view(await call(c.registry.GetClient, request, bearer=token))
    )


@router.patch(
    "/tenants/{tenant}/clients/{client_id}",
    tags=["clients"],
    summary="Change a client; lists given replace the current ones",
)
async def update_client(
    tenant: str,
    client_id: str,
    body: m.ClientUpdate,
    c: Clients,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateClientRequest(
        tenant=tenant, client_id=client_id, expected_version=expected_version(if_match)
    )
    for name in ("display_name", "description", "enabled"):
        value = getattr(body, name)
        if value is not None:
            setattr(request, name, value)
    for name in ("apps", "grant_types", "scopes", "roles"):
        value = getattr(body, name)
        if value is not None:
            getattr(request, name).SetInParent()
            getattr(request, name).values.extend(value)
    return _with_etag(
        response, views.client_view(await call(c.registry.UpdateClient, request, bearer=token))
    )


@router.post(
    "/tenants/{tenant}/clients/{client_id}/secret",
    tags=["clients"],
    summary="Regenerate a client secret; shown once",
)
async def regenerate_secret(
    tenant: str,
    client_id: str,
    c: Clients,
    token: Bearer,
    response: Response,
    body: m.SecretRegeneration | None = None,
) -> dict[str, Any]:
    grace = body.grace_period_seconds if body else 0
    result = await call(
        c.registry.RegenerateClientSecret,
        pb.RegenerateClientSecretRequest(
            tenant=tenant, client_id=client_id, grace_period_seconds=grace
        ),
        bearer=token,
    )
    response.headers["Cache-Control"] = "no-store"
    return views.credentials_view(result)


@router.delete(
    "/tenants/{tenant}/clients/{client_id}",
    status_code=204,
    tags=["clients"],
    summary="Delete a client and its secrets",
)
async def delete_client(tenant: str, client_id: str, c: Clients, token: Bearer) -> Response:
    request = pb.DeleteClientRequest(tenant=tenant, client_id=client_id)
    await call(c.registry.DeleteClient, request, bearer=token)
    return Response(status_code=204)


@router.get(
    "/tenants/{tenant}/audit-events", tags=["audit"], summary="Read the audit log (newest first)"
)
async def list_audit(
    tenant: str,
    c: Clients,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    action: str = "",
    target_id: str = "",
) -> dict[str, Any]:
    result = await call(
        c.registry.ListAuditEvents,
        pb.ListAuditEventsRequest(
            tenant=tenant,
            page=pb.Page(page_size=page_size, page_token=page_token),
            action=action,
            target_id=target_id,
        ),
        bearer=token,
    )
    return _page([views.audit_view(e) for e in result.events], result.next_page_token)
