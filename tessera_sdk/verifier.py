"""Verify Tessera access tokens locally against the issuing tenant's JWKS.

Implements the checks RFC 9068 §4 asks of a resource server: the ``typ`` header is
``at+jwt``; the issuer is a Tessera tenant issuer (``{public_url}/t/{tenant}``); the signature
verifies with a key from that tenant's JWKS whose ``alg`` matches the header (no algorithm
confusion, never ``none`` or HS*); ``exp``/``nbf``/``iat`` hold with a small leeway; the
audience matches when one is expected. The JWKS is cached per tenant and refetched on an
unknown ``kid`` at most once per ``min_refresh_seconds`` (key rotation publishes new keys
before they sign, so an unknown kid after a refresh is a forgery, not a race).

A resource server pins the tenant(s) whose issuer it trusts (``tenants=`` is required) and
the audience it expects. Tessera's default audience of an access token is
:func:`app_audience` — ``{public_url}/t/{tenant}/apps/{app}`` — which no other tenant's app
can share even when the slugs are equal (ARCHITECTURE §3).

Local verification cannot see that a token was revoked, or that its client's secret was
regenerated, before it expires. A resource server that must see those at once gives the
verifier an ``introspection=`` (tessera_sdk.introspection.Introspector): every token that
passes the local checks is then confirmed active by the issuer, with a short cache.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256", "EdDSA"})
# What an issuer's tenant segment may look like; anything else is refused before a lookup.
TENANT_SLUG = re.compile(r"[a-z][a-z0-9-]{1,62}")
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


def issuer_of(public_url: str, tenant: str) -> str:
    """The issuer of a tenant's tokens: ``{public_url}/t/{tenant}``."""
    return f"{public_url.rstrip('/')}/t/{tenant}"


def app_audience(public_url: str, tenant: str, app: str) -> str:
    """The default ``aud`` of access tokens minted for ``app`` of ``tenant``: unique
    platform-wide because it is qualified by the tenant's issuer."""
    return f"{issuer_of(public_url, tenant)}/apps/{app}"


class KeysUnavailable(Exception):
    """The issuing tenant's JWKS could not be fetched. Not the token's fault: answer 503
    (retry later), never 401."""


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` is a stable id, ``message`` is for humans."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class JwksSource(Protocol):
    async def fetch(self, tenant: str) -> dict[str, Any]:
        """Return the tenant's JWK Set document."""
        ...


class HttpJwksSource:
    """Fetches ``{public_url}/t/{tenant}/.well-known/jwks.json`` over HTTP. A 404 (no such
    tenant) is an empty key set; any other failure means the keys are unavailable."""

    def __init__(self, public_url: str, client: httpx.AsyncClient) -> None:
        self._base = public_url.rstrip("/")
        self._client = client

    async def fetch(self, tenant: str) -> dict[str, Any]:
        response = await self._client.get(f"{self._base}/t/{tenant}/.well-known/jwks.json")
        if response.status_code == 404:
            return {"keys": []}
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


# Set instead of ``permissions`` in a token too large to carry them (the issuer's size
# budget); introspection returns the full list.
PERMISSIONS_OMITTED = "permissions_omitted"


@dataclass(frozen=True)
class VerifiedToken:
    tenant: str
    claims: dict[str, Any]

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.claims.get("permissions") or ())


@dataclass
class _CachedJwks:
    keys: dict[str, jwt.PyJWK]
    fetched_at: float


RevocationCheck = Callable[[VerifiedToken], Awaitable[None]]


class Introspection(Protocol):
    """The verifier's introspection mode (tessera_sdk.introspection.Introspector)."""

    @property
    def tenants(self) -> frozenset[str]:
        """The tenants it can ask about."""
        ...

    async def check(self, token: str, verified: VerifiedToken) -> dict[str, Any]:
        """Raise TokenRejected when the verified token is no longer active."""
        ...


class BaseTokenVerifier:
    """The checks, JWKS cache and key lookup; which tenants' issuers count is decided by
    ``accept_tenant``. Resource servers use :class:`TokenVerifier`, which pins them."""

    def __init__(
        self,
        public_url: str,
        source: JwksSource,
        *,
        accept_tenant: Callable[[str], bool],
        audience: str | None = None,
        leeway_seconds: int = 30,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        revocation_check: RevocationCheck | None = None,
        max_cached_tenants: int = 1024,
        introspection: Introspection | None = None,
    ) -> None:
        """``audience``: the value expected in ``aud`` (None skips the check: only for
        callers that check the app claim instead, such as Tessera's own services).
        ``introspection``: after every local check passed, ask the issuer whether the token
        is still active (tessera_sdk.introspection explains the trade-off)."""
        self._issuer_prefix = public_url.rstrip("/") + "/t/"
        self._source = source
        self._accept_tenant = accept_tenant
        self._audience = audience
        self._leeway = leeway_seconds
        self._cache_seconds = cache_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._revocation_check = revocation_check
        self._introspection = introspection
        self._max_cached = max_cached_tenants
        # Bounded (LRU): issuers are attacker-controlled until the signature checks out.
        self._cache: OrderedDict[str, _CachedJwks] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def verify(self, token: str) -> VerifiedToken:
        """Return the verified claims or raise TokenRejected."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenRejected("MALFORMED", "The token is not a well-formed JWT.") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected("ALGORITHM_NOT_ALLOWED", f"Algorithm {alg!r} is not accepted.")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("WRONG_TYPE", "The token is not an access token (typ at+jwt).")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("KID_MISSING", "The token header has no key id (kid).")
        issuer = unverified.get("iss")
        tenant = self._tenant_of(issuer)
        key = await self._key(tenant, kid)
        if key.algorithm_name != alg:
            raise TokenRejected("ALGORITHM_MISMATCH", "The header alg does not match the key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                issuer=issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub", "jti"],
                    "verify_aud": self._audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("EXPIRED", "The token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected(
                "WRONG_AUDIENCE", "The token is not meant for this audience."
            ) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("INVALID", f"The token is not valid: {exc}.") from exc
        verified = VerifiedToken(tenant=tenant, claims=claims)
        if self._revocation_check is not None:
            await self._revocation_check(verified)
        if self._introspection is not None:
            answer = await self._introspection.check(token, verified)
            if claims.get(PERMISSIONS_OMITTED):
                # The token was too large to carry its permissions; the issuer has them.
                claims = {k: v for k, v in claims.items() if k != PERMISSIONS_OMITTED}
                claims["permissions"] = list(answer.get("permissions") or ())
                verified = VerifiedToken(tenant=tenant, claims=claims)
        elif claims.get(PERMISSIONS_OMITTED):
            raise TokenRejected(
                "PERMISSIONS_OMITTED",
                "The token was too large to carry its permissions; configure the verifier's "
                "introspection= (tessera_sdk.introspection) so they can be fetched.",
            )
        return verified

    def _tenant_of(self, issuer: object) -> str:
        if not isinstance(issuer, str) or not issuer.startswith(self._issuer_prefix):
            raise TokenRejected("WRONG_ISSUER", "The token was not issued by this Tessera.")
        tenant = issuer[len(self._issuer_prefix) :]
        if not TENANT_SLUG.fullmatch(tenant):
            raise TokenRejected("WRONG_ISSUER", "The token issuer is not a tenant issuer.")
        if not self._accept_tenant(tenant):
            raise TokenRejected(
                "WRONG_TENANT", f"Tokens of tenant {tenant!r} are not accepted here."
            )
        return tenant

    async def _key(self, tenant: str, kid: str) -> jwt.PyJWK:
        now = self._clock()
        cached = self._cache.get(tenant)
        if cached is not None and now - cached.fetched_at < self._cache_seconds:
            self._cache.move_to_end(tenant)
            key = cached.keys.get(kid)
            if key is not None:
                return key
            if now - cached.fetched_at < self._refresh_interval(cached):
                raise TokenRejected("UNKNOWN_KID", "The token was signed by an unknown key.")
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            cached = self._cache.get(tenant)
            if cached is None or (
                kid not in cached.keys and now - cached.fetched_at >= self._refresh_interval(cached)
            ):
                cached = await self._refresh(tenant)
        key = cached.keys.get(kid)
        if key is None:
            raise TokenRejected("UNKNOWN_KID", "The token was signed by an unknown key.")
        return key

    async def _refresh(self, tenant: str) -> _CachedJwks:
        try:
            document = await self._source.fetch(tenant)
        except Exception as exc:
            raise KeysUnavailable(
                f"The signing keys of tenant {tenant!r} cannot be fetched; retry shortly."
            ) from exc
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("alg") not in ALLOWED_ALGORITHMS or "kid" not in entry:
                continue
            try:
                # EC P-256 (ES256), OKP Ed25519 (EdDSA, RFC 8037) and RSA keys load; a key
                # this PyJWT cannot load is skipped rather than failing the whole set.
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
        cached = _CachedJwks(keys=keys, fetched_at=self._clock())
        self._cache[tenant] = cached
        self._cache.move_to_end(tenant)
        while len(self._cache) > self._max_cached:
            evicted, _ = self._cache.popitem(last=False)
            self._locks.pop(evicted, None)
        return cached

    def _refresh_interval(self, cached: _CachedJwks) -> float:
        # A tenant with no key yet gets its first one when it first signs: look again soon.
        return self._min_refresh if cached.keys else min(1.0, self._min_refresh)


class TokenVerifier(BaseTokenVerifier):
    """Verifies access tokens for a resource server: only the issuers of ``tenants`` count.

    ``tenants`` is required: a verifier that accepted any tenant under ``public_url`` would
    take another tenant's token for an app of the same slug. Use :meth:`for_app` to pin one
    tenant and the default audience of one app.
    """

    def __init__(
        self,
        public_url: str,
        source: JwksSource,
        *,
        tenants: Iterable[str],
        audience: str | None = None,
        leeway_seconds: int = 30,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        revocation_check: RevocationCheck | None = None,
        introspection: Introspection | None = None,
    ) -> None:
        if isinstance(tenants, str):
            raise TypeError("tenants= takes a collection of tenant slugs, e.g. ['acme'].")
        pinned = frozenset(tenants)
        invalid = sorted(t for t in pinned if not TENANT_SLUG.fullmatch(t))
        if not pinned or invalid:
            raise ValueError(
                "tenants= must name at least one tenant slug (lowercase letters, digits, "
                f"hyphens), e.g. ['acme']; invalid: {invalid}."
            )
        if introspection is not None and not pinned <= introspection.tenants:
            missing = sorted(pinned - introspection.tenants)
            raise ValueError(
                "introspection= needs the resource server's client credentials for every "
                f"tenant in tenants=; none for {missing}."
            )
        self.tenants = pinned
        super().__init__(
            public_url,
            source,
            accept_tenant=pinned.__contains__,
            audience=audience,
            leeway_seconds=leeway_seconds,
            cache_seconds=cache_seconds,
            min_refresh_seconds=min_refresh_seconds,
            clock=clock,
            revocation_check=revocation_check,
            max_cached_tenants=max(len(pinned), 1),
            introspection=introspection,
        )

    @classmethod
    def for_app(
        cls,
        public_url: str,
        source: JwksSource,
        *,
        tenant: str,
        app: str,
        **options: Any,
    ) -> TokenVerifier:
        """A verifier for the resource server of ``app`` in ``tenant``: its issuer pinned and
        the app's default audience (:func:`app_audience`) required."""
        return cls(
            public_url,
            source,
            tenants=[tenant],
            audience=app_audience(public_url, tenant, app),
            **options,
        )
