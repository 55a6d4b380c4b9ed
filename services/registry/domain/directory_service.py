"""Directory use cases: the tenant's user pool, roles, groups and app memberships.

ARCHITECTURE §2 "Roles, groups, users, memberships"; Vendidit seed §1/§6 (user_apps,
auto-grant, revoke bumps the token version); Modgud seed ("Roles with AppId", "Groups via
BoundTo", ``*`` = all apps).

Every public method: authorise (``user:*`` for users, groups and memberships, ``role:*`` for
roles, for the named tenant), validate reporting every bad field, run one unit of work that
also records the audit event, publish a change notification after commit. Side effects are
stated per method. Three writes bump the user's token version by exactly one, so tokens
carrying the old ``tv`` stop being accepted: disabling the user, "log out everywhere" and
revoking a membership.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from services.common.auth import Principal
from services.common.changes import Change, ChangeBus
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ValidationErrors,
)
from services.registry.domain import audit, rules
from services.registry.domain import directory_rules as dr
from services.registry.domain.concurrency import changed_concurrently, check_etag, check_version
from services.registry.domain.directory_models import (
    ALL_APPS,
    AUTO_GRANT_ACTOR,
    MEMBERSHIP_EXISTS,
    Admission,
    AppRef,
    Group,
    GroupDraft,
    GroupPatch,
    Membership,
    MembershipStatus,
    PermissionEntry,
    PermissionRef,
    Role,
    RoleDraft,
    RolePatch,
    RoleRef,
    User,
    UserDraft,
    UserPatch,
    UserStatus,
)
from services.registry.domain.escalation import (
    audits_denied_escalations,
    ensure_no_escalation,
    ensure_outranks,
)
from services.registry.domain.models import App, PageOf, PageRequest, Tenant
from services.registry.domain.paging import page_request
from services.registry.domain.ports import AuditStore

S = TypeVar("S", bound=StrEnum)


class DirectoryStore(AuditStore, Protocol):
    """The storage the directory needs, bound to one unit of work. Never commits.

    Every lookup is scoped to a tenant id (ARCHITECTURE §7: tenant isolation in every query).
    Inserts translate unique violations into AlreadyExists with a precise reason
    (EMAIL_TAKEN, ROLE_CODE_TAKEN, GROUP_CODE_TAKEN, MEMBERSHIP_EXISTS).
    """

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None: ...
    async def get_tenant_by_id(self, tenant_id: str) -> Tenant | None: ...
    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None: ...
    async def find_apps(self, tenant_id: str, refs: Sequence[str]) -> dict[str, AppRef]:
        """The apps among ``refs`` (ids or slugs), keyed by the reference that found them."""
        ...

    # users
    async def get_user(
        self, tenant_id: str, id_or_email_key: str, *, for_update: bool = False
    ) -> User | None: ...
    async def list_users(
        self, tenant_id: str, page: PageRequest, query: str, status: UserStatus | None
    ) -> PageOf[User]: ...
    async def username_taken(
        self, tenant_id: str, username: str, exclude_user_id: str | None
    ) -> bool: ...
    async def insert_user(self, user: User, password_hash: str | None) -> None: ...
    async def update_user(self, user: User, expected_version: int) -> bool:
        """Write every mutable column except the password hash; False if the stored version
        is not ``expected_version``."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None: ...
    async def delete_user(self, user_id: str) -> None:
        """Remove the user with its role assignments, group memberships and app memberships."""
        ...

    async def assign_user_role(self, user_id: str, role_id: str) -> bool: ...
    async def unassign_user_role(self, user_id: str, role_id: str) -> bool: ...
    async def user_grants(self, user_id: str) -> list[tuple[str, str]]:
        """(service, code) of every permission of the user's roles, direct or through any
        group, whatever app they are bound to."""
        ...

    async def role_grants(self, role_ids: list[str]) -> list[tuple[str, str]]:
        """(service, code) of every permission the roles carry."""
        ...

    # roles
    async def get_role(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Role | None: ...
    async def list_roles(
        self, tenant_id: str, page: PageRequest, app_id: str | None
    ) -> PageOf[Role]: ...
    async def find_roles(self, tenant_id: str, refs: Sequence[str]) -> dict[str, RoleRef]: ...
    async def insert_role(self, role: Role) -> None: ...
    async def update_role(self, role: Role) -> None:
        """Write name and description."""
        ...

    async def delete_role(self, role_id: str) -> None: ...
    async def role_blockers(self, role_id: str) -> list[str]:
        """``user:<email>``, ``group:<code>``, ``client:<client_id>`` still holding the role."""
        ...

    async def catalog_entries(
        self, tenant_id: str, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], PermissionEntry]: ...
    async def replace_role_permissions(
        self, role_id: str, permission_ids: Sequence[str]
    ) -> None: ...

    # groups
    async def get_group(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Group | None: ...
    async def list_groups(self, tenant_id: str, page: PageRequest, query: str) -> PageOf[Group]: ...
    async def insert_group(self, group: Group) -> None: ...
    async def update_group(self, group: Group) -> None:
        """Write name, binding (all apps / app list) and roles."""
        ...

    async def delete_group(self, group_id: str) -> None:
        """Remove the group with its members, app bindings and roles."""
        ...

    async def add_group_member(self, group_id: str, user_id: str) -> bool: ...
    async def remove_group_member(self, group_id: str, user_id: str) -> bool: ...

    # memberships
    async def get_membership(
        self, user_id: str, app_id: str, *, for_update: bool = False
    ) -> Membership | None: ...
    async def insert_membership(self, membership: Membership) -> None: ...
    async def update_membership(self, membership: Membership) -> None: ...
    async def list_memberships(
        self,
        tenant_id: str,
        page: PageRequest,
        *,
        user_id: str | None,
        app_id: str | None,
        status: MembershipStatus | None,
    ) -> PageOf[Membership]: ...


class DirectoryUnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[DirectoryStore]: ...


class PasswordHashing(Protocol):
    """argon2id (services.common.secrets.PasswordHasher); deliberately slow."""

    def hash(self, password: str) -> str: ...


def _new_id() -> str:
    return str(uuid.uuid4())


def _parse_status(value: str, kind: type[S], field: str = "status") -> S | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidArgument(
            "STATUS_INVALID", f"{field} must be one of {allowed} (or empty for all)."
        ) from None


class DirectoryService:
    def __init__(
        self,
        transaction: DirectoryUnitOfWork,
        read: DirectoryUnitOfWork,
        passwords: PasswordHashing,
        now: Callable[[], datetime],
        changes: ChangeBus,
    ) -> None:
        self._tx = transaction
        self._read = read
        self._passwords = passwords
        self._now = now
        self._changes = changes

    # -- helpers -----------------------------------------------------------------------------

    async def _audit(
        self,
        tx: DirectoryStore,
        principal: Principal,
        action: str,
        target_type: str,
        target_id: str,
        tenant: Tenant,
        details: dict[str, Any] | None = None,
    ) -> None:
        await audit.record(
            tx, principal, action, target_type, target_id, tenant, self._now(), details
        )

    async def _publish(self, tenant: Tenant, kind: str, target_id: str) -> None:
        await self._changes.publish(Change(tenant.slug, kind, target_id))

    async def _hash(self, password: str) -> str:
        # argon2id costs tens of milliseconds of CPU and 64 MiB: keep it off the event loop.
        return await asyncio.to_thread(self._passwords.hash, password)

    @staticmethod
    async def _tenant(tx: DirectoryStore, slug: str) -> Tenant:
        tenant = await tx.get_tenant(slug)
        if tenant is None:
            raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {slug!r}.")
        return tenant

    @staticmethod
    async def _user(
        tx: DirectoryStore, tenant: Tenant, ref: str, *, for_update: bool = False
    ) -> User:
        found = await tx.get_user(tenant.id, dr.email_key(ref.strip()), for_update=for_update)
        if found is None:
            raise NotFound(
                "USER_NOT_FOUND",
                f"Tenant {tenant.slug!r} has no user {ref!r} (give the user's id or email).",
            )
        return found

    @staticmethod
    async def _role(
        tx: DirectoryStore, tenant: Tenant, ref: str, *, for_update: bool = False
    ) -> Role:
        found = await tx.get_role(tenant.id, ref.strip(), for_update=for_update)
        if found is None:
            raise NotFound(
                "ROLE_NOT_FOUND",
                f"Tenant {tenant.slug!r} has no role {ref!r} (give the role's id or code).",
            )
        return found

    @staticmethod
    async def _group(
        tx: DirectoryStore, tenant: Tenant, ref: str, *, for_update: bool = False
    ) -> Group:
        found = await tx.get_group(tenant.id, ref.strip(), for_update=for_update)
        if found is None:
            raise NotFound(
                "GROUP_NOT_FOUND",
                f"Tenant {tenant.slug!r} has no group {ref!r} (give the group's id or code).",
            )
        return found

    @staticmethod
    async def _app(tx: DirectoryStore, tenant: Tenant, ref: str) -> App:
        found = await tx.get_app(tenant.id, ref.strip())
        if found is None:
            raise NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {ref!r}.")
        return found

    @staticmethod
    async def _outranks_user(
        principal: Principal, tx: DirectoryStore, user: User, operation: str
    ) -> None:
        ensure_outranks(
            principal,
            await tx.user_grants(user.id),
            target_type="user",
            target_id=user.id,
            operation=operation,
        )

    @staticmethod
    def _outranks_role(principal: Principal, role: Role, operation: str) -> None:
        ensure_outranks(
            principal,
            [(p.service, p.code) for p in role.permissions],
            target_type="role",
            target_id=role.id,
            operation=operation,
        )

    @staticmethod
    async def _group_grants(tx: DirectoryStore, group: Group) -> list[tuple[str, str]]:
        return await tx.role_grants([r.id for r in group.roles])

    async def _outranks_group(
        self, principal: Principal, tx: DirectoryStore, group: Group, operation: str
    ) -> None:
        ensure_outranks(
            principal,
            await self._group_grants(tx, group),
            target_type="group",
            target_id=group.id,
            operation=operation,
        )

    @staticmethod
    def _system_role(role: Role) -> None:
        if role.system:
            raise FailedPrecondition(
                "SYSTEM_ROLE",
                f"{role.code!r} is a system role; it cannot be changed or deleted. Create a role "
                "of your own instead.",
            )

    # -- users -------------------------------------------------------------------------------

    async def create_user(self, principal: Principal, tenant_slug: str, draft: UserDraft) -> User:
        """Add a user to the tenant's pool: active, token version 1, passwordless unless a
        password is given (stored as an argon2id hash only). Side effect: audit
        ``user.create``."""
        principal.require("user:write", tenant_slug)
        errors = ValidationErrors()
        email = dr.validate_email(errors, draft.email)
        first = dr.validate_person_name(errors, draft.first_name or "", field="first_name")
        last = dr.validate_person_name(errors, draft.last_name or "", field="last_name")
        username = dr.validate_username(errors, draft.username or "")
        password = (
            dr.validate_password(errors, draft.password, email=email)
            if draft.password is not None
            else None
        )
        errors.raise_if_any()
        assert email is not None
        password_hash = await self._hash(password) if password is not None else None
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            if username and await tx.username_taken(tenant.id, username, None):
                raise AlreadyExists(
                    "USERNAME_TAKEN", f"Another user of this tenant has the username {username!r}."
                )
            user = User(
                id=_new_id(),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                email=email,
                email_verified=draft.email_verified,
                first_name=first or None,
                last_name=last or None,
                username=username or None,
                has_password=password_hash is not None,
                status=UserStatus.ACTIVE,
                token_version=1,
                version=1,
                created_at=now,
                updated_at=now,
            )
            await tx.insert_user(user, password_hash)
            await self._audit(
                tx,
                principal,
                "user.create",
                "user",
                user.id,
                tenant,
                {"email": email, "passwordless": password_hash is None},
            )
        await self._publish(tenant, "user", user.id)
        return user

    async def get_user(self, principal: Principal, tenant_slug: str, user_ref: str) -> User:
        principal.require("user:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._user(tx, tenant, user_ref)

    async def list_users(
        self,
        principal: Principal,
        tenant_slug: str,
        size: int,
        offset: int,
        query: str,
        status: str,
    ) -> PageOf[User]:
        """Users ordered by email; ``query`` matches a substring of email, names or username."""
        principal.require("user:read", tenant_slug)
        wanted = _parse_status(status, UserStatus)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await tx.list_users(tenant.id, page, query.strip(), wanted)

    async def _change_user(
        self,
        principal: Principal,
        tenant_slug: str,
        user_ref: str,
        expected_version: int,
        operation: str,
        change: Callable[
            [DirectoryStore, Tenant, User], Awaitable[tuple[User, str, dict[str, Any]] | None]
        ],
    ) -> User:
        """One write on one user row: lock it, make sure the caller outranks the user (no
        escalation), check the version, apply ``change`` (which returns the new state, the
        audit action and details, or None for a no-op), bump the version, audit, publish."""
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref, for_update=True)
            await self._outranks_user(principal, tx, user, operation)
            check_version(user.version, expected_version, "user")
            outcome = await change(tx, tenant, user)
            if outcome is None:
                return user
            updated, action, details = outcome
            updated = replace(updated, version=user.version + 1, updated_at=self._now())
            if not await tx.update_user(updated, user.version):
                raise changed_concurrently("user")
            await self._audit(tx, principal, action, "user", user.id, tenant, details)
        await self._publish(tenant, "user", user.id)
        return updated

    @audits_denied_escalations
    async def update_user(
        self,
        principal: Principal,
        tenant_slug: str,
        user_ref: str,
        patch: UserPatch,
        expected_version: int,
    ) -> User:
        """Change email, names, username or email_verified. A new email is re-checked for
        uniqueness (EMAIL_TAKEN) and resets ``email_verified`` unless the patch sets it.
        Side effect: audit ``user.update`` naming the changed fields."""
        principal.require("user:write", tenant_slug)
        errors = ValidationErrors()
        email = dr.validate_email(errors, patch.email) if patch.email is not None else None
        first = (
            dr.validate_person_name(errors, patch.first_name, field="first_name")
            if patch.first_name is not None
            else None
        )
        last = (
            dr.validate_person_name(errors, patch.last_name, field="last_name")
            if patch.last_name is not None
            else None
        )
        username = (
            dr.validate_username(errors, patch.username) if patch.username is not None else None
        )
        errors.raise_if_any()

        async def change(
            tx: DirectoryStore, tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            updated = user
            if email is not None and email != user.email:
                updated = replace(updated, email=email, email_verified=False)
            if first is not None:
                updated = replace(updated, first_name=first or None)
            if last is not None:
                updated = replace(updated, last_name=last or None)
            if username is not None and (username or None) != user.username:
                if username and await tx.username_taken(tenant.id, username, user.id):
                    raise AlreadyExists(
                        "USERNAME_TAKEN",
                        f"Another user of this tenant has the username {username!r}.",
                    )
                updated = replace(updated, username=username or None)
            if patch.email_verified is not None:
                updated = replace(updated, email_verified=patch.email_verified)
            fields = [
                name
                for name in ("email", "email_verified", "first_name", "last_name", "username")
                if getattr(updated, name) != getattr(user, name)
            ]
            if not fields:
                return None
            return updated, "user.update", {"fields": fields}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.update", change
        )

    @audits_denied_escalations
    async def set_password(
        self,
        principal: Principal,
        tenant_slug: str,
        user_ref: str,
        password: str,
        expected_version: int,
    ) -> User:
        """Set or replace the user's password (12-256 characters, not the email), stored as an
        argon2id hash. Sessions are not ended: follow with :meth:`logout_everywhere` to do
        that. Side effect: audit ``user.password.set``."""
        principal.require("user:write", tenant_slug)
        async with self._read() as tx:
            current = await self._user(tx, await self._tenant(tx, tenant_slug), user_ref)
        rules.checked(dr.validate_password, password, email=current.email)
        password_hash = await self._hash(password)

        async def change(
            tx: DirectoryStore, _tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            if user.email != current.email:  # changed meanwhile: check against the new one
                rules.checked(dr.validate_password, password, email=user.email)
            await tx.set_password_hash(user.id, password_hash)
            return replace(user, has_password=True), "user.password.set", {}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.password.set", change
        )

    @audits_denied_escalations
    async def clear_password(
        self, principal: Principal, tenant_slug: str, user_ref: str, expected_version: int
    ) -> User:
        """Make the user passwordless (sign-in by one-time code only). No-op when already
        passwordless. Side effect: audit ``user.password.clear``."""

        async def change(
            tx: DirectoryStore, _tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            if not user.has_password:
                return None
            await tx.set_password_hash(user.id, None)
            return replace(user, has_password=False), "user.password.clear", {}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.password.clear", change
        )

    @audits_denied_escalations
    async def disable_user(
        self, principal: Principal, tenant_slug: str, user_ref: str, expected_version: int
    ) -> User:
        """Disable the user and bump the token version by one (ARCHITECTURE §2): their tokens
        stop being accepted and they are no longer admitted to any app. No-op when already
        disabled. Side effect: audit ``user.disable``."""

        async def change(
            _tx: DirectoryStore, _tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            if user.status is UserStatus.DISABLED:
                return None
            updated = replace(
                user, status=UserStatus.DISABLED, token_version=user.token_version + 1
            )
            return updated, "user.disable", {"token_version": updated.token_version}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.disable", change
        )

    @audits_denied_escalations
    async def enable_user(
        self, principal: Principal, tenant_slug: str, user_ref: str, expected_version: int
    ) -> User:
        """Re-enable a disabled user (tokens minted before disabling stay invalid: the token
        version is not rolled back). No-op when active. Side effect: audit ``user.enable``."""

        async def change(
            _tx: DirectoryStore, _tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            if user.status is UserStatus.ACTIVE:
                return None
            return replace(user, status=UserStatus.ACTIVE), "user.enable", {}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.enable", change
        )

    @audits_denied_escalations
    async def logout_everywhere(
        self, principal: Principal, tenant_slug: str, user_ref: str, expected_version: int
    ) -> User:
        """Bump the token version by one: every token the user holds, in every app, stops
        being accepted at its next use. Side effect: audit ``user.logout_everywhere``."""

        async def change(
            _tx: DirectoryStore, _tenant: Tenant, user: User
        ) -> tuple[User, str, dict[str, Any]] | None:
            updated = replace(user, token_version=user.token_version + 1)
            return updated, "user.logout_everywhere", {"token_version": updated.token_version}

        return await self._change_user(
            principal, tenant_slug, user_ref, expected_version, "user.logout_everywhere", change
        )

    @audits_denied_escalations
    async def delete_user(
        self, principal: Principal, tenant_slug: str, user_ref: str, expected_version: int
    ) -> None:
        """Delete the user with their role assignments, group and app memberships. Side
        effect: audit ``user.delete``."""
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref, for_update=True)
            await self._outranks_user(principal, tx, user, "user.delete")
            check_version(user.version, expected_version, "user")
            await tx.delete_user(user.id)
            await self._audit(
                tx, principal, "user.delete", "user", user.id, tenant, {"email": user.email}
            )
        await self._publish(tenant, "user", user.id)

    async def _user_role(
        self, principal: Principal, tenant_slug: str, user_ref: str, role_ref: str, assign: bool
    ) -> User:
        principal.require("user:write", tenant_slug)
        if assign:
            principal.require("role:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref)
            role = await self._role(tx, tenant, role_ref)
            operation = "user.role.assign" if assign else "user.role.unassign"
            await self._outranks_user(principal, tx, user, operation)
            if assign:
                ensure_no_escalation(
                    principal,
                    [(p.service, p.code) for p in role.permissions],
                    target_type="user",
                    target_id=user.id,
                    operation=operation,
                )
                changed = await tx.assign_user_role(user.id, role.id)
            else:
                changed = await tx.unassign_user_role(user.id, role.id)
            if changed:
                action = "user.role.assign" if assign else "user.role.unassign"
                await self._audit(
                    tx, principal, action, "user", user.id, tenant, {"role": role.code}
                )
            stored = await self._user(tx, tenant, user.id)
        if changed:
            await self._publish(tenant, "user", user.id)
        return stored

    @audits_denied_escalations
    async def assign_user_role(
        self, principal: Principal, tenant_slug: str, user_ref: str, role_ref: str
    ) -> User:
        """Give the user a role directly (idempotent). Side effect: audit ``user.role.assign``
        when it was not assigned yet."""
        return await self._user_role(principal, tenant_slug, user_ref, role_ref, True)

    @audits_denied_escalations
    async def unassign_user_role(
        self, principal: Principal, tenant_slug: str, user_ref: str, role_ref: str
    ) -> User:
        """Take a directly assigned role away (idempotent; roles through groups stay). Side
        effect: audit ``user.role.unassign`` when it was assigned."""
        return await self._user_role(principal, tenant_slug, user_ref, role_ref, False)

    # -- roles -------------------------------------------------------------------------------

    async def create_role(self, principal: Principal, tenant_slug: str, draft: RoleDraft) -> Role:
        """Create a role, tenant-wide or bound to one app (Modgud "Roles with AppId"), with no
        permissions yet (see :meth:`set_role_permissions`). Side effect: audit ``role.create``."""
        principal.require("role:write", tenant_slug)
        errors = ValidationErrors()
        code = dr.validate_role_code(errors, draft.code)
        name = rules.validate_display_name(errors, draft.name, field="name")
        description = rules.validate_description(errors, draft.description)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app: App | None = None
            if draft.app.strip():
                app = await tx.get_app(tenant.id, draft.app.strip())
                if app is None:
                    errors.add(
                        "app", "APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {draft.app!r}."
                    )
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            assert description is not None
            role = Role(
                id=_new_id(),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                code=code,
                name=name,
                description=description,
                app_id=app.id if app else None,
                app_slug=app.slug if app else None,
                permissions=(),
                created_at=self._now(),
            )
            await tx.insert_role(role)
            await self._audit(
                tx,
                principal,
                "role.create",
                "role",
                role.id,
                tenant,
                {"code": code, "app": app.slug if app else None},
            )
        await self._publish(tenant, "role", role.id)
        return role

    async def get_role(self, principal: Principal, tenant_slug: str, role_ref: str) -> Role:
        principal.require("role:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._role(tx, tenant, role_ref)

    async def list_roles(
        self, principal: Principal, tenant_slug: str, size: int, offset: int, app_ref: str
    ) -> PageOf[Role]:
        """Roles ordered by code; with ``app_ref`` only the roles bound to that app."""
        principal.require("role:read", tenant_slug)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app_id = (await self._app(tx, tenant, app_ref)).id if app_ref.strip() else None
            return await tx.list_roles(tenant.id, page, app_id)

    @audits_denied_escalations
    async def update_role(
        self,
        principal: Principal,
        tenant_slug: str,
        role_ref: str,
        patch: RolePatch,
        expected_etag: str,
    ) -> Role:
        """Rename or re-describe a role (code and app are fixed). System roles are refused
        (SYSTEM_ROLE). Side effect: audit ``role.update``."""
        principal.require("role:write", tenant_slug)
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )
        description = (
            rules.validate_description(errors, patch.description)
            if patch.description is not None
            else None
        )
        errors.raise_if_any()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            role = await self._role(tx, tenant, role_ref, for_update=True)
            self._system_role(role)
            self._outranks_role(principal, role, "role.update")
            check_etag(role.etag, expected_etag, "role")
            updated = replace(
                role,
                name=role.name if name is None else name,
                description=role.description if description is None else description,
            )
            fields = [n for n in ("name", "description") if getattr(updated, n) != getattr(role, n)]
            if not fields:
                return role
            await tx.update_role(updated)
            await self._audit(
                tx, principal, "role.update", "role", role.id, tenant, {"fields": fields}
            )
        await self._publish(tenant, "role", role.id)
        return updated

    @audits_denied_escalations
    async def delete_role(
        self, principal: Principal, tenant_slug: str, role_ref: str, expected_etag: str
    ) -> None:
        """Delete a role with its permission grants. Refused for system roles (SYSTEM_ROLE) and
        while users, groups or clients hold it (ROLE_IN_USE, with blockers). Side effect: audit
        ``role.delete``."""
        principal.require("role:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            role = await self._role(tx, tenant, role_ref, for_update=True)
            self._system_role(role)
            self._outranks_role(principal, role, "role.delete")
            check_etag(role.etag, expected_etag, "role")
            blockers = await tx.role_blockers(role.id)
            if blockers:
                raise FailedPrecondition(
                    "ROLE_IN_USE",
                    f"Role {role.code!r} is still assigned to {', '.join(blockers)}; unassign it "
                    "first.",
                    blockers=blockers,
                )
            await tx.delete_role(role.id)
            await self._audit(
                tx, principal, "role.delete", "role", role.id, tenant, {"code": role.code}
            )
        await self._publish(tenant, "role", role.id)

    @audits_denied_escalations
    async def set_role_permissions(
        self,
        principal: Principal,
        tenant_slug: str,
        role_ref: str,
        refs: Sequence[PermissionRef],
        expected_etag: str,
    ) -> Role:
        """Replace the role's permissions with ``refs`` resolved against the tenant's catalog
        (see :func:`directory_rules.resolve_role_permissions` for PERMISSION_NOT_FOUND,
        PERMISSION_OUTSIDE_APP and PERMISSION_DEPRECATED). Side effect: audit
        ``role.permissions.set``."""
        principal.require("role:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            role = await self._role(tx, tenant, role_ref, for_update=True)
            self._system_role(role)
            self._outranks_role(principal, role, "role.permissions.set")
            check_etag(role.etag, expected_etag, "role")
            catalog = await tx.catalog_entries(
                tenant.id, [(r.service.strip(), r.code.strip()) for r in refs]
            )
            app_services: tuple[str, ...] | None = None
            if role.app_id is not None:
                app_services = (await self._app(tx, tenant, role.app_id)).service_codes
            errors = ValidationErrors()
            entries = dr.resolve_role_permissions(
                errors,
                refs,
                catalog,
                granted={p.id for p in role.permissions},
                app_services=app_services,
                app_slug=role.app_slug,
            )
            errors.raise_if_any()
            assert entries is not None
            held = {p.id for p in role.permissions}
            ensure_no_escalation(
                principal,
                [(e.service, e.code) for e in entries if e.id not in held],
                target_type="role",
                target_id=role.id,
                operation="role.permissions.set",
            )
            await tx.replace_role_permissions(role.id, [e.id for e in entries])
            await self._audit(
                tx,
                principal,
                "role.permissions.set",
                "role",
                role.id,
                tenant,
                {"permissions": [f"{e.service}/{e.code}" for e in entries]},
            )
            stored = await self._role(tx, tenant, role.id)
        await self._publish(tenant, "role", role.id)
        return stored

    # -- groups ------------------------------------------------------------------------------

    @staticmethod
    async def _bound_to(
        tx: DirectoryStore, tenant: Tenant, errors: ValidationErrors, values: Sequence[str]
    ) -> tuple[bool, list[AppRef]] | None:
        refs = [v.strip() for v in values if v.strip() != ALL_APPS]
        known: Mapping[str, AppRef] = await tx.find_apps(tenant.id, refs) if refs else {}
        return dr.resolve_bound_to(errors, values, known)

    async def create_group(
        self, principal: Principal, tenant_slug: str, draft: GroupDraft
    ) -> Group:
        """Create a group bound to apps (ids or slugs) or to every app (``["*"]``). Unknown
        apps are reported per entry (``bound_to[1]`` APP_NOT_FOUND). Side effect: audit
        ``group.create``."""
        principal.require("user:write", tenant_slug)
        errors = ValidationErrors()
        code = dr.validate_group_code(errors, draft.code)
        name = rules.validate_display_name(errors, draft.name, field="name")
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            binding = await self._bound_to(tx, tenant, errors, draft.bound_to)
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            assert binding is not None
            group = Group(
                id=_new_id(),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                code=code,
                name=name,
                all_apps=binding[0],
                apps=tuple(binding[1]),
                roles=(),
                created_at=self._now(),
            )
            await tx.insert_group(group)
            group = await self._group(tx, tenant, group.id)  # as stored: apps in slug order
            await self._audit(
                tx,
                principal,
                "group.create",
                "group",
                group.id,
                tenant,
                {"code": code, "bound_to": list(group.bound_to)},
            )
        await self._publish(tenant, "group", group.id)
        return group

    async def get_group(self, principal: Principal, tenant_slug: str, group_ref: str) -> Group:
        principal.require("user:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._group(tx, tenant, group_ref)

    async def list_groups(
        self, principal: Principal, tenant_slug: str, size: int, offset: int, query: str
    ) -> PageOf[Group]:
        principal.require("user:read", tenant_slug)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await tx.list_groups(tenant.id, page, query.strip())

    async def _change_group(
        self,
        principal: Principal,
        tenant_slug: str,
        group_ref: str,
        expected_etag: str,
        operation: str,
        change: Callable[
            [DirectoryStore, Tenant, Group], Awaitable[tuple[Group, str, dict[str, Any]] | None]
        ],
    ) -> Group:
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            group = await self._group(tx, tenant, group_ref, for_update=True)
            await self._outranks_group(principal, tx, group, operation)
            check_etag(group.etag, expected_etag, "group")
            outcome = await change(tx, tenant, group)
            if outcome is None:
                return group
            changed, action, details = outcome
            await tx.update_group(changed)
            await self._audit(tx, principal, action, "group", group.id, tenant, details)
            updated = await self._group(tx, tenant, group.id)
        await self._publish(tenant, "group", group.id)
        return updated

    @audits_denied_escalations
    async def update_group(
        self,
        principal: Principal,
        tenant_slug: str,
        group_ref: str,
        patch: GroupPatch,
        expected_etag: str,
    ) -> Group:
        """Rename a group or replace its app binding. Side effect: audit ``group.update``."""
        principal.require("user:write", tenant_slug)
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )

        async def change(
            tx: DirectoryStore, tenant: Tenant, group: Group
        ) -> tuple[Group, str, dict[str, Any]] | None:
            updated = group if name is None else replace(group, name=name)
            if patch.bound_to is not None:
                binding = await self._bound_to(tx, tenant, errors, patch.bound_to)
                if binding is not None:
                    updated = replace(updated, all_apps=binding[0], apps=tuple(binding[1]))
            errors.raise_if_any()
            fields = [n for n in ("name", "bound_to") if getattr(updated, n) != getattr(group, n)]
            if not fields:
                return None
            return updated, "group.update", {"fields": fields, "bound_to": list(updated.bound_to)}

        return await self._change_group(
            principal, tenant_slug, group_ref, expected_etag, "group.update", change
        )

    @audits_denied_escalations
    async def set_group_roles(
        self,
        principal: Principal,
        tenant_slug: str,
        group_ref: str,
        role_refs: Sequence[str],
        expected_etag: str,
    ) -> Group:
        """Replace the roles the group gives its members (role ids or codes; unknown ones are
        reported per entry, ``roles[0]`` ROLE_NOT_FOUND). Side effect: audit
        ``group.roles.set``."""

        async def change(
            tx: DirectoryStore, tenant: Tenant, group: Group
        ) -> tuple[Group, str, dict[str, Any]] | None:
            errors = ValidationErrors()
            refs = [r.strip() for r in role_refs]
            known = await tx.find_roles(tenant.id, refs) if refs else {}
            roles = dr.resolve_roles(errors, role_refs, known)
            errors.raise_if_any()
            assert roles is not None
            principal.require("role:write", tenant_slug)
            current = {r.id for r in group.roles}
            for added in (r for r in roles if r.id not in current):
                full = await self._role(tx, tenant, added.id)
                ensure_no_escalation(
                    principal,
                    [(p.service, p.code) for p in full.permissions],
                    target_type="group",
                    target_id=group.id,
                    operation="group.roles.set",
                )
            updated = replace(group, roles=tuple(roles))
            return updated, "group.roles.set", {"roles": [r.code for r in roles]}

        return await self._change_group(
            principal, tenant_slug, group_ref, expected_etag, "group.roles.set", change
        )

    @audits_denied_escalations
    async def delete_group(
        self, principal: Principal, tenant_slug: str, group_ref: str, expected_etag: str
    ) -> None:
        """Delete a group; its members, app bindings and roles go with it. Side effect: audit
        ``group.delete``."""
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            group = await self._group(tx, tenant, group_ref, for_update=True)
            await self._outranks_group(principal, tx, group, "group.delete")
            check_etag(group.etag, expected_etag, "group")
            await tx.delete_group(group.id)
            await self._audit(
                tx, principal, "group.delete", "group", group.id, tenant, {"code": group.code}
            )
        await self._publish(tenant, "group", group.id)

    async def _group_member(
        self, principal: Principal, tenant_slug: str, group_ref: str, user_ref: str, add: bool
    ) -> Group:
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            group = await self._group(tx, tenant, group_ref)
            user = await self._user(tx, tenant, user_ref)
            operation = "group.member.add" if add else "group.member.remove"
            await self._outranks_user(principal, tx, user, operation)
            if add:
                # Joining gives the user the group's roles: grant only what the caller holds.
                ensure_no_escalation(
                    principal,
                    await self._group_grants(tx, group),
                    target_type="group",
                    target_id=group.id,
                    operation=operation,
                )
                changed = await tx.add_group_member(group.id, user.id)
            else:
                await self._outranks_group(principal, tx, group, operation)
                changed = await tx.remove_group_member(group.id, user.id)
            if changed:
                await self._audit(
                    tx,
                    principal,
                    "group.member.add" if add else "group.member.remove",
                    "group",
                    group.id,
                    tenant,
                    {"user_id": user.id, "email": user.email},
                )
        if changed:
            await self._publish(tenant, "user", user.id)
        return group

    @audits_denied_escalations
    async def add_group_member(
        self, principal: Principal, tenant_slug: str, group_ref: str, user_ref: str
    ) -> Group:
        """Add a user to a group (idempotent). Side effect: audit ``group.member.add``."""
        return await self._group_member(principal, tenant_slug, group_ref, user_ref, True)

    @audits_denied_escalations
    async def remove_group_member(
        self, principal: Principal, tenant_slug: str, group_ref: str, user_ref: str
    ) -> Group:
        """Remove a user from a group (idempotent). Side effect: audit ``group.member.remove``."""
        return await self._group_member(principal, tenant_slug, group_ref, user_ref, False)

    # -- memberships (user_apps) -------------------------------------------------------------

    @audits_denied_escalations
    async def grant_membership(
        self, principal: Principal, tenant_slug: str, user_ref: str, app_ref: str
    ) -> tuple[Membership, bool]:
        """Let the user enter the app (Vendidit seed §6 ``POST /admin/users/{u}/apps/{a}``).
        Idempotent: an active membership is returned unchanged; a revoked one is re-activated
        (granted anew, by this caller). Returns the membership and whether a new row was
        created. Side effect: audit ``membership.grant`` unless it was already active."""
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref)
            await self._outranks_user(principal, tx, user, "membership.grant")
            app = await self._app(tx, tenant, app_ref)
            existing = await tx.get_membership(user.id, app.id, for_update=True)
            if existing is not None and existing.status is MembershipStatus.ACTIVE:
                return existing, False
            membership = Membership(
                user_id=user.id,
                user_email=user.email,
                app_id=app.id,
                app_slug=app.slug,
                status=MembershipStatus.ACTIVE,
                granted_at=self._now(),
                granted_by=f"{principal.tenant}/{principal.subject}",  # as the audit log shows it
                revoked_at=None,
            )
            if existing is None:
                await tx.insert_membership(membership)
            else:
                await tx.update_membership(membership)
            await self._audit(
                tx,
                principal,
                "membership.grant",
                "user",
                user.id,
                tenant,
                {"app": app.slug, "reactivated": existing is not None},
            )
        await self._publish(tenant, "user", user.id)
        return membership, existing is None

    @audits_denied_escalations
    async def revoke_membership(
        self, principal: Principal, tenant_slug: str, user_ref: str, app_ref: str
    ) -> Membership:
        """Revoke the user's membership of the app (Vendidit seed §6): the row stays with status
        revoked, and the user's token version is bumped by one so that their current tokens
        stop validating at the next request. Idempotent on an already revoked membership (no
        second bump). Side effect: audit ``membership.revoke``."""
        principal.require("user:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref, for_update=True)
            await self._outranks_user(principal, tx, user, "membership.revoke")
            app = await self._app(tx, tenant, app_ref)
            existing = await tx.get_membership(user.id, app.id, for_update=True)
            if existing is None:
                raise NotFound(
                    "MEMBERSHIP_NOT_FOUND",
                    f"User {user.email!r} has no membership of app {app.slug!r}; nothing to revoke.",
                )
            if existing.status is MembershipStatus.REVOKED:
                return existing
            now = self._now()
            revoked = replace(existing, status=MembershipStatus.REVOKED, revoked_at=now)
            await tx.update_membership(revoked)
            bumped = replace(
                user, token_version=user.token_version + 1, version=user.version + 1, updated_at=now
            )
            if not await tx.update_user(bumped, user.version):
                raise changed_concurrently("user")
            await self._audit(
                tx,
                principal,
                "membership.revoke",
                "user",
                user.id,
                tenant,
                {"app": app.slug, "token_version": bumped.token_version},
            )
        await self._publish(tenant, "user", user.id)
        return revoked

    async def list_user_memberships(
        self,
        principal: Principal,
        tenant_slug: str,
        user_ref: str,
        size: int,
        offset: int,
        status: str,
    ) -> PageOf[Membership]:
        principal.require("user:read", tenant_slug)
        wanted = _parse_status(status, MembershipStatus)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            user = await self._user(tx, tenant, user_ref)
            return await tx.list_memberships(
                tenant.id, page, user_id=user.id, app_id=None, status=wanted
            )

    async def list_app_members(
        self,
        principal: Principal,
        tenant_slug: str,
        app_ref: str,
        size: int,
        offset: int,
        status: str,
    ) -> PageOf[Membership]:
        principal.require("user:read", tenant_slug)
        wanted = _parse_status(status, MembershipStatus)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref)
            return await tx.list_memberships(
                tenant.id, page, user_id=None, app_id=app.id, status=wanted
            )

    async def admit(
        self, principal: Principal, tenant_id: str, user_id: str, app_id: str
    ) -> Admission:
        """May this user enter this app? Called by the token service at login (ARCHITECTURE §2:
        "A user may enter an app only with an active membership: created on first login when
        auto_grant_on_signup is true, otherwise granted by an admin").

        * active membership → admitted;
        * no membership and the app auto-grants → a membership is created with granted_by
          ``auto_grant_on_signup`` and audited as ``membership.auto_grant`` (actor: the calling
          service);
        * no membership otherwise, or a revoked one (an admin's revocation is never undone
          automatically, even with auto-grant) → PermissionDenied NOT_A_MEMBER;
        * a disabled user → USER_DISABLED; a disabled app → APP_DISABLED.

        ``tenant_id`` and ``app_id`` also accept the tenant's and app's slugs.
        """
        principal.require_service("token")
        for attempt in range(2):
            try:
                return await self._admit(principal, tenant_id, user_id, app_id)
            except AlreadyExists as exc:
                # Two first logins raced to auto-grant: the other one created the membership,
                # so a second pass finds it active.
                if exc.reason != MEMBERSHIP_EXISTS or attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _admit(
        self, principal: Principal, tenant_ref: str, user_id: str, app_ref: str
    ) -> Admission:
        created = False
        async with self._tx() as tx:
            tenant = await tx.get_tenant_by_id(tenant_ref) or await tx.get_tenant(tenant_ref)
            if tenant is None:
                raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {tenant_ref!r}.")
            user = await tx.get_user(tenant.id, user_id)
            if user is None:
                raise NotFound("USER_NOT_FOUND", f"Tenant {tenant.slug!r} has no user {user_id!r}.")
            app = await self._app(tx, tenant, app_ref)
            if user.status is UserStatus.DISABLED:
                raise PermissionDenied(
                    "USER_DISABLED", "This user is disabled; an administrator must enable them."
                )
            if not app.enabled:
                raise PermissionDenied("APP_DISABLED", f"App {app.slug!r} is disabled.")
            membership = await tx.get_membership(user.id, app.id)
            if membership is None and app.auto_grant_on_signup:
                membership = Membership(
                    user_id=user.id,
                    user_email=user.email,
                    app_id=app.id,
                    app_slug=app.slug,
                    status=MembershipStatus.ACTIVE,
                    granted_at=self._now(),
                    granted_by=AUTO_GRANT_ACTOR,
                    revoked_at=None,
                )
                await tx.insert_membership(membership)
                await self._audit(
                    tx,
                    principal,
                    "membership.auto_grant",
                    "user",
                    user.id,
                    tenant,
                    {"app": app.slug},
                )
                created = True
            if membership is None:
                raise PermissionDenied(
                    "NOT_A_MEMBER",
                    f"This user is not a member of app {app.slug!r}; an administrator must grant "
                    "access first.",
                )
            if membership.status is not MembershipStatus.ACTIVE:
                raise PermissionDenied(
                    "NOT_A_MEMBER",
                    f"This user's access to app {app.slug!r} was revoked; only an administrator "
                    "can grant it again.",
                )
        if created:
            await self._publish(tenant, "user", user.id)
        return Admission(membership=membership, token_version=user.token_version, created=created)
