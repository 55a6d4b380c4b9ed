"""OAuth scopes of a tenant, tenant-wide or bound to one app (Modgud seed, "Invite codes": the
app-bound ``invite:write`` scope). Names are unique per tenant; a scope that clients hold
cannot be deleted."""

from __future__ import annotations

from typing import Protocol

from services.common.access import needs
from services.common.auth import Principal
from services.common.errors import AlreadyExists, FailedPrecondition, NotFound, ValidationErrors
from services.registry.apps.lookup import app_of
from services.registry.apps.store import AppLookup
from services.registry.kernel.models import PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import validate_description
from services.registry.scopes.models import Scope
from services.registry.scopes.rules import validate_scope_name
from services.registry.scopes.store import ScopeStore

READ = needs("app:read")
WRITE = needs("app:write")


class ScopesTx(BaseTx, Protocol):
    @property
    def scopes(self) -> ScopeStore: ...
    @property
    def apps(self) -> AppLookup: ...


class ScopeUseCases(UseCases[ScopesTx]):
    async def create(
        self, principal: Principal, tenant: str, name: str, description: str, app_ref: str
    ) -> Scope:
        """Create a scope, tenant-wide or bound to one app. Side effects: audit
        ``scope.create``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            errors = ValidationErrors()
            checked_name = validate_scope_name(errors, name)
            checked_description = validate_description(errors, description)
            errors.raise_if_any()
            assert checked_name is not None
            assert checked_description is not None
            tx = scope.tx
            app = await app_of(tx.apps, scope.tenant, app_ref) if app_ref else None
            if await tx.scopes.get(scope.tenant.id, checked_name) is not None:
                raise AlreadyExists(
                    "SCOPE_TAKEN",
                    f"Tenant {scope.tenant.slug!r} already has a scope {checked_name!r}; scope "
                    "names are unique per tenant, so name app-bound scopes per app.",
                )
            created = Scope(
                id=new_id(),
                tenant_id=scope.tenant.id,
                tenant_slug=scope.tenant.slug,
                name=checked_name,
                description=checked_description,
                app_id=app.id if app else None,
                app_slug=app.slug if app else None,
                created_at=scope.now,
            )
            await tx.scopes.insert(created)
            await scope.audit(
                "scope.create", "scope", created.name, {"app": app.slug if app else None}
            )
            scope.publish("scope", created.id)
        return created

    async def search(
        self, principal: Principal, tenant: str, app_ref: str, size: int, offset: int
    ) -> PageOf[Scope]:
        async with self.read(principal, READ, tenant) as scope:
            page = page_request(size, offset)
            app = await app_of(scope.tx.apps, scope.tenant, app_ref) if app_ref else None
            return await scope.tx.scopes.search(scope.tenant.id, app.id if app else None, page)

    async def delete(self, principal: Principal, tenant: str, name: str) -> None:
        """Delete a scope nobody holds. Side effects: audit ``scope.delete``; change
        published."""
        async with self.write(principal, WRITE, tenant) as scope:
            found = await scope.tx.scopes.get(scope.tenant.id, name)
            if found is None:
                raise NotFound(
                    "SCOPE_NOT_FOUND", f"Tenant {scope.tenant.slug!r} has no scope {name!r}."
                )
            holders = [f"client:{c}" for c in await scope.tx.scopes.holders(found.id)]
            if holders:
                raise FailedPrecondition(
                    "SCOPE_IN_USE",
                    f"Scope {name!r} is still held by {', '.join(holders)}; remove it from "
                    "those clients first.",
                    blockers=holders,
                )
            await scope.tx.scopes.delete(found.id)
            await scope.audit("scope.delete", "scope", name)
            scope.publish("scope", found.id)
