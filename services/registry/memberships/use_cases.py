"""App memberships (user_apps, Vendidit seed §1 and §6): a user may enter an app only with an
active membership of it, created on first login when the app auto-grants, otherwise granted by
an administrator (ARCHITECTURE §2). Revoking one bumps the user's token version so that their
current tokens stop validating at the next request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from services.common.access import needs, service
from services.common.auth import Principal
from services.common.errors import AlreadyExists, NotFound, PermissionDenied
from services.common.vocabulary import MembershipStatus, UserStatus
from services.registry.apps.lookup import app_of
from services.registry.apps.store import AppLookup
from services.registry.kernel.concurrency import changed_concurrently
from services.registry.kernel.db_errors import MEMBERSHIP_EXISTS
from services.registry.kernel.models import PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases
from services.registry.kernel.text import parse_status_filter
from services.registry.memberships.models import AUTO_GRANT_ACTOR, Admission, Membership
from services.registry.memberships.store import MembershipStore
from services.registry.users.lookup import ensure_outranks_user, user_of
from services.registry.users.store import UserStore

READ = needs("user:read")
WRITE = needs("user:write")
ADMIT = service("token")


class MembershipsTx(BaseTx, Protocol):
    @property
    def memberships(self) -> MembershipStore: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def apps(self) -> AppLookup: ...


class MembershipUseCases(UseCases[MembershipsTx]):
    async def grant(
        self, principal: Principal, tenant: str, user_ref: str, app_ref: str
    ) -> tuple[Membership, bool]:
        """Let the user enter the app (Vendidit seed §6 ``POST /admin/users/{u}/apps/{a}``).
        Idempotent: an active membership is returned unchanged; a revoked one is re-activated
        (granted anew, by this caller). Returns the membership and whether a new row was
        created. Side effect: audit ``membership.grant`` unless it was already active."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            user = await user_of(tx.users, owner, user_ref)
            await ensure_outranks_user(principal, tx.users, user, "membership.grant")
            app = await app_of(tx.apps, owner, app_ref)
            existing = await tx.memberships.get(user.id, app.id, for_update=True)
            if existing is not None and existing.status is MembershipStatus.ACTIVE:
                scope.unaudited("already a member")
                return existing, False
            membership = Membership(
                user_id=user.id,
                user_email=user.email,
                app_id=app.id,
                app_slug=app.slug,
                status=MembershipStatus.ACTIVE,
                granted_at=scope.now,
                granted_by=f"{principal.tenant}/{principal.subject}",  # as the audit log shows it
                revoked_at=None,
            )
            if existing is None:
                await tx.memberships.insert(membership)
            else:
                await tx.memberships.update(membership)
            await scope.audit(
                "membership.grant",
                "user",
                user.id,
                {"app": app.slug, "reactivated": existing is not None},
            )
            scope.publish("user", user.id)
        return membership, existing is None

    async def revoke(
        self, principal: Principal, tenant: str, user_ref: str, app_ref: str
    ) -> Membership:
        """Revoke the user's membership of the app (Vendidit seed §6): the row stays with status
        revoked, and the user's token version is bumped by one. Idempotent on an already
        revoked membership (no second bump). Side effect: audit ``membership.revoke``."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            user = await user_of(tx.users, owner, user_ref, for_update=True)
            await ensure_outranks_user(principal, tx.users, user, "membership.revoke")
            app = await app_of(tx.apps, owner, app_ref)
            existing = await tx.memberships.get(user.id, app.id, for_update=True)
            if existing is None:
                raise NotFound(
                    "MEMBERSHIP_NOT_FOUND",
                    f"User {user.email!r} has no membership of app {app.slug!r}; nothing to "
                    "revoke.",
                )
            if existing.status is MembershipStatus.REVOKED:
                scope.unaudited("already revoked")
                return existing
            revoked = replace(existing, status=MembershipStatus.REVOKED, revoked_at=scope.now)
            await tx.memberships.update(revoked)
            bumped = replace(
                user,
                token_version=user.token_version + 1,
                version=user.version + 1,
                updated_at=scope.now,
            )
            if not await tx.users.update(bumped, user.version):
                raise changed_concurrently("user")
            await scope.audit(
                "membership.revoke",
                "user",
                user.id,
                {"app": app.slug, "token_version": bumped.token_version},
            )
            scope.publish("user", user.id)
        return revoked

    async def of_user(
        self,
        principal: Principal,
        tenant: str,
        user_ref: str,
        size: int,
        offset: int,
        status: str,
    ) -> PageOf[Membership]:
        async with self.read(principal, READ, tenant) as scope:
            wanted = parse_status_filter(status, MembershipStatus)
            page = page_request(size, offset)
            user = await user_of(scope.tx.users, scope.tenant, user_ref)
            return await scope.tx.memberships.search(
                scope.tenant.id, page, user_id=user.id, app_id=None, status=wanted
            )

    async def of_app(
        self,
        principal: Principal,
        tenant: str,
        app_ref: str,
        size: int,
        offset: int,
        status: str,
    ) -> PageOf[Membership]:
        async with self.read(principal, READ, tenant) as scope:
            wanted = parse_status_filter(status, MembershipStatus)
            page = page_request(size, offset)
            app = await app_of(scope.tx.apps, scope.tenant, app_ref)
            return await scope.tx.memberships.search(
                scope.tenant.id, page, user_id=None, app_id=app.id, status=wanted
            )

    async def admit(
        self, principal: Principal, tenant_ref: str, user_id: str, app_ref: str
    ) -> Admission:
        """May this user enter this app? Called by the token service at login (ARCHITECTURE §2).

        * active membership → admitted;
        * no membership and the app auto-grants → a membership is created with granted_by
          ``auto_grant_on_signup`` and audited as ``membership.auto_grant`` (actor: the calling
          service);
        * no membership otherwise, or a revoked one (an admin's revocation is never undone
          automatically, even with auto-grant) → PermissionDenied NOT_A_MEMBER;
        * a disabled user → USER_DISABLED; a disabled app → APP_DISABLED.

        ``tenant_ref`` and ``app_ref`` accept ids or slugs.
        """
        self.authorize(principal, ADMIT)
        try:
            return await self._admit(principal, tenant_ref, user_id, app_ref)
        except AlreadyExists as exc:
            # Two first logins raced to auto-grant: the other one created the membership, so a
            # second pass finds it active.
            if exc.reason != MEMBERSHIP_EXISTS:
                raise
            return await self._admit(principal, tenant_ref, user_id, app_ref)

    async def _admit(
        self, principal: Principal, tenant_ref: str, user_id: str, app_ref: str
    ) -> Admission:
        async with self.write(principal, None) as scope:
            tx = scope.tx
            owner = await tx.tenants.get_by_id(tenant_ref) or await tx.tenants.get(tenant_ref)
            if owner is None:
                raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {tenant_ref!r}.")
            user = await tx.users.get(owner.id, user_id)
            if user is None:
                raise NotFound("USER_NOT_FOUND", f"Tenant {owner.slug!r} has no user {user_id!r}.")
            app = await app_of(tx.apps, owner, app_ref)
            if user.status is UserStatus.DISABLED:
                raise PermissionDenied(
                    "USER_DISABLED", "This user is disabled; an administrator must enable them."
                )
            if not app.enabled:
                raise PermissionDenied("APP_DISABLED", f"App {app.slug!r} is disabled.")
            membership = await tx.memberships.get(user.id, app.id)
            created = membership is None and app.auto_grant_on_signup
            if created:
                membership = Membership(
                    user_id=user.id,
                    user_email=user.email,
                    app_id=app.id,
                    app_slug=app.slug,
                    status=MembershipStatus.ACTIVE,
                    granted_at=scope.now,
                    granted_by=AUTO_GRANT_ACTOR,
                    revoked_at=None,
                )
                await tx.memberships.insert(membership)
                await scope.audit(
                    "membership.auto_grant", "user", user.id, {"app": app.slug}, tenant=owner
                )
                scope.publish("user", user.id, tenant_slug=owner.slug)
            else:
                scope.unaudited("an admission check that changed nothing")
            if membership is None:
                raise PermissionDenied(
                    "NOT_A_MEMBER",
                    f"This user is not a member of app {app.slug!r}; an administrator must "
                    "grant access first.",
                )
            if membership.status is not MembershipStatus.ACTIVE:
                raise PermissionDenied(
                    "NOT_A_MEMBER",
                    f"This user's access to app {app.slug!r} was revoked; only an administrator "
                    "can grant it again.",
                )
        return Admission(membership=membership, token_version=user.token_version, created=created)
