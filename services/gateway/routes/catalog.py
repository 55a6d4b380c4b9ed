"""Admin REST routes of the catalog feature: permission catalogs, scopes, resource servers.

Translation only: HTTP → one CatalogService gRPC call on the registry → JSON. The caller's
bearer token is forwarded; the registry authenticates and authorises it. Errors come back as
RemoteError and are rendered once, as problem+json, by the app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from tessera.registry.v1 import catalog_pb2 as pb
from tessera.registry.v1 import catalog_pb2_grpc
from tessera.registry.v1 import registry_pb2 as registry_pb

from services.gateway.access import GatedRoute
from services.gateway.clients import GatewayClients, call
from services.gateway.routes import catalog_models as m
from services.gateway.routes.admin import Bearer, PageSize, PageToken

router = APIRouter(prefix="/api/v1", route_class=GatedRoute)


def catalog_stub(request: Request) -> catalog_pb2_grpc.CatalogServiceStub:
    """CatalogService is served by the registry, on the registry channel."""
    clients: GatewayClients = request.app.state.clients
    return clients.catalog


Catalog = Annotated[catalog_pb2_grpc.CatalogServiceStub, Depends(catalog_stub)]


def _time(message: Any, name: str) -> str | None:
    if not message.HasField(name):
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToJsonString()


def _page(items: list[dict[str, Any]], token: str, total: int) -> dict[str, Any]:
    return {"items": items, "next_page_token": token or None, "total": total}


def _referenced(message: pb.ReferencedEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": message.code,
        "roles": list(message.roles),
        "resource_servers": list(message.resource_servers),
    }
    if message.HasField("deprecated_at"):
        out["deprecated_at"] = _time(message, "deprecated_at")
    return out


def report_view(message: pb.ReconcileReport) -> dict[str, Any]:
    return {
        "service": message.service,
        "revision": message.revision,
        "dry_run": message.dry_run,
        "changed": message.changed,
        "created": list(message.created),
        "updated": list(message.updated),
        "renamed": [{"from": r.from_code, "to": r.to_code} for r in message.renamed],
        "unchanged": list(message.unchanged),
        "pruned": list(message.pruned),
        "blocked": [_referenced(b) for b in message.blocked],
        "pruned_with_grants": [_referenced(p) for p in message.pruned_with_grants],
    }


def permission_view(message: pb.PermissionEntry) -> dict[str, Any]:
    resource, _, action = message.code.partition(":")
    return {
        "id": message.id,
        "service": message.service,
        "code": message.code,
        "resource": resource,
        "action": action,
        "name": message.name,
        "description": message.description,
        "created_at": _time(message, "created_at"),
        "updated_at": _time(message, "updated_at"),
        "deprecated_at": _time(message, "deprecated_at"),
    }


def scope_view(message: pb.OAuthScope) -> dict[str, Any]:
    return {
        "id": message.id,
        "tenant": message.tenant,
        "name": message.name,
        "description": message.description,
        "app_id": message.app_id or None,
        "app_slug": message.app_slug or None,
        "created_at": _time(message, "created_at"),
    }


def resource_server_view(message: pb.ResourceServer) -> dict[str, Any]:
    return {
        "id": message.id,
        "tenant": message.tenant,
        "app_id": message.app_id,
        "app_slug": message.app_slug,
        "audience": message.audience,
        "name": message.name,
        "permissions": list(message.permissions),
        "whole_catalog": message.whole_catalog,
        "created_at": _time(message, "created_at"),
    }


def _declaration(body: m.PermissionBody) -> pb.PermissionDeclaration:
    message = pb.PermissionDeclaration(code=body.code, name=body.name, description=body.description)
    for name in ("renamed_from", "resource", "action"):
        value = getattr(body, name)
        if value is not None:
            setattr(message, name, value)
    return message


# -- permission catalog ----------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/permissions/register",
    tags=["permissions"],
    summary="Register (reconcile) a service's permission catalog",
    description="Upserts the declared entries and prunes the service's entries that are no "
    "longer declared; idempotent and safe when several replicas call it at boot. An entry "
    "that roles still grant is kept, deprecated and reported under `blocked` unless "
    "`force` is true (then it is pruned with its grants, reported under "
    "`pruned_with_grants`). `renamed_from` renames an entry in place. The service codes "
    "`tessera`, `control-plane` and `core` belong to the platform (403 SERVICE_RESERVED).",
)
async def register_permissions(
    tenant: str, body: m.RegisterPermissions, catalog: Catalog, token: Bearer
) -> dict[str, Any]:
    request = pb.RegisterPermissionsRequest(
        tenant=tenant,
        service=body.service,
        entries=[_declaration(p) for p in body.permissions],
        dry_run=body.dry_run,
        force=body.force,
    )
    return report_view(await call(catalog.RegisterPermissions, request, bearer=token))


@router.get(
    "/tenants/{tenant}/permissions",
    tags=["permissions"],
    summary="List catalog entries (by service, then code)",
)
async def list_permissions(
    tenant: str,
    catalog: Catalog,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    service: Annotated[str, Query(description="Only this service's entries")] = "",
    include_deprecated: bool = False,
) -> dict[str, Any]:
    request = pb.ListPermissionsRequest(
        tenant=tenant,
        service=service,
        include_deprecated=include_deprecated,
        page=registry_pb.Page(page_size=page_size, page_token=page_token),
    )
    result = await call(catalog.ListPermissions, request, bearer=token)
    return _page(
        [permission_view(p) for p in result.permissions], result.next_page_token, result.total
    )


# -- scopes ----------------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/scopes",
    status_code=201,
    tags=["scopes"],
    summary="Create an OAuth scope (tenant-wide or bound to one app)",
)
async def create_scope(
    tenant: str, body: m.ScopeCreate, catalog: Catalog, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateScopeRequest(
        tenant=tenant, name=body.name, description=body.description, app=body.app or ""
    )
    result = await call(catalog.CreateScope, request, bearer=token)
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/scopes/{result.name}"
    return scope_view(result)


@router.get("/tenants/{tenant}/scopes", tags=["scopes"], summary="List OAuth scopes")
async def list_scopes(
    tenant: str,
    catalog: Catalog,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    app: Annotated[str, Query(description="Only scopes bound to this app (id or slug)")] = "",
) -> dict[str, Any]:
    request = pb.ListScopesRequest(
        tenant=tenant,
        app=app,
        page=registry_pb.Page(page_size=page_size, page_token=page_token),
    )
    result = await call(catalog.ListScopes, request, bearer=token)
    return _page([scope_view(s) for s in result.scopes], result.next_page_token, result.total)


@router.delete(
    "/tenants/{tenant}/scopes/{name}",
    status_code=204,
    tags=["scopes"],
    summary="Delete a scope (409 SCOPE_IN_USE with blockers while clients hold it)",
)
async def delete_scope(tenant: str, name: str, catalog: Catalog, token: Bearer) -> Response:
    await call(catalog.DeleteScope, pb.DeleteScopeRequest(tenant=tenant, name=name), bearer=token)
    return Response(status_code=204)


# -- resource servers ------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/resource-servers",
    status_code=201,
    tags=["resource-servers"],
    summary="Provision a resource server (OAuth API) for an app",
)
async def create_resource_server(
    tenant: str,
    body: m.ResourceServerCreate,
    catalog: Catalog,
    token: Bearer,
    response: Response,
) -> dict[str, Any]:
    request = pb.CreateResourceServerRequest(
        tenant=tenant,
        app=body.app,
        audience=body.audience,
        name=body.name,
        permissions=body.permissions,
    )
    result = await call(catalog.CreateResourceServer, request, bearer=token)
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/resource-servers/{result.id}"
    return resource_server_view(result)


@router.get(
    "/tenants/{tenant}/resource-servers", tags=["resource-servers"], summary="List resource servers"
)
async def list_resource_servers(
    tenant: str,
    catalog: Catalog,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    app: Annotated[str, Query(description="Only this app's resource servers (id or slug)")] = "",
) -> dict[str, Any]:
    request = pb.ListResourceServersRequest(
        tenant=tenant,
        app=app,
        page=registry_pb.Page(page_size=page_size, page_token=page_token),
    )
    result = await call(catalog.ListResourceServers, request, bearer=token)
    return _page(
        [resource_server_view(s) for s in result.resource_servers],
        result.next_page_token,
        result.total,
    )


@router.get(
    "/tenants/{tenant}/resource-servers/{resource_server}",
    tags=["resource-servers"],
    summary="Get a resource server (by id)",
)
async def get_resource_server(
    tenant: str, resource_server: str, catalog: Catalog, token: Bearer
) -> dict[str, Any]:
    request = pb.GetResourceServerRequest(tenant=tenant, resource_server=resource_server)
    return resource_server_view(await call(catalog.GetResourceServer, request, bearer=token))


@router.patch(
    "/tenants/{tenant}/resource-servers/{resource_server}",
    tags=["resource-servers"],
    summary="Rename a resource server or replace its permission subset",
)
async def update_resource_server(
    tenant: str,
    resource_server: str,
    body: m.ResourceServerUpdate,
    catalog: Catalog,
    token: Bearer,
) -> dict[str, Any]:
    request = pb.UpdateResourceServerRequest(tenant=tenant, resource_server=resource_server)
    if body.name is not None:
        request.name = body.name
    if body.permissions is not None:
        request.permissions.SetInParent()
        request.permissions.values.extend(body.permissions)
    return resource_server_view(await call(catalog.UpdateResourceServer, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/resource-servers/{resource_server}",
    status_code=204,
    tags=["resource-servers"],
    summary="Delete a resource server",
)
async def delete_resource_server(
    tenant: str, resource_server: str, catalog: Catalog, token: Bearer
) -> Response:
    request = pb.DeleteResourceServerRequest(tenant=tenant, resource_server=resource_server)
    await call(catalog.DeleteResourceServer, request, bearer=token)
    return Response(status_code=204)
