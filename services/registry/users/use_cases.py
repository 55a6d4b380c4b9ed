"""The tenant's user pool (ARCHITECTURE §2 "Roles, groups, users, memberships").

Three writes bump the user's token version by exactly one, so that tokens carrying the old
``tv`` stop being accepted: disabling the user, "log out everywhere", and revoking a
membership (services.registry.memberships). Every write on a user first makes sure the caller
holds every admin permission the user has (no escalation, ARCHITECTURE §7).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from services.common.access import needs
from services.common.auth import Principal
from services.common.errors import AlreadyExists, ValidationErrors
from services.common.vocabulary import UserStatus
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.escalation import ensure_no_escalation
from services.registry.kernel.models import PageOf, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.kernel.scope import Publisher, UseCases, new_id
from services.registry.kernel.text import checked, parse_status_filter
from services.registry.roles.lookup import role_grants, role_of
from services.registry.roles.store import RoleLookup
from services.registry.users.lookup import ensure_outranks_user, user_of
from services.registry.users.models import User, UserDraft, UserPatch
from services.registry.users.rules import (
    email_key,
    validate_email,
    validate_password,
    validate_person_name,
    validate_username,
)
from services.registry.users.store import UserStore

READ = needs("user:read")
WRITE = needs("user:write")
# Giving a user a role hands them its permissions: it takes role:write as well.
ASSIGN_ROLE = needs("user:write", "role:write")

# What a change to one user row returns: the new state, the audit action and its details;
# None when nothing changes (then nothing is written, audited or published).
UserChange = tuple[User, str, dict[str, Any]] | None


class UsersTx(BaseTx, Protocol):
    @property
    def users(self) -> UserStore: ...
    @property
    def roles(self) -> RoleLookup: ...


class PasswordHashing(Protocol):
    """argon2id (services.common.hashing.PasswordHasher); deliberately slow."""

    def hash(self, password: str) -> str: ...


class UserUseCases(UseCases[UsersTx]):
    def __init__(
        self,
        uow: UnitOfWork[UsersTx],
        publisher: Publisher,
        now: Callable[[], datetime],
        passwords: PasswordHashing,
    ) -> None:
        super().__init__(uow, publisher, now)
        self._passwords = passwords

    async def _hash(self, password: str) -> str:
        # argon2id costs tens of milliseconds of CPU and 64 MiB: keep it off the event loop.
        return await asyncio.to_thread(self._passwords.hash, password)

    async def create(self, principal: Principal, tenant: str, draft: UserDraft) -> User:
        """Add a user to the tenant's pool: active, token version 1, passwordless unless a
        password is given (stored as an argon2id hash only). Side effects: audit
        ``user.create``; change published."""
        # The hash is costly: only a caller who may create users gets it computed.
        self.authorize(principal, WRITE, tenant)
        errors = ValidationErrors()
        email = validate_email(errors, draft.email)
        first = validate_person_name(errors, draft.first_name or "", field="first_name")
        last = validate_person_name(errors, draft.last_name or "", field="last_name")
        username = validate_username(errors, draft.username or "")
        password = (
            validate_password(errors, draft.password, email=email)
            if draft.password is not None
            else None
        )
        errors.raise_if_any()
        assert email is not None
        password_hash = await self._hash(password) if password is not None else None
        async with self.write(principal, WRITE, tenant) as scope:
            owner = scope.tenant
            if username and await scope.tx.users.username_taken(owner.id, username, None):
                raise AlreadyExists(
                    "USERNAME_TAKEN", f"Another user of this tenant has the username {username!r}."
                )
            user = User(
                id=new_id(),
                tenant_id=owner.id,
                tenant_slug=owner.slug,
                email=email,
                email_verified=draft.email_verified,
                first_name=first or None,
                last_name=last or None,
                username=username or None,
                has_password=password_hash is not None,
                status=UserStatus.ACTIVE,
                token_version=1,
                version=1,
                created_at=scope.now,
                updated_at=scope.now,
            )
            await scope.tx.users.insert(user, password_hash)
            await scope.audit(
                "user.create",
                "user",
                user.id,
                {"email": email, "passwordless": password_hash is None},
            )
            scope.publish("user", user.id)
        return user

    async def get(self, principal: Principal, tenant: str, user_ref: str) -> User:
        async with self.read(principal, READ, tenant) as scope:
            return await user_of(scope.tx.users, scope.tenant, user_ref)

    async def search(
        self,
        principal: Principal,
        tenant: str,
        size: int,
        offset: int,
        query: str,
        status: str,
    ) -> PageOf[User]:
        """Users ordered by email; ``query`` matches a substring of email, names or username."""
        async with self.read(principal, READ, tenant) as scope:
            wanted = parse_status_filter(status, UserStatus)
            page = page_request(size, offset)
            return await scope.tx.users.search(scope.tenant.id, page, query.strip(), wanted)

    async def _change(
        self,
        principal: Principal,
        tenant: str,
        user_ref: str,
        expected_version: int,
        operation: str,
        change: Callable[[UsersTx, Tenant, User], Awaitable[UserChange]],
    ) -> User:
        """One write on one user row: lock it, make sure the caller outranks the user, check
        the version, apply ``change``, bump the version, audit, publish."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            user = await user_of(tx.users, owner, user_ref, for_update=True)
            await ensure_outranks_user(principal, tx.users, user, operation)
            check_version(user.version, expected_version, "user")
            outcome = await change(tx, owner, user)
            if outcome is None:
                scope.unaudited("nothing changed")
                return user
            updated, action, details = outcome
            updated = replace(updated, version=user.version + 1, updated_at=scope.now)
            if not await tx.users.update(updated, user.version):
                raise changed_concurrently("user")
            await scope.audit(action, "user", user.id, details)
            scope.publish("user", user.id)
        return updated

    async def update(
        self,
        principal: Principal,
        tenant: str,
        user_ref: str,
        patch: UserPatch,
        expected_version: int,
    ) -> User:
        """Change email, names, username or email_verified. A new email is re-checked for
        uniqueness (EMAIL_TAKEN) and resets ``email_verified`` unless the patch sets it.
        Side effect: audit ``user.update`` naming the changed fields."""
        self.authorize(principal, WRITE, tenant)
        errors = ValidationErrors()
        email = validate_email(errors, patch.email) if patch.email is not None else None
        first = (
            validate_person_name(errors, patch.first_name, field="first_name")
            if patch.first_name is not None
            else None
        )
        last = (
            validate_person_name(errors, patch.last_name, field="last_name")
            if patch.last_name is not None
            else None
        )
        username = validate_username(errors, patch.username) if patch.username is not None else None
        errors.raise_if_any()

        async def change(tx: UsersTx, owner: Tenant, user: User) -> UserChange:
            updated = user
            if email is not None and email != user.email:
                # Another address resets verification; the same one in other case does not.
                same_address = email_key(email) == email_key(user.email)
                updated = replace(
                    updated, email=email, email_verified=user.email_verified and same_address
                )
            if first is not None:
                updated = replace(updated, first_name=first or None)
            if last is not None:
                updated = replace(updated, last_name=last or None)
            if username is not None and (username or None) != user.username:
                if username and await tx.users.username_taken(owner.id, username, user.id):
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

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.update", change
        )

    async def set_password(
        self,
        principal: Principal,
        tenant: str,
        user_ref: str,
        password: str,
        expected_version: int,
    ) -> User:
        """Set or replace the user's password (12-256 characters, not the email), stored as an
        argon2id hash. Sessions are not ended: follow with :meth:`logout_everywhere` to do
        that. Side effect: audit ``user.password.set``."""
        # Everything that can refuse the call is checked before the costly hash.
        async with self.read(principal, WRITE, tenant) as scope:
            current = await user_of(scope.tx.users, scope.tenant, user_ref)
            await ensure_outranks_user(principal, scope.tx.users, current, "user.password.set")
            check_version(current.version, expected_version, "user")
        checked(validate_password, password, email=current.email)
        password_hash = await self._hash(password)

        async def change(tx: UsersTx, _owner: Tenant, user: User) -> UserChange:
            if user.email != current.email:  # changed meanwhile: check against the new one
                checked(validate_password, password, email=user.email)
            await tx.users.set_password_hash(user.id, password_hash)
            return replace(user, has_password=True), "user.password.set", {}

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.password.set", change
        )

    async def clear_password(
        self, principal: Principal, tenant: str, user_ref: str, expected_version: int
    ) -> User:
        """Make the user passwordless (sign-in by one-time code only). No-op when already
        passwordless. Side effect: audit ``user.password.clear``."""

        async def change(tx: UsersTx, _owner: Tenant, user: User) -> UserChange:
            if not user.has_password:
                return None
            await tx.users.set_password_hash(user.id, None)
            return replace(user, has_password=False), "user.password.clear", {}

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.password.clear", change
        )

    async def disable(
        self, principal: Principal, tenant: str, user_ref: str, expected_version: int
    ) -> User:
        """Disable the user and bump the token version by one (ARCHITECTURE §2): their tokens
        stop being accepted and they are no longer admitted to any app. No-op when already
        disabled. Side effect: audit ``user.disable``."""

        async def change(_tx: UsersTx, _owner: Tenant, user: User) -> UserChange:
            if user.status is UserStatus.DISABLED:
                return None
            updated = replace(
                user, status=UserStatus.DISABLED, token_version=user.token_version + 1
            )
            return updated, "user.disable", {"token_version": updated.token_version}

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.disable", change
        )

    async def enable(
        self, principal: Principal, tenant: str, user_ref: str, expected_version: int
    ) -> User:
        """Re-enable a disabled user (tokens minted before disabling stay invalid: the token
        version is not rolled back). No-op when active. Side effect: audit ``user.enable``."""

        async def change(_tx: UsersTx, _owner: Tenant, user: User) -> UserChange:
            if user.status is UserStatus.ACTIVE:
                return None
            return replace(user, status=UserStatus.ACTIVE), "user.enable", {}

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.enable", change
        )

    async def logout_everywhere(
        self, principal: Principal, tenant: str, user_ref: str, expected_version: int
    ) -> User:
        """Bump the token version by one: every token the user holds, in every app, stops
        being accepted at its next use. Side effect: audit ``user.logout_everywhere``."""

        async def change(_tx: UsersTx, _owner: Tenant, user: User) -> UserChange:
            updated = replace(user, token_version=user.token_version + 1)
            return updated, "user.logout_everywhere", {"token_version": updated.token_version}

        return await self._change(
            principal, tenant, user_ref, expected_version, "user.logout_everywhere", change
        )

    async def delete(
        self, principal: Principal, tenant: str, user_ref: str, expected_version: int
    ) -> None:
        """Delete the user with their role assignments, group and app memberships. Side
        effects: audit ``user.delete``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            users = scope.tx.users
            user = await user_of(users, scope.tenant, user_ref, for_update=True)
            await ensure_outranks_user(principal, users, user, "user.delete")
            check_version(user.version, expected_version, "user")
            await users.delete(user.id)
            await scope.audit("user.delete", "user", user.id, {"email": user.email})
            scope.publish("user", user.id)

    async def assign_role(
        self, principal: Principal, tenant: str, user_ref: str, role_ref: str
    ) -> User:
        """Give the user a role directly (idempotent); the role may carry only admin
        permissions the caller holds (ESCALATION). Side effect: audit ``user.role.assign``
        when it was not assigned yet."""
        return await self._user_role(principal, tenant, user_ref, role_ref, assign=True)

    async def unassign_role(
        self, principal: Principal, tenant: str, user_ref: str, role_ref: str
    ) -> User:
        """Take a directly assigned role away (idempotent; roles through groups stay). Side
        effect: audit ``user.role.unassign`` when it was assigned."""
        return await self._user_role(principal, tenant, user_ref, role_ref, assign=False)

    async def _user_role(
        self, principal: Principal, tenant: str, user_ref: str, role_ref: str, *, assign: bool
    ) -> User:
        operation = "user.role.assign" if assign else "user.role.unassign"
        async with self.write(principal, ASSIGN_ROLE if assign else WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            user = await user_of(tx.users, owner, user_ref)
            role = await role_of(tx.roles, owner, role_ref)
            await ensure_outranks_user(principal, tx.users, user, operation)
            if assign:
                ensure_no_escalation(
                    principal,
                    role_grants(role),
                    target_type="user",
                    target_id=user.id,
                    operation=operation,
                )
                changed = await tx.users.assign_role(user.id, role.id)
            else:
                changed = await tx.users.unassign_role(user.id, role.id)
            if changed:
                await scope.audit(operation, "user", user.id, {"role": role.code})
                scope.publish("user", user.id)
            else:
                scope.unaudited("nothing changed")
            return await user_of(tx.users, owner, user.id)
