"""Verify Tessera access tokens locally against the issuing tenant's JWKS.

Implements the checks RFC 9068 §4 asks of a resource server: the ``typ`` header is
``at+jwt``; the issuer is a Tessera tenant issuer (``{public_url}/t/{tenant}``); the signature
verifies with a key from that tenant's JWKS whose ``alg`` matches the header (no algorithm
confusion, never ``none`` or HS*); ``exp``/``nbf``/``iat`` hold with a small leeway; the
audience matches when one is expected. The JWKS is cached per tenant and refetched on an
unknown ``kid`` at most once per ``min_refresh_seconds`` (key rotation publishes new keys
before they sign, so an unknown kid after a refresh is a forgery, not a race).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256", "EdDSA"})
# What an issuer's tenant segment may look like; anything else is refused before a lookup.
TENANT_SLUG = re.compile(r"[a-z][a-z0-9-]{1,62}")
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


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
    """Fetches ``{public_url}/t/{tenant}/.well-known/jwks.json`` over HTTP."""

    def __init__(self, public_url: str, client: httpx.AsyncClient) -> None:
        self._base = public_url.rstrip("/")
        self._client = client

    async def fetch(self, tenant: str) -> dict[str, Any]:
        response = await self._client.get(f"{self._base}/t/{tenant}/.well-known/jwks.json")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document


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


class TokenVerifier:
    """Verifies access tokens of any tenant under ``public_url``."""

    def __init__(
        self,
        public_url: str,
        source: JwksSource,
        *,
        audience: str | None = None,
        leeway_seconds: int = 30,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        revocation_check: RevocationCheck | None = None,
        tenants: frozenset[str] | None = None,
        max_cached_tenants: int = 1024,
    ) -> None:
        """``audience``: the value your resource server expects in ``aud`` (None skips the
        check: only for platform-internal callers that check the app instead). ``tenants``:
        accept tokens of these tenants only (None = any tenant under ``public_url``)."""
        self._issuer_prefix = public_url.rstrip("/") + "/t/"
        self._source = source
        self._audience = audience
        self._leeway = leeway_seconds
        self._cache_seconds = cache_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._revocation_check = revocation_check
        self._tenants = tenants
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
        return verified

    def _tenant_of(self, issuer: object) -> str:
        if not isinstance(issuer, str) or not issuer.startswith(self._issuer_prefix):
            raise TokenRejected("WRONG_ISSUER", "The token was not issued by this Tessera.")
        tenant = issuer[len(self._issuer_prefix) :]
        if not TENANT_SLUG.fullmatch(tenant):
            raise TokenRejected("WRONG_ISSUER", "The token issuer is not a tenant issuer.")
        if self._tenants is not None and tenant not in self._tenants:
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
            raise TokenRejected(
                "JWKS_UNAVAILABLE", f"The signing keys of tenant {tenant!r} cannot be fetched."
            ) from exc
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("alg") not in ALLOWED_ALGORITHMS or "kid" not in entry:
                continue
            keys[entry["kid"]] = jwt.PyJWK(entry)
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
