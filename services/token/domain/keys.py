"""Per-tenant signing keys (ARCHITECTURE §3).

Each tenant has its own keys. Access tokens are signed ES256 with the tenant's current key
and always carry its ``kid`` (the RFC 7638 thumbprint). Private keys are stored only as
envelope ciphertexts. The JWKS publishes every key in state ``next``, ``current`` or
``retired`` (until ``publish_until``), so a key is published before it signs and stays
published until every token it signed has expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.common.envelope import EnvelopeCipher
from services.common.errors import NotFound

SIGNING_ALG = "ES256"
UNKNOWN_TENANT_SECONDS = 30.0
UNKNOWN_TENANTS_REMEMBERED = 10_000


@dataclass(frozen=True)
class StoredKey:
    kid: str
    tenant: str
    alg: str
    state: str
    private_key_ciphertext: str
    public_jwk: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None
    publish_until: datetime | None


class TenantDirectory(Protocol):
    async def exists(self, tenant: str) -> bool:
        """Whether the tenant exists (asked of the registry)."""
        ...


class KeyStore(Protocol):
    async def current_key(self, tenant: str, alg: str) -> StoredKey | None: ...
    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]: ...
    async def insert_current_key(self, key: StoredKey) -> bool:
        """Insert ``key`` as the current key; False if another one became current first."""
        ...


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any  # cryptography private key object, ready for PyJWT


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an EC public key."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")


def _private_context(kid: str) -> bytes:
    return f"signing-key:{kid}".encode()


class KeyService:
    """Loads, creates and publishes tenant keys; caches decrypted signing keys briefly."""

    def __init__(
        self,
        store: KeyStore,
        cipher: EnvelopeCipher,
        tenants: TenantDirectory,
        *,
        now: Callable[[], datetime],
        cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._now = now
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._signing: dict[str, tuple[float, SigningKey]] = {}
        self._tenants = tenants
        # Tenants the registry said do not exist, with when it said so: a flood of JWKS
        # requests for made-up tenants costs the registry one call per name per interval.
        self._unknown: OrderedDict[str, float] = OrderedDict()

    async def signing_key(self, tenant: str) -> SigningKey:
        """The tenant's current signing key, created on first use."""
        cached = self._signing.get(tenant)
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        stored = await self._store.current_key(tenant, SIGNING_ALG)
        if stored is None:
            stored = await self._create(tenant)
        key = SigningKey(
            kid=stored.kid,
            alg=stored.alg,
            private_key=serialization.load_pem_private_key(
                self._cipher.decrypt(
                    stored.private_key_ciphertext, context=_private_context(stored.kid)
                ),
                password=None,
            ),
        )
        self._signing[tenant] = (self._monotonic(), key)
        return key

    async def jwks(self, tenant: str) -> dict[str, Any]:
        """The tenant's JWK Set (RFC 7517 §5), never empty for a tenant that exists.

        A tenant's first key is created here when it has none yet (right after the tenant
        was created), so that a relying party fetching the JWKS before the first token
        caches the key that token will carry. Keys are created only for tenants the registry
        confirms; an unknown tenant raises NotFound (404, not a cacheable empty set).
        """
        keys = await self._store.published_keys(tenant, self._now())
        if not keys:
            if not await self._exists(tenant):
                raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {tenant!r}.")
            await self.signing_key(tenant)
            keys = await self._store.published_keys(tenant, self._now())
        return {"keys": [k.public_jwk for k in keys]}

    async def _exists(self, tenant: str) -> bool:
        said_unknown_at = self._unknown.get(tenant)
        if said_unknown_at is not None:
            if self._monotonic() - said_unknown_at < UNKNOWN_TENANT_SECONDS:
                return False
            del self._unknown[tenant]
        if await self._tenants.exists(tenant):
            return True
        self._unknown[tenant] = self._monotonic()
        while len(self._unknown) > UNKNOWN_TENANTS_REMEMBERED:
            self._unknown.popitem(last=False)
        return False

    async def _create(self, tenant: str) -> StoredKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        kid = thumbprint(jwk)
        jwk.update({"kid": kid, "alg": SIGNING_ALG, "use": "sig"})
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        now = self._now()
        stored = StoredKey(
            kid=kid,
            tenant=tenant,
            alg=SIGNING_ALG,
            state="current",
            private_key_ciphertext=self._cipher.encrypt(pem, context=_private_context(kid)),
            public_jwk=jwk,
            created_at=now,
            activated_at=now,
            publish_until=None,
        )
        if await self._store.insert_current_key(stored):
            return stored
        winner = await self._store.current_key(tenant, SIGNING_ALG)
        if winner is None:
            raise RuntimeError(f"signing key for tenant {tenant!r} vanished after a race")
        return winner
