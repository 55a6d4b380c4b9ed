"""The token service's read model: who is this client or user in this app, carrying what.

One call per token request (ARCHITECTURE §5): authenticate the client (or load the user), pick
the app, apply the issuance rules (enabled app, active plan, active membership, enabled user)
and return roles, the permission union over the app's service codes (plus the core catalog for
users), entitlements, scopes, audiences and the user's token version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import structlog

from services.common import oauth_errors as oauth
from services.common.access import service
from services.common.auth import Principal
from services.common.changes import ChangeBus
from services.common.errors import NotFound, PermissionDenied
from services.common.hashing import SecretHasher
from services.common.vocabulary import PlanStatus
from services.registry.apps.lookup import app_of
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.clients.models import Client
from services.registry.clients.store import ClientAuthentication
from services.registry.kernel.models import Tenant
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.kernel.scope import UseCases
from services.registry.plans.store import PlanLookup
from services.registry.resolution.authentication import ClientAuthenticator, SecretUpkeep
from services.registry.resolution.models import GrantContext, UserGrantContext
from services.registry.resolution.origins import domain_of_origin, origin_allowed
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
        changes: ChangeBus,
        now: Callable[[], datetime],
        hasher: SecretHasher,
        default_access_token_seconds: int,
    ) -> None:
        super().__init__(uow, changes, now)
        self._authenticator = ClientAuthenticator(hasher)
        self._default_lifetime = default_access_token_seconds

    async def resolve_client(
        self,
        principal: Principal,
        tenant: str,
        client_id: str,
        client_secret: str,
        app_ref: str,
        grant_type: str,
    ) -> GrantContext:
        """Authenticate a client (services.registry.resolution.authentication) and resolve
        what its tokens carry. A disabled app or a retired plan blocks issuance (TrueParser
        seed)."""
        async with self.read(principal, RESOLVE) as scope:
            tx = scope.tx
            credentials = await tx.clients.credentials(client_id)
            upkeep = self._authenticator.authenticate(
                credentials, tenant, client_secret, grant_type, self._now()
            )
            owner = await tx.tenants.get(tenant)
            client = await tx.clients.get(client_id)
            if owner is None or client is None:  # deleted meanwhile
                raise oauth.invalid_client()
            if grant_type not in client.grant_types:
                raise oauth.unauthorized_client(
                    "GRANT_TYPE_NOT_ALLOWED", f"This client may not use the {grant_type} grant."
                )
            app = await _client_app(tx, client, app_ref)
            context = await self._app_context(tx, owner, app, client.client_id, client.confidential)
            roles, permissions = await tx.resolution.client_roles_and_permissions(
                client.id, app.id, list(app.service_codes)
            )
            scopes = [
                s.name for s in await tx.clients.scopes(client.id) if s.app_id in (None, app.id)
            ]
        if upkeep is not None:
            await self._keep_up(principal, upkeep)
        return GrantContext(
            **{
                **vars(context),
                "roles": tuple(roles),
                "permissions": tuple(permissions),
                "scopes": tuple(scopes),
            }
        )

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

    async def _keep_up(self, principal: Principal, upkeep: SecretUpkeep) -> None:
        async with self.write(principal, None) as scope:
            clients = scope.tx.clients
            if upkeep.touch:
                await clients.mark_secret_used(upkeep.secret_id, scope.now)
            if upkeep.rehash is not None:
                await clients.replace_secret_hash(upkeep.secret_id, upkeep.rehash)
                log.info(
                    "client secret re-hashed under the current pepper", secret=upkeep.secret_id
                )
            scope.unaudited("bookkeeping of a secret's use, not an administrative change")


async def _client_app(tx: ResolutionTx, client: Client, app_ref: str) -> App:
    apps = [
        a
        for a in [await tx.apps.get_by_id(i, with_client_ids=False) for i in client.app_ids]
        if a is not None
    ]
    if app_ref:
        match = next((a for a in apps if app_ref in (a.slug, a.id)), None)
        if match is None:
            raise oauth.invalid_request(
                "APP_NOT_SERVED", f"This client does not serve an app {app_ref!r}."
            )
        return match
    if len(apps) == 1:
        return apps[0]
    if not apps:
        raise oauth.unauthorized_client("CLIENT_HAS_NO_APP", "This client serves no app.")
    raise oauth.invalid_request(
        "APP_REQUIRED", "This client serves several apps; name one with the 'app' parameter."
    )
