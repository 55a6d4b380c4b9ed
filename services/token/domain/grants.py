"""Grants of the token endpoint (RFC 6749 §4) and the access tokens they mint.

Access tokens follow RFC 9068 (JWT profile): header ``typ: at+jwt`` and ``kid``; claims
``iss, sub, aud, exp, nbf, iat, jti, client_id, scope`` plus Tessera's ``tenant, app_id,
app_code, roles, permissions, region, db_code`` (``permissions`` replaced by
``permissions_omitted: true`` when they would not fit the size budget:
services.token.domain.token_size) and ``entitlements`` only when the app has an active plan
(TrueParser seed: "An app can issue tokens without a plan, but the token will not include
the entitlements claim").
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

from services.common import oauth_errors as oauth
from services.common.vocabulary import SERVICE_TOKEN_AUDIENCE, SUPPORTED_GRANT_TYPES, GrantType
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.issuance import Grant, decide
from services.token.domain.keys import KeyService
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.domain.snapshots import AppGrant, ClientSnapshot
from services.token.domain.token_size import DEFAULT_BUDGET_BYTES, fit_permissions

CLIENT_CREDENTIALS = GrantType.CLIENT_CREDENTIALS.value


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
        snapshots: SnapshotCache,
        authenticator: ClientAuthenticator,
        upkeep: SecretUpkeepReporter,
        issuer: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
        max_token_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self._keys = keys
        self._snapshots = snapshots
        self._max_token_bytes = max_token_bytes
        self._authenticator = authenticator
        self._upkeep = upkeep
        self._issuer = issuer
        self._clock = clock

    async def exchange(self, request: TokenRequest) -> IssuedToken:
        """Run the requested grant (RFC 6749 §4.4 for client_credentials): authenticate the
        client (services.token.domain.authentication), apply the issuance rules
        (services.token.domain.issuance), sign."""
        if not request.grant_type:
            raise oauth.invalid_request(
                "GRANT_TYPE_MISSING", "The grant_type parameter is required."
            )
        if request.grant_type not in SUPPORTED_GRANT_TYPES:
            raise oauth.unsupported_grant_type(request.grant_type)
        if not request.client_id:
            raise oauth.invalid_client("Client authentication is required (Basic or form).")
        client = await self._snapshots.get(request.tenant, request.client_id)
        upkeep = self._authenticator.authenticate(
            client,
            request.client_secret,
            request.grant_type,
            datetime.fromtimestamp(self._clock(), UTC),
        )
        grant = decide(
            client,
            request.grant_type,
            request.app,
            request.scope,
            request.resource,
            lambda app: self._app_audience(client.tenant, app),
        )
        if upkeep is not None:
            self._upkeep.report(upkeep)
        return await self._sign_machine_token(client, grant)

    def _app_audience(self, tenant: str, app: AppGrant) -> str:
        """The default ``aud``: the issuer-qualified app, unique platform-wide (two tenants'
        apps with the same slug never share an audience; ARCHITECTURE §3)."""
        return f"{self._issuer(tenant)}/apps/{app.slug}"

    async def _sign_machine_token(self, client: ClientSnapshot, grant: Grant) -> IssuedToken:
        key = await self._keys.signing_key(client.tenant)
        now = int(self._clock())
        app = grant.app
        lifetime = app.access_token_seconds
        scope = " ".join(grant.scopes)
        claims: dict[str, Any] = {
            "iss": self._issuer(client.tenant),
            "sub": client.client_id,
            "aud": grant.audience,
            "exp": now + lifetime,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": client.client_id,
            "scope": scope,
            "tenant": client.tenant,
            "app_id": app.id,
            "app_code": app.slug,
            "roles": list(app.roles),
            "permissions": list(app.permissions),
            "region": app.region,
            "db_code": app.db_code,
        }
        if app.has_plan:
            claims["entitlements"] = dict(app.entitlements)
        token = jwt.encode(
            fit_permissions(claims, self._max_token_bytes),
            key.private_key,
            algorithm=key.alg,
            headers={"kid": key.kid, "typ": "at+jwt"},
        )
        return IssuedToken(access_token=token, expires_in=lifetime, scope=scope)


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
