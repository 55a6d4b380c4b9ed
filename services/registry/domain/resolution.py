"""The token service's read model: who is this client or user in this app, carrying what.

One call per token request (ARCHITECTURE §5): authenticate the client (or load the user),
pick the app, apply the issuance rules (enabled app, active plan, active membership, enabled
user) and return roles, the permission union over the app's service codes (plus the core
catalog for users), entitlements, scopes, audiences and the user's token version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from services.common import oauth_errors as oauth
from services.common.auth import Principal
from services.common.errors import NotFound, PermissionDenied
from services.common.secrets import CLIENT_SECRET_PREFIX, SecretHasher, generate_secret
from services.registry.domain.clients import PUBLIC_CLIENT_GRANTS
from services.registry.domain.models import (
    App,
    Client,
    ClientCredentials,
    GrantContext,
    PlanStatus,
    Tenant,
    UserGrantContext,
)
from services.registry.domain.origins import domain_of_origin, origin_allowed
from services.registry.domain.ports import RegistryTx, UnitOfWork

LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keyed hashes computed per client authentication, whatever the outcome: a regeneration with a
# grace period leaves at most two live secrets (services.registry.domain.clients).
SECRETS_CHECKED = 2


class ResolutionService:
    def __init__(
        self,
        transaction: UnitOfWork,
        read: UnitOfWork,
        hasher: SecretHasher,
        default_access_token_seconds: int,
        now: Callable[[], datetime],
    ) -> None:
        self._tx = transaction
        self._read = read
        self._hasher = hasher
        # A keyed hash no secret matches, computed in place of a missing one.
        self._decoy = hasher.hash(generate_secret(CLIENT_SECRET_PREFIX))
        self._default_lifetime = default_access_token_seconds
        self._now = now

    async def resolve_client(
        self,
        principal: Principal,
        tenant_slug: str,
        client_id: str,
        client_secret: str,
        app_ref: str,
        grant_type: str,
    ) -> GrantContext:
        """Authenticate a client and resolve what its tokens carry (token service only).

        Unknown tenant, unknown client, another tenant's client, wrong secret, disabled
        client and a public client without the credentials its grant needs all fail with the
        same invalid_client error at the same cost (§7: no oracle, see :meth:`_authenticate`).
        A disabled app or a retired plan blocks issuance (TrueParser seed).
        """
        principal.require_service("token")
        async with self._read() as tx:
            credentials = await tx.client_credentials(client_id)
            secret_id = self._authenticate(credentials, tenant_slug, client_secret, grant_type)
            tenant = await tx.get_tenant(tenant_slug)
            client = await tx.get_client(client_id)
            if tenant is None or client is None:  # deleted meanwhile
                raise oauth.invalid_client()
            if grant_type not in client.grant_types:
                raise oauth.unauthorized_client(
                    "GRANT_TYPE_NOT_ALLOWED", f"This client may not use the {grant_type} grant."
                )
            app = await self._client_app(tx, client, app_ref)
            context = await self._app_context(
                tx, tenant, app, client.client_id, client.confidential
            )
            roles, permissions = await tx.client_roles_and_permissions(
                client.id, app.id, list(app.service_codes)
            )
            scopes = [
                s.name for s in await tx.client_scopes(client.id) if s.app_id in (None, app.id)
            ]
        if secret_id is not None:
            await self._touch_secret(secret_id)
        return GrantContext(
            **{
                **vars(context),
                "roles": tuple(roles),
                "permissions": tuple(permissions),
                "scopes": tuple(scopes),
            }
        )

    async def resolve_user(
        self, principal: Principal, tenant_slug: str, app_ref: str, user_id: str, client_id: str
    ) -> UserGrantContext:
        """What a user's token for ``app_ref`` carries. Refused for a disabled user
        (USER_DISABLED) or without an active membership (NOT_A_MEMBER, Vendidit seed §6)."""
        principal.require_service("token")
        async with self._read() as tx:
            tenant = await tx.get_tenant(tenant_slug)
            if tenant is None:
                raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {tenant_slug!r}.")
            app = await tx.get_app(tenant.id, app_ref)
            if app is None:
                raise NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {app_ref!r}.")
            user = await tx.get_user(tenant.id, user_id)
            if user is None:
                raise NotFound("USER_NOT_FOUND", f"Tenant {tenant.slug!r} has no user {user_id!r}.")
            if user.status != "active":
                raise PermissionDenied("USER_DISABLED", "This user is disabled.")
            if await tx.membership_status(user.id, app.id) != "active":
                raise PermissionDenied(
                    "NOT_A_MEMBER", f"This user has no active membership of app {app.slug!r}."
                )
            context = await self._app_context(tx, tenant, app, client_id, False)
            roles, permissions = await tx.user_roles_and_permissions(
                tenant.id, user.id, app.id, list(app.service_codes)
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

    async def tenant_exists(self, principal: Principal, tenant_slug: str) -> bool:
        """Whether the tenant exists (token service only: its JWKS and discovery answer 404
        for an unknown tenant, and signing keys are created only for existing ones)."""
        principal.require_service("token")
        async with self._read() as tx:
            return await tx.get_tenant(tenant_slug) is not None

    async def origin_allowed(self, tenant_slug: str, origin: str) -> bool:
        """Whether a browser page of ``origin`` may call the tenant's OAuth endpoints: its
        domain is an allowed domain of one of the tenant's enabled apps. Needs no caller
        identity: it answers only what CORS headers reveal to that origin anyway."""
        if domain_of_origin(origin) is None:
            return False
        async with self._read() as tx:
            tenant = await tx.get_tenant(tenant_slug)
            if tenant is None:
                return False
            return origin_allowed(origin, await tx.enabled_app_domains(tenant.id))

    async def _app_context(
        self, tx: RegistryTx, tenant: Tenant, app: App, client_id: str, confidential: bool
    ) -> GrantContext:
        """Issuance rules shared by every grant: enabled app, no retired plan."""
        if not app.enabled:
            raise oauth.unauthorized_client(
                "APP_DISABLED", f"App {app.slug!r} is disabled; it gets no tokens."
            )
        entitlements: dict[str, int] = {}
        plan_code: str | None = None
        if app.plan_id:
            plan = await tx.get_plan(app.plan_id)
            if plan is None or plan.status is PlanStatus.RETIRED:
                raise oauth.unauthorized_client(
                    "PLAN_RETIRED",
                    f"App {app.slug!r} is on a retired plan, so token issuance is blocked; assign an "
                    "active plan or remove the plan.",
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
            audiences=tuple(await tx.app_audiences(app.id)),
        )

    def _authenticate(
        self,
        credentials: ClientCredentials | None,
        tenant_slug: str,
        secret: str,
        grant_type: str,
    ) -> str | None:
        """Check the client's credentials or raise invalid_client; return the id of the matched
        secret when its last-used time is due for an update.

        Every outcome costs the same: the credentials were read in one query, and exactly
        :data:`SECRETS_CHECKED` keyed hashes are computed, padded with a decoy for a client
        that is unknown, public or has fewer live secrets (grace periods keep at most two).
        A public client has nothing to present; it is identified only for the grants that
        do without a secret (never client_credentials, RFC 6749 §4.4.2).
        """
        now = self._now()
        live = [
            r
            for r in (credentials.secrets if credentials is not None else ())
            if r.expires_at is None or r.expires_at > now
        ][:SECRETS_CHECKED]
        hashes = [r.secret_hash for r in live]
        hashes += [self._decoy] * (SECRETS_CHECKED - len(hashes))
        matches = [self._hasher.verify(secret, stored) for stored in hashes]
        matched = next((r for r, ok in zip(live, matches, strict=False) if ok), None)
        if credentials is None or credentials.tenant_slug != tenant_slug:
            raise oauth.invalid_client()
        if not credentials.enabled:
            raise oauth.invalid_client()
        if not credentials.confidential:
            if secret or grant_type not in PUBLIC_CLIENT_GRANTS:
                raise oauth.invalid_client()
            return None
        if matched is None:
            raise oauth.invalid_client()
        if matched.last_used_at is None or now - matched.last_used_at > LAST_USED_RESOLUTION:
            return matched.id
        return None

    async def _touch_secret(self, secret_id: str) -> None:
        # One-minute resolution: the token path writes at most once a minute per secret.
        async with self._tx() as tx:
            await tx.mark_secret_used(secret_id, self._now())

    @staticmethod
    async def _client_app(tx: RegistryTx, client: Client, app_ref: str) -> App:
        apps = [
            a
            for a in [await tx.get_app_by_id(i, with_client_ids=False) for i in client.app_ids]
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
