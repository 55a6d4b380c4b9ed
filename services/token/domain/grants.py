"""Grants of the token endpoint (RFC 6749 §4) and the access tokens they mint.

Access tokens follow RFC 9068 (JWT profile): header ``typ: at+jwt`` and ``kid``; claims
``iss, sub, aud, exp, nbf, iat, jti, client_id, scope`` plus Tessera's ``tenant, app_id,
app_code, roles, permissions, region, db_code`` and ``entitlements`` only when the app has an
active plan (TrueParser seed: "An app can issue tokens without a plan, but the token will not
include the entitlements claim").
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from services.common import oauth_errors as oauth
from services.common.vocabulary import SERVICE_TOKEN_AUDIENCE, SUPPORTED_GRANT_TYPES, GrantType
from services.token.domain.keys import KeyService

CLIENT_CREDENTIALS = GrantType.CLIENT_CREDENTIALS.value


@dataclass(frozen=True)
class ClientContext:
    """What the registry says a client may carry in one app (resolved per request)."""

    tenant: str
    client_id: str
    app_id: str
    app_code: str
    region: str
    db_code: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    has_plan: bool
    entitlements: dict[str, int]
    access_token_seconds: int
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()


class ClientResolver(Protocol):
    async def resolve_client(
        self, tenant: str, client_id: str, client_secret: str, app: str, grant_type: str
    ) -> ClientContext:
        """Authenticate the client and resolve its grant context, or raise a domain error."""
        ...


@dataclass(frozen=True)
class TokenRequest:
    tenant: str
    grant_type: str
    client_id: str
    client_secret: str
    scope: str = ""
    app: str = ""
    resource: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"


class TokenService:
    """Runs grants and signs tokens. ``issuer(tenant)`` gives the tenant's issuer URL."""

    def __init__(
        self,
        keys: KeyService,
        resolver: ClientResolver,
        issuer: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._resolver = resolver
        self._issuer = issuer
        self._clock = clock

    async def exchange(self, request: TokenRequest) -> IssuedToken:
        """Run the requested grant (RFC 6749 §4.4 for client_credentials)."""
        if not request.grant_type:
            raise oauth.invalid_request(
                "GRANT_TYPE_MISSING", "The grant_type parameter is required."
            )
        if request.grant_type not in SUPPORTED_GRANT_TYPES:
            raise oauth.unsupported_grant_type(request.grant_type)
        if not request.client_id:
            raise oauth.invalid_client("Client authentication is required (Basic or form).")
        context = await self._resolver.resolve_client(
            request.tenant,
            request.client_id,
            request.client_secret,
            request.app,
            request.grant_type,
        )
        scopes = _requested_scopes(request.scope, context.scopes)
        audience = _audience(request.resource, context, self._app_audience(context))
        return await self._sign_machine_token(context, scopes, audience)

    def _app_audience(self, context: ClientContext) -> str:
        """The default ``aud``: the issuer-qualified app, unique platform-wide (two tenants'
        apps with the same slug never share an audience; ARCHITECTURE §3)."""
        return f"{self._issuer(context.tenant)}/apps/{context.app_code}"

    async def _sign_machine_token(
        self, context: ClientContext, scopes: list[str], audience: str | list[str]
    ) -> IssuedToken:
        key = await self._keys.signing_key(context.tenant)
        now = int(self._clock())
        lifetime = context.access_token_seconds
        claims: dict[str, Any] = {
            "iss": self._issuer(context.tenant),
            "sub": context.client_id,
            "aud": audience,
            "exp": now + lifetime,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": context.client_id,
            "scope": " ".join(scopes),
            "tenant": context.tenant,
            "app_id": context.app_id,
            "app_code": context.app_code,
            "roles": list(context.roles),
            "permissions": list(context.permissions),
            "region": context.region,
            "db_code": context.db_code,
        }
        if context.has_plan:
            claims["entitlements"] = dict(context.entitlements)
        token = jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"}
        )
        return IssuedToken(access_token=token, expires_in=lifetime, scope=" ".join(scopes))


async def mint_service_token(
    keys: KeyService,
    issuer: Callable[[str], str],
    tenant: str,
    service: str,
    *,
    ttl: int = 300,
    clock: Callable[[], float] = time.time,
) -> tuple[str, float]:
    """A token for a platform service's own calls (``sub = service:<name>``, claim ``svc``).

    Minted in the control-plane tenant with the token service's own keys, so no client or
    user token can impersonate a service. Returns the token and its expiry (epoch seconds).
    """
    key = await keys.signing_key(tenant)
    now = int(clock())
    claims = {
        "iss": issuer(tenant),
        "sub": f"service:{service}",
        "aud": SERVICE_TOKEN_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "svc": service,
        "tenant": tenant,
    }
    token = jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"}
    )
    return token, float(now + ttl)


def _requested_scopes(scope: str, allowed: tuple[str, ...]) -> list[str]:
    """RFC 6749 §3.3: an unknown scope is refused (invalid_scope), never silently dropped."""
    requested = [s for s in scope.split(" ") if s]
    unknown = [s for s in requested if s not in allowed]
    if unknown:
        raise oauth.invalid_scope(
            f"The client may not request the scope(s) {' '.join(unknown)!r}; "
            "ask an administrator to allow them on the client."
        )
    return list(dict.fromkeys(requested))


def _audience(
    resource: tuple[str, ...], context: ClientContext, app_audience: str
) -> str | list[str]:
    """RFC 8707 resource indicators narrow the audience to the app itself or its resource
    servers; without one the audience is the issuer-qualified app."""
    if not resource:
        return app_audience
    allowed = {app_audience, *context.audiences}
    unknown = [r for r in resource if r not in allowed]
    if unknown:
        raise oauth.invalid_target(
            f"The resource(s) {', '.join(unknown)} are not served by app {context.app_code!r}.",
        )
    return resource[0] if len(resource) == 1 else list(resource)
