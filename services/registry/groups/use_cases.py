"""Groups of a tenant (Modgud seed, Group.BoundTo): they give their roles to their members in
the apps they are bound to (``["*"]`` = every app). Acting on a group takes ``user:write``;
changing what it grants takes ``role:write`` as well, and a caller acts only on groups whose
admin permissions it holds and grants only what it holds (ARCHITECTURE §7).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from services.common.access import Access, needs
from services.common.auth import Principal
from services.common.errors import NotFound, ValidationErrors
from services.common.vocabulary import ALL_APPS
from services.registry.apps.models import AppRef
from services.registry.apps.store import AppLookup
from services.registry.groups.models import Group, GroupDraft, GroupPatch
from services.registry.groups.rules import resolve_bound_to, resolve_roles, validate_group_code
from services.registry.groups.store import GroupStore
from services.registry.kernel.concurrency import check_etag
from services.registry.kernel.escalation import ensure_no_escalation, ensure_outranks
from services.registry.kernel.models import PageOf, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import validate_display_name
from services.registry.roles.lookup import role_grants, role_of
from services.registry.roles.store import RoleLookup
from services.registry.users.lookup import ensure_outranks_user, user_of
from services.registry.users.store import UserStore

READ = needs("user:read")
WRITE = needs("user:write")
# A group's roles are what its members receive: replacing them takes role:write as well.
SET_ROLES = needs("user:write", "role:write")

GroupChange = tuple[Group, str, dict[str, Any]] | None


class GroupsTx(BaseTx, Protocol):
    @property
    def groups(self) -> GroupStore: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def roles(self) -> RoleLookup: ...
    @property
    def apps(self) -> AppLookup: ...


async def group_of(
    groups: GroupStore, tenant: Tenant, ref: str, *, for_update: bool = False
) -> Group:
    found = await groups.get(tenant.id, ref.strip(), for_update=for_update)
    if found is None:
        raise NotFound(
            "GROUP_NOT_FOUND",
            f"Tenant {tenant.slug!r} has no group {ref!r} (give the group's id or code).",
        )
    return found


async def _outranks_group(principal: Principal, tx: GroupsTx, group: Group, operation: str) -> None:
    ensure_outranks(
        principal,
        await tx.roles.grants([r.id for r in group.roles]),
        target_type="group",
        target_id=group.id,
        operation=operation,
    )


async def _bound_to(
    tx: GroupsTx, tenant: Tenant, errors: ValidationErrors, values: Sequence[str]
) -> tuple[bool, list[AppRef]] | None:
    """The binding as stored: every app once, in slug order (so a binding re-sent in another
    order compares equal and changes nothing)."""
    refs = [v.strip() for v in values if v.strip() != ALL_APPS]
    known: Mapping[str, AppRef] = await tx.apps.find(tenant.id, refs) if refs else {}
    binding = resolve_bound_to(errors, values, known)
    if binding is None:
        return None
    all_apps, apps = binding
    return all_apps, sorted(apps, key=lambda a: a.slug)


class GroupUseCases(UseCases[GroupsTx]):
    async def create(self, principal: Principal, tenant: str, draft: GroupDraft) -> Group:
        """Create a group bound to apps (ids or slugs) or to every app (``["*"]``), with no
        roles yet. Unknown apps are reported per entry (``bound_to[1]`` APP_NOT_FOUND). Side
        effects: audit ``group.create``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            errors = ValidationErrors()
            code = validate_group_code(errors, draft.code)
            name = validate_display_name(errors, draft.name, field="name")
            binding = await _bound_to(tx, owner, errors, draft.bound_to)
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            assert binding is not None
            group = Group(
                id=new_id(),
                tenant_id=owner.id,
                tenant_slug=owner.slug,
                code=code,
                name=name,
                all_apps=binding[0],
                apps=tuple(binding[1]),
                roles=(),
                created_at=scope.now,
            )
            await tx.groups.insert(group)
            stored = await group_of(tx.groups, owner, group.id)  # apps in slug order
            await scope.audit(
                "group.create",
                "group",
                group.id,
                {"code": code, "bound_to": list(stored.bound_to)},
            )
            scope.publish("group", group.id)
        return stored

    async def get(self, principal: Principal, tenant: str, group_ref: str) -> Group:
        async with self.read(principal, READ, tenant) as scope:
            return await group_of(scope.tx.groups, scope.tenant, group_ref)

    async def search(
        self, principal: Principal, tenant: str, size: int, offset: int, query: str
    ) -> PageOf[Group]:
        async with self.read(principal, READ, tenant) as scope:
            page = page_request(size, offset)
            return await scope.tx.groups.search(scope.tenant.id, page, query.strip())

    async def _change(
        self,
        principal: Principal,
        tenant: str,
        access: Access,
        group_ref: str,
        expected_etag: str,
        operation: str,
        change: Callable[[GroupsTx, Tenant, Group], Awaitable[GroupChange]],
    ) -> Group:
        """One write on one group: lock it, make sure the caller outranks it, check the ETag,
        apply ``change``, audit, publish."""
        async with self.write(principal, access, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            group = await group_of(tx.groups, owner, group_ref, for_update=True)
            await _outranks_group(principal, tx, group, operation)
            check_etag(group.etag, expected_etag, "group")
            outcome = await change(tx, owner, group)
            if outcome is None:
                scope.unaudited("nothing changed")
                return group
            changed, action, details = outcome
            await tx.groups.update(changed)
            await scope.audit(action, "group", group.id, details)
            scope.publish("group", group.id)
            return await group_of(tx.groups, owner, group.id)

    async def update(
        self,
        principal: Principal,
        tenant: str,
        group_ref: str,
        patch: GroupPatch,
        expected_etag: str,
    ) -> Group:
        """Rename a group or replace its app binding. Side effect: audit ``group.update``."""
        self.authorize(principal, WRITE, tenant)
        errors = ValidationErrors()
        name = (
            validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )

        async def change(tx: GroupsTx, owner: Tenant, group: Group) -> GroupChange:
            updated = group if name is None else replace(group, name=name)
            if patch.bound_to is not None:
                binding = await _bound_to(tx, owner, errors, patch.bound_to)
                if binding is not None:
                    updated = replace(updated, all_apps=binding[0], apps=tuple(binding[1]))
            errors.raise_if_any()
            fields = [n for n in ("name", "bound_to") if getattr(updated, n) != getattr(group, n)]
            if not fields:
                return None
            return updated, "group.update", {"fields": fields, "bound_to": list(updated.bound_to)}

        return await self._change(
            principal, tenant, WRITE, group_ref, expected_etag, "group.update", change
        )

    async def set_roles(
        self,
        principal: Principal,
        tenant: str,
        group_ref: str,
        role_refs: Sequence[str],
        expected_etag: str,
    ) -> Group:
        """Replace the roles the group gives its members (role ids or codes; unknown ones are
        reported per entry, ``roles[0]`` ROLE_NOT_FOUND); added roles may carry only admin
        permissions the caller holds (ESCALATION). Side effect: audit ``group.roles.set``."""

        async def change(tx: GroupsTx, owner: Tenant, group: Group) -> GroupChange:
            errors = ValidationErrors()
            refs = [r.strip() for r in role_refs]
            known = await tx.roles.find(owner.id, refs) if refs else {}
            roles = resolve_roles(errors, role_refs, known)
            errors.raise_if_any()
            assert roles is not None
            current = {r.id for r in group.roles}
            if {r.id for r in roles} == current:
                return None
            for added in (r for r in roles if r.id not in current):
                full = await role_of(tx.roles, owner, added.id)
                ensure_no_escalation(
                    principal,
                    role_grants(full),
                    target_type="group",
                    target_id=group.id,
                    operation="group.roles.set",
                )
            updated = replace(group, roles=tuple(roles))
            return updated, "group.roles.set", {"roles": [r.code for r in roles]}

        return await self._change(
            principal, tenant, SET_ROLES, group_ref, expected_etag, "group.roles.set", change
        )

    async def delete(
        self, principal: Principal, tenant: str, group_ref: str, expected_etag: str
    ) -> None:
        """Delete a group; its members, app bindings and roles go with it. Side effect: audit
        ``group.delete``."""
        async with self.write(principal, WRITE, tenant) as scope:
            group = await group_of(scope.tx.groups, scope.tenant, group_ref, for_update=True)
            await _outranks_group(principal, scope.tx, group, "group.delete")
            check_etag(group.etag, expected_etag, "group")
            await scope.tx.groups.delete(group.id)
            await scope.audit("group.delete", "group", group.id, {"code": group.code})
            scope.publish("group", group.id)

    async def add_member(
        self, principal: Principal, tenant: str, group_ref: str, user_ref: str
    ) -> Group:
        """Add a user to a group (idempotent); joining gives the user the group's roles, so
        they may carry only admin permissions the caller holds. Side effect: audit
        ``group.member.add``."""
        return await self._member(principal, tenant, group_ref, user_ref, add=True)

    async def remove_member(
        self, principal: Principal, tenant: str, group_ref: str, user_ref: str
    ) -> Group:
        """Remove a user from a group (idempotent). Side effect: audit
        ``group.member.remove``."""
        return await self._member(principal, tenant, group_ref, user_ref, add=False)

    async def _member(
        self, principal: Principal, tenant: str, group_ref: str, user_ref: str, *, add: bool
    ) -> Group:
        operation = "group.member.add" if add else "group.member.remove"
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            group = await group_of(tx.groups, owner, group_ref)
            user = await user_of(tx.users, owner, user_ref)
            await ensure_outranks_user(principal, tx.users, user, operation)
            if add:
                ensure_no_escalation(
                    principal,
                    await tx.roles.grants([r.id for r in group.roles]),
                    target_type="group",
                    target_id=group.id,
                    operation=operation,
                )
                changed = await tx.groups.add_member(group.id, user.id)
            else:
                await _outranks_group(principal, tx, group, operation)
                changed = await tx.groups.remove_member(group.id, user.id)
            if changed:
                await scope.audit(
                    operation, "group", group.id, {"user_id": user.id, "email": user.email}
                )
                scope.publish("user", user.id)
            else:
                scope.unaudited("nothing changed")
        return group
