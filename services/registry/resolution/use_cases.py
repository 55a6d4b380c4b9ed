"""The token service's read model.

Clients: the facts behind a client's tokens as one snapshot at known versions; the token
service authenticates the client, applies the issuance rules and caches the snapshot
(services.token). Users: what a user's token for one app carries (enabled user, active
membership, the core catalog), until sign-in moves those rules to the token service too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import structlog

from services.common import oauth_errors as oauth
from services.common.access import service
from services.common.auth import Principal
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.hashing import SecretHasher
from services.common.versions import PLATFORM
from services.common.vocabulary import PlanStatus
from services.registry.apps.lookup import app_of
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.clients.store import ClientAuthentication
from services.registry.kernel.models import Tenant
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.kernel.scope import REGISTRY_SERVICE, Publisher, UseCases
from services.registry.plans.store import PlanLookup
from services.registry.resolution.models import ClientSnapshot, GrantContext, UserGrantContext
from services.registry.resolution.origins import domain_of_origin, origin_allowed
from services.registry.resolution.snapshots import assemble_snapshot
from services.registry.resolution.store import ResolutionStore

RESOLVE = service("token")

log = structlog.get_logger("tessera.registry")


class ResolutionTx(BaseTx, Protocol):
    @property
    def resolution(self) -> ResolutionStore: ...
    @property
    def clients(self) -> ClientAuthentication: ...
    @property
    def apps(self) -> AppLookup: ...
    @property
    def plans(self) -> PlanLookup: ...


class ResolutionUseCases(UseCases[ResolutionTx]):
    def __init__(
        self,
        uow: UnitOfWork[ResolutionTx],
        publisher: Publisher,
        now: Callable[[], datetime],
        hasher: SecretHasher,
        default_access_token_seconds: int,
    ) -> None:
        super().__init__(uow, publisher, now)
        self._hasher = hasher
        self._default_lifetime = default_access_token_seconds

    async def client_snapshot(
        self, principal: Principal, tenant: str, client_id: str, *, restore_board: bool = False
    ) -> ClientSnapshot:
        """The facts behind ``client_id``'s tokens in ``tenant``, at the versions read first
        (services.common.versions: facts are never older than the versions they are cached
        under). An unknown tenant, an unknown client and another tenant's client all come back
        as not found, with the asked tenant's version so the token service may cache that.

        ``restore_board``: the token service found no announced version for the tenant or the
        platform (a board that restarted empty). The committed versions are announced again
        while their rows are held, so no write in flight can be overtaken; only for a tenant
        that exists (made-up names leave nothing on the board)."""
        if restore_board:
            async with self.write(principal, RESOLVE) as scope:
                owner = await scope.tx.tenants.get(tenant)
                if owner is not None:
                    held = await scope.tx.versions.hold([tenant, PLATFORM])
                    for announced, version in held.items():
                        await self._publisher.board.remember(announced, version)
                scope.unaudited("restoring the version board, not an administrative change")
                return await self._snapshot(scope.tx, tenant, client_id)
        async with self.read(principal, RESOLVE) as scope:
            return await self._snapshot(scope.tx, tenant, client_id)

    async def _snapshot(self, tx: ResolutionTx, tenant: str, client_id: str) -> ClientSnapshot:
        versions = await tx.versions.read([tenant, PLATFORM])
        owner = await tx.tenants.get(tenant)
        facts = await tx.resolution.client_facts(owner.id, client_id) if owner else None
        if owner is None or facts is None:
            return ClientSnapshot(
                tenant_version=versions[tenant],
                platform_version=versions[PLATFORM],
                tenant=tenant,
                tenant_id=owner.id if owner else "",
            )
        return assemble_snapshot(
            facts, owner, versions[tenant], versions[PLATFORM], self._default_lifetime
        )

    async def republish_versions(self) -> int:
        """Announce every committed version on the version board again, overwriting what it
        shows (a Redis that outlived a database restore would otherwise disagree until each
        tenant's next write, and every token request would read from the registry). Safe while
        the rows are held: no write can be between its announcement and its commit. Run at
        start-up; returns how many versions were announced."""
        async with self.write(REGISTRY_SERVICE, None) as scope:
            versions = await scope.tx.versions.hold_all()
            for announced, version in versions.items():
                await self._publisher.board.announce(announced, version)
            scope.unaudited("re-announcing committed versions, not an administrative change")
        return len(versions)

    async def record_secret_use(
        self, principal: Principal, secret_id: str, used_at: datetime, rehash: str
    ) -> None:
        """Bookkeeping of a secret the token service accepted: its last-used time, and its
        hash under the current pepper when it was made under an older one (so the old pepper
        can be retired). Not an administrative change: nothing is audited or published."""
        self.authorize(principal, RESOLVE)
        if rehash and not self._hasher.is_current(rehash):
            raise InvalidArgument(
                "REHASH_INVALID", "rehash is not a keyed hash under the current pepper."
            )
        async with self.write(principal, None) as scope:
            await scope.tx.clients.mark_secret_used(secret_id, used_at)
            if rehash:
                await scope.tx.clients.replace_secret_hash(secret_id, rehash)
                log.info("client secret re-hashed under the current pepper", secret=secret_id)
            scope.unaudited("bookkeeping of a secret's use, not an administrative change")

    async def resolve_user(
        self, principal: Principal, tenant: str, app_ref: str, user_id: str, client_id: str
    ) -> UserGrantContext:
        """What a user's token for ``app_ref`` carries. Refused for a disabled user
        (USER_DISABLED) or without an active membership (NOT_A_MEMBER, Vendidit seed §6)."""
        async with self.read(principal, RESOLVE, tenant) as scope:
            tx, owner = scope.tx, scope.tenant
            app = await app_of(tx.apps, owner, app_ref)
            user = await tx.resolution.user(owner.id, user_id)
            if user is None:
                raise NotFound("USER_NOT_FOUND", f"Tenant {owner.slug!r} has no user {user_id!r}.")
            if user.status != "active":
                raise PermissionDenied("USER_DISABLED", "This user is disabled.")
            if await tx.resolution.membership_status(user.id, app.id) != "active":
                raise PermissionDenied(
                    "NOT_A_MEMBER", f"This user has no active membership of app {app.slug!r}."
                )
            context = await self._app_context(tx, owner, app, client_id, False)
            roles, permissions = await tx.resolution.user_roles_and_permissions(
                owner.id, user.id, app.id, list(app.service_codes)
            )
        return UserGrantContext(
            app=GrantContext(
                **{**vars(context), "roles": tuple(roles), "permissions": tuple(permissions)}
            ),
            user_id=user.id,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            token_version=user.token_version,
        )

    async def tenant_exists(self, principal: Principal, tenant: str) -> bool:
        """Whether the tenant exists (token service only: its JWKS and discovery answer 404
        for an unknown tenant, and signing keys are created only for existing ones)."""
        async with self.read(principal, RESOLVE) as scope:
            return await scope.tx.tenants.get(tenant) is not None

    async def origin_allowed(self, tenant: str, origin: str) -> bool:
        """Whether a browser page of ``origin`` may call the tenant's OAuth endpoints: its
        domain is an allowed domain of one of the tenant's enabled apps. Needs no caller
        identity: it answers only what CORS headers reveal to that origin anyway."""
        if domain_of_origin(origin) is None:
            return False
        async with self._uow.read() as tx:
            owner = await tx.tenants.get(tenant)
            if owner is None:
                return False
            return origin_allowed(origin, await tx.resolution.enabled_app_domains(owner.id))

    async def _app_context(
        self, tx: ResolutionTx, tenant: Tenant, app: App, client_id: str, confidential: bool
    ) -> GrantContext:
        """Issuance rules shared by every grant: enabled app, no retired plan."""
        if not app.enabled:
            raise oauth.unauthorized_client(
                "APP_DISABLED", f"App {app.slug!r} is disabled; it gets no tokens."
            )
        entitlements: dict[str, int] = {}
        plan_code: str | None = None
        if app.plan_id:
            plan = await tx.plans.get(app.plan_id)
            if plan is None or plan.status is PlanStatus.RETIRED:
                raise oauth.unauthorized_client(
                    "PLAN_RETIRED",
                    f"App {app.slug!r} is on a retired plan, so token issuance is blocked; "
                    "assign an active plan or remove the plan.",
                )
            entitlements, plan_code = dict(plan.limits), plan.code
        lifetime = app.settings.merged_over(tenant.settings).values.get(
            "token_lifetimes.access_token_seconds", self._default_lifetime
        )
        return GrantContext(
            tenant_slug=tenant.slug,
            tenant_id=tenant.id,
            client_id=client_id,
            confidential=confidential,
            app_id=app.id,
            app_code=app.slug,
            region=app.region_code or "",
            db_code=app.db_code or "",
            roles=(),
            permissions=(),
            plan_code=plan_code,
            entitlements=entitlements,
            access_token_seconds=int(lifetime),
            audiences=tuple(await tx.resolution.app_audiences(app.id)),
        )
