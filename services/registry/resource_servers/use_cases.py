"""Resource servers of an app (Modgud seed, "Provisioning the resource server"): the API that
accepts the app's tokens, named by an audience unique per tenant and gating on a subset of the
app's catalog (none = the whole catalog)."""

from __future__ import annotations

from typing import Protocol

from services.common.access import needs
from services.common.auth import Principal
from services.common.errors import AlreadyExists, NotFound, ValidationErrors
from services.registry.apps.lookup import app_of
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.catalog.store import CatalogEntries
from services.registry.kernel.models import PageOf, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import validate_display_name
from services.registry.resource_servers.models import (
    ResourceServer,
    ResourceServerDraft,
    ResourceServerPatch,
)
from services.registry.resource_servers.rules import app_named_by, subset_ids, validate_audience
from services.registry.resource_servers.store import ResourceServerStore

READ = needs("app:read")
WRITE = needs("app:write")


class ResourceServersTx(BaseTx, Protocol):
    @property
    def resource_servers(self) -> ResourceServerStore: ...
    @property
    def apps(self) -> AppLookup: ...
    @property
    def catalog(self) -> CatalogEntries: ...


async def server_of(tx: ResourceServersTx, tenant: Tenant, ref: str) -> ResourceServer:
    server = await tx.resource_servers.get(tenant.id, ref)
    if server is None:
        raise NotFound(
            "RESOURCE_SERVER_NOT_FOUND", f"Tenant {tenant.slug!r} has no resource server {ref!r}."
        )
    return server


async def _subset(
    tx: ResourceServersTx,
    errors: ValidationErrors,
    tenant: Tenant,
    app: App,
    codes: tuple[str, ...],
) -> list[str] | None:
    """The subset's entry ids; the entries stay share-locked until the unit of work ends, so
    a concurrent reconcile cannot prune them under the new subset."""
    if not codes:
        return []
    catalog = await tx.catalog.entries(tenant.id, app.service_codes, lock="share")
    return subset_ids(errors, codes, catalog, app)


class ResourceServerUseCases(UseCases[ResourceServersTx]):
    async def create(
        self, principal: Principal, tenant: str, draft: ResourceServerDraft
    ) -> ResourceServer:
        """Provision a resource server for an app. Side effects: audit
        ``resource_server.create``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            errors = ValidationErrors()
            if not draft.app.strip():
                errors.add(
                    "app",
                    "APP_REQUIRED",
                    "Name the app (id or slug) the resource server belongs to.",
                )
            audience = validate_audience(errors, draft.audience)
            name = validate_display_name(errors, draft.name, field="name")
            tx, owner = scope.tx, scope.tenant
            app = await app_of(tx.apps, owner, draft.app) if draft.app.strip() else None
            ids = await _subset(tx, errors, owner, app, draft.permissions) if app else None
            errors.raise_if_any()
            assert app is not None
            assert audience is not None
            assert name is not None
            assert ids is not None
            if await tx.resource_servers.get(owner.id, audience) is not None:
                raise AlreadyExists(
                    "AUDIENCE_TAKEN",
                    f"Tenant {owner.slug!r} already has a resource server with audience "
                    f"{audience!r}; audiences are unique per tenant.",
                )
            named = app_named_by(audience, owner.slug)
            named_app = await tx.apps.get(owner.id, named) if named else None
            if named_app is not None and named_app.id != app.id:
                # App X's tokens carry X's audience by default; another app's clients must not
                # be able to mint tokens that X's resource servers would accept.
                raise AlreadyExists(
                    "AUDIENCE_IS_ANOTHER_APP",
                    f"{audience!r} names app {named_app.slug!r}, whose tokens carry it as their "
                    "audience; choose an audience of this app's own.",
                )
            server = ResourceServer(
                id=new_id(),
                tenant_id=owner.id,
                tenant_slug=owner.slug,
                app_id=app.id,
                app_slug=app.slug,
                audience=audience,
                name=name,
                created_at=scope.now,
            )
            await tx.resource_servers.insert(server, ids)
            await scope.audit(
                "resource_server.create",
                "resource_server",
                server.id,
                {"app": app.slug, "audience": audience, "permissions": len(ids)},
            )
            scope.publish("resource_server", server.id)
            return await server_of(tx, owner, server.id)

    async def get(self, principal: Principal, tenant: str, ref: str) -> ResourceServer:
        async with self.read(principal, READ, tenant) as scope:
            return await server_of(scope.tx, scope.tenant, ref)

    async def search(
        self, principal: Principal, tenant: str, app_ref: str, size: int, offset: int
    ) -> PageOf[ResourceServer]:
        async with self.read(principal, READ, tenant) as scope:
            page = page_request(size, offset)
            app = await app_of(scope.tx.apps, scope.tenant, app_ref) if app_ref else None
            return await scope.tx.resource_servers.search(
                scope.tenant.id, app.id if app else None, page
            )

    async def update(
        self, principal: Principal, tenant: str, ref: str, patch: ResourceServerPatch
    ) -> ResourceServer:
        """Rename a resource server or replace its permission subset (audience and app are
        fixed). Side effects: audit ``resource_server.update``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            errors = ValidationErrors()
            name = (
                validate_display_name(errors, patch.name, field="name")
                if patch.name is not None
                else None
            )
            tx, owner = scope.tx, scope.tenant
            server = await server_of(tx, owner, ref)
            ids: list[str] | None = None
            if patch.permissions is not None:
                app = await app_of(tx.apps, owner, server.app_id)
                ids = await _subset(tx, errors, owner, app, patch.permissions)
            errors.raise_if_any()
            await tx.resource_servers.update(server.id, name or server.name, ids)
            fields = [k for k, v in (("name", name), ("permissions", ids)) if v is not None]
            await scope.audit(
                "resource_server.update", "resource_server", server.id, {"fields": fields}
            )
            scope.publish("resource_server", server.id)
            return await server_of(tx, owner, server.id)

    async def delete(self, principal: Principal, tenant: str, ref: str) -> None:
        """Delete a resource server and its subset. Side effects: audit
        ``resource_server.delete``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            server = await server_of(scope.tx, scope.tenant, ref)
            await scope.tx.resource_servers.delete(server.id)
            await scope.audit(
                "resource_server.delete",
                "resource_server",
                server.id,
                {"audience": server.audience, "app": server.app_slug},
            )
            scope.publish("resource_server", server.id)
