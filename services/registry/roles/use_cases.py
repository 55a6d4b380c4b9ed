"""Roles of a tenant: bundles of catalog permissions, tenant-wide or bound to one app (Modgud
seed, "Roles with AppId"). System roles are the platform's and cannot be changed; a role that
users, groups or clients hold cannot be deleted; a caller changes only roles whose admin
permissions it holds itself and grants only what it holds (ARCHITECTURE §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from services.common.access import needs
from services.common.auth import Principal
from services.common.errors import FailedPrecondition, ValidationErrors
from services.registry.apps.lookup import app_of
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.catalog.store import CatalogLookup
from services.registry.kernel.concurrency import check_etag
from services.registry.kernel.escalation import ensure_no_escalation, ensure_outranks
from services.registry.kernel.models import PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import validate_description, validate_display_name
from services.registry.roles.lookup import role_grants, role_of
from services.registry.roles.models import PermissionRef, Role, RoleDraft, RolePatch
from services.registry.roles.rules import resolve_role_permissions, validate_role_code
from services.registry.roles.store import RoleStore

READ = needs("role:read")
WRITE = needs("role:write")


class RolesTx(BaseTx, Protocol):
    @property
    def roles(self) -> RoleStore: ...
    @property
    def apps(self) -> AppLookup: ...
    @property
    def catalog(self) -> CatalogLookup: ...


def _changeable(principal: Principal, role: Role, operation: str, expected_etag: str) -> None:
    """What every change to an existing role checks, in this order: not a system role
    (SYSTEM_ROLE), the caller outranks it (TARGET_OUTRANKS_CALLER), the ETag is current."""
    if role.system:
        raise FailedPrecondition(
            "SYSTEM_ROLE",
            f"{role.code!r} is a system role; it cannot be changed or deleted. Create a role of "
            "your own instead.",
        )
    ensure_outranks(
        principal, role_grants(role), target_type="role", target_id=role.id, operation=operation
    )
    check_etag(role.etag, expected_etag, "role")


class RoleUseCases(UseCases[RolesTx]):
    async def create(self, principal: Principal, tenant: str, draft: RoleDraft) -> Role:
        """Create a role, tenant-wide or bound to one app, with no permissions yet (see
        :meth:`set_permissions`). Side effects: audit ``role.create``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            owner = scope.tenant
            errors = ValidationErrors()
            code = validate_role_code(errors, draft.code)
            name = validate_display_name(errors, draft.name, field="name")
            description = validate_description(errors, draft.description)
            app: App | None = None
            if draft.app.strip():
                app = await scope.tx.apps.get(owner.id, draft.app.strip())
                if app is None:
                    errors.add(
                        "app", "APP_NOT_FOUND", f"Tenant {owner.slug!r} has no app {draft.app!r}."
                    )
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            assert description is not None
            role = Role(
                id=new_id(),
                tenant_id=owner.id,
                tenant_slug=owner.slug,
                code=code,
                name=name,
                description=description,
                app_id=app.id if app else None,
                app_slug=app.slug if app else None,
                permissions=(),
                created_at=scope.now,
            )
            await scope.tx.roles.insert(role)
            await scope.audit(
                "role.create", "role", role.id, {"code": code, "app": app.slug if app else None}
            )
            scope.publish("role", role.id)
        return role

    async def get(self, principal: Principal, tenant: str, role_ref: str) -> Role:
        async with self.read(principal, READ, tenant) as scope:
            return await role_of(scope.tx.roles, scope.tenant, role_ref)

    async def search(
        self, principal: Principal, tenant: str, size: int, offset: int, app_ref: str
    ) -> PageOf[Role]:
        """Roles ordered by code; with ``app_ref`` only the roles bound to that app."""
        async with self.read(principal, READ, tenant) as scope:
            page = page_request(size, offset)
            app = await app_of(scope.tx.apps, scope.tenant, app_ref) if app_ref.strip() else None
            return await scope.tx.roles.search(scope.tenant.id, page, app.id if app else None)

    async def update(
        self,
        principal: Principal,
        tenant: str,
        role_ref: str,
        patch: RolePatch,
        expected_etag: str,
    ) -> Role:
        """Rename or re-describe a role (code and app are fixed). Side effect: audit
        ``role.update``."""
        self.authorize(principal, WRITE, tenant)
        errors = ValidationErrors()
        name = (
            validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )
        description = (
            validate_description(errors, patch.description)
            if patch.description is not None
            else None
        )
        errors.raise_if_any()
        async with self.write(principal, WRITE, tenant) as scope:
            role = await role_of(scope.tx.roles, scope.tenant, role_ref, for_update=True)
            _changeable(principal, role, "role.update", expected_etag)
            updated = replace(
                role,
                name=role.name if name is None else name,
                description=role.description if description is None else description,
            )
            fields = [n for n in ("name", "description") if getattr(updated, n) != getattr(role, n)]
            if not fields:
                scope.unaudited("nothing changed")
                return role
            await scope.tx.roles.update(updated)
            await scope.audit("role.update", "role", role.id, {"fields": fields})
            scope.publish("role", role.id)
        return updated

    async def delete(
        self, principal: Principal, tenant: str, role_ref: str, expected_etag: str
    ) -> None:
        """Delete a role with its permission grants; refused while users, groups or clients
        hold it (ROLE_IN_USE, with blockers). Side effect: audit ``role.delete``."""
        async with self.write(principal, WRITE, tenant) as scope:
            roles = scope.tx.roles
            role = await role_of(roles, scope.tenant, role_ref, for_update=True)
            _changeable(principal, role, "role.delete", expected_etag)
            blockers = await roles.blockers(role.id)
            if blockers:
                raise FailedPrecondition(
                    "ROLE_IN_USE",
                    f"Role {role.code!r} is still assigned to {', '.join(blockers)}; unassign it "
                    "first.",
                    blockers=blockers,
                )
            await roles.delete(role.id)
            await scope.audit("role.delete", "role", role.id, {"code": role.code})
            scope.publish("role", role.id)

    async def set_permissions(
        self,
        principal: Principal,
        tenant: str,
        role_ref: str,
        refs: Sequence[PermissionRef],
        expected_etag: str,
    ) -> Role:
        """Replace the role's permissions with ``refs`` resolved against the tenant's catalog
        (services.registry.roles.rules.resolve_role_permissions: PERMISSION_NOT_FOUND,
        PERMISSION_OUTSIDE_APP, PERMISSION_DEPRECATED); new admin permissions must be the
        caller's own (ESCALATION). Side effect: audit ``role.permissions.set``."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            role = await role_of(tx.roles, owner, role_ref, for_update=True)
            _changeable(principal, role, "role.permissions.set", expected_etag)
            catalog = await tx.catalog.lookup(
                owner.id, [(r.service.strip(), r.code.strip()) for r in refs]
            )
            app_services = (
                (await app_of(tx.apps, owner, role.app_id)).service_codes
                if role.app_id is not None
                else None
            )
            held = {p.id for p in role.permissions}
            errors = ValidationErrors()
            entries = resolve_role_permissions(
                errors,
                refs,
                catalog,
                granted=held,
                app_services=app_services,
                app_slug=role.app_slug,
            )
            errors.raise_if_any()
            assert entries is not None
            if {e.id for e in entries} == held:
                scope.unaudited("nothing changed")
                return role
            ensure_no_escalation(
                principal,
                [(e.service, e.code) for e in entries if e.id not in held],
                target_type="role",
                target_id=role.id,
                operation="role.permissions.set",
            )
            await tx.roles.replace_permissions(role.id, [e.id for e in entries])
            await scope.audit(
                "role.permissions.set",
                "role",
                role.id,
                {"permissions": [f"{e.service}/{e.code}" for e in entries]},
            )
            scope.publish("role", role.id)
            return await role_of(tx.roles, owner, role.id)
