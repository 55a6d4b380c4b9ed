"""Per-tenant signing keys and their rotation (ARCHITECTURE §3).

Each tenant has its own keys. Access tokens are signed with the tenant's one ``current`` key
and always carry its ``kid`` (the RFC 7638 thumbprint). ES256 (P-256) is the default; EdDSA
with Ed25519 (RFC 8037) is chosen per rotation. Private keys are stored only as envelope
ciphertexts.

A key's life (the ``state`` column): ``next`` → ``current`` → ``retired`` → gone.

- A rotation creates a ``next`` key: it is published in the JWKS at once and starts signing
  at ``activates_at`` = now + the lead time. A relying party may cache the JWKS for at most
  the shortest lead time (``RotationPolicy.min_lead_seconds``, the max-age the gateway serves
  it with), so every cached copy holds the key before its first token exists.
- Activation is lazy and happens on the signing path: whoever signs after ``activates_at``
  promotes the key, in one transaction that retires the previous current key (a tenant has at
  most one current key, whatever the algorithm); replicas racing to do it agree, one wins.
- A retired key stays published until ``publish_until`` = its retirement + the longest
  lifetime any token of the tenant can have + a margin (clock skew, verifiers' leeway, other
  replicas still signing with it from their key cache), then disappears from the JWKS.
- The first key is created with the tenant (on the registry's change notification, see
  :class:`FirstKeyProvisioner`) and, as a fallback that heals missed notifications, at the
  first JWKS request or signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from services.common.access import Access, admit, needs
from services.common.auth import Principal
from services.common.changes import Change
from services.common.envelope import EnvelopeCipher
from services.common.errors import FailedPrecondition, NotFound, ValidationErrors
from tessera_sdk.verifier import TENANT_SLUG

log = structlog.get_logger("tessera.token")

ES256 = "ES256"
EDDSA = "EdDSA"
SIGNING_ALGS = (ES256, EDDSA)
# A tenant's first key. Always this algorithm, so the unique index on (tenant, alg) of current
# keys is enough to keep replicas racing to create it from making two.
SIGNING_ALG = ES256
# The longest lifetime a token signed with a tenant key can have: the registry's ceiling for
# access and ID token lifetimes (services/registry/kernel/settings.py; a test pins the two
# together). Service tokens (mint_service_token) live far shorter.
LONGEST_TOKEN_SECONDS = 86_400
MAX_LEAD_SECONDS = 30 * 86_400
UNKNOWN_TENANT_SECONDS = 30.0
UNKNOWN_TENANTS_REMEMBERED = 10_000

READ_KEYS: Access = needs("key:read")
ROTATE_KEYS: Access = needs("key:write")


class KeyState(StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


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
    activates_at: datetime | None = None  # set on a ``next`` key: when it starts signing


class TenantDirectory(Protocol):
    async def exists(self, tenant: str) -> bool:
        """Whether the tenant exists (asked of the registry)."""
        ...


class KeyStore(Protocol):
    """What the key service needs of storage (services.token.storage.sql and its in-memory
    twin, held to tests/contract/test_token_key_store.py)."""

    async def signing_keys(self, tenant: str) -> list[StoredKey]:
        """The tenant's ``current`` and ``next`` keys, in one statement (the signing path)."""
        ...

    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]:
        """``next`` and ``current`` keys and ``retired`` ones whose ``publish_until`` is after
        ``now``, oldest first."""
        ...

    async def insert_current_key(self, key: StoredKey) -> bool:
        """Insert ``key`` as the tenant's first key; False (nothing written) when the tenant
        has a current key already, e.g. another replica's that won a race."""
        ...

    async def insert_next_key(self, key: StoredKey) -> StoredKey | None:
        """Insert ``key`` in state ``next``; None on success, else the tenant's pending
        ``next`` key that stands in the way (nothing written). Atomic across replicas."""
        ...

    async def promote(
        self, tenant: str, kid: str, activated_at: datetime, publish_until: datetime
    ) -> bool:
        """In one transaction: retire every current key of the tenant (``publish_until``),
        make ``kid`` current (``activated_at``). False (nothing written) unless ``kid`` is the
        tenant's ``next`` key at that moment: another replica promoted it first."""
        ...

    async def forget_retired(self, tenant: str, now: datetime) -> int:
        """Delete the tenant's retired keys whose ``publish_until`` is not after ``now``;
        return how many."""
        ...


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any  # cryptography private key object, ready for PyJWT


@dataclass(frozen=True)
class RotationPolicy:
    """The windows of a rotation. ``lead_seconds``: the default lead time of a new key;
    ``min_lead_seconds``: the shortest lead a rotation may ask for, which is the JWKS max-age
    (settings.jwks_cache_seconds); ``retire_margin_seconds``: how long a retired key stays
    published after the last token it can have signed expired."""

    lead_seconds: int = 3600
    min_lead_seconds: int = 300
    retire_margin_seconds: int = 300
    longest_token_seconds: int = LONGEST_TOKEN_SECONDS

    def retire_until(self, retired_at: datetime) -> datetime:
        """``publish_until`` of a key retired at ``retired_at``: every token it signed has
        expired by then, with the margin to spare."""
        return retired_at + timedelta(
            seconds=self.longest_token_seconds + self.retire_margin_seconds
        )

    def lead(self, requested: int, errors: ValidationErrors) -> timedelta:
        """The lead time of a rotation asking for ``requested`` seconds (0 = the default);
        a violation of field ``lead_seconds`` is added to ``errors`` when it is out of
        bounds."""
        if requested == 0:
            return timedelta(seconds=self.lead_seconds)
        if not self.min_lead_seconds <= requested <= MAX_LEAD_SECONDS:
            errors.add(
                "lead_seconds",
                "LEAD_OUT_OF_RANGE",
                f"Use {self.min_lead_seconds} to {MAX_LEAD_SECONDS} seconds (or none for the "
                f"default, {self.lead_seconds}): relying parties may cache the JWKS for "
                f"{self.min_lead_seconds} seconds, and a new key must be in every cached copy "
                "before it signs.",
            )
        return timedelta(seconds=requested)


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an EC (RFC 7638 §3.2)
    or OKP (RFC 8037 §2) public key: its required members only, in lexicographic order."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("crv", "kty", "x")
    members = {name: jwk[name] for name in required}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")


def new_key_pair(alg: str) -> tuple[Any, dict[str, Any]]:
    """A fresh private key for ``alg`` and its public JWK (RFC 7517 §4 members ``kid``,
    ``alg``, ``use``). ES256: ``kty`` EC, ``crv`` P-256 (RFC 7518 §6.2); EdDSA: ``kty`` OKP,
    ``crv`` Ed25519 (RFC 8037 §2)."""
    private_key: Any
    if alg == ES256:
        private_key = ec.generate_private_key(ec.SECP256R1())
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif alg == EDDSA:
        private_key = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    jwk.update({"kid": thumbprint(jwk), "alg": alg, "use": "sig"})
    return private_key, jwk


def _private_context(kid: str) -> bytes:
    return f"signing-key:{kid}".encode()


@dataclass(frozen=True)
class _Cached:
    loaded_at: float  # monotonic
    key: SigningKey
    next_activates_at: datetime | None  # the cached entry is void from then on


class KeyService:
    """Loads, creates, rotates and publishes tenant keys.

    The signing key of a tenant is cached (decrypted) for ``cache_seconds``, and never past
    the ``activates_at`` of a ``next`` key it knows of: a warm signature costs no SQL
    statement, and the first one after a rotation's lead time promotes the new key.
    """

    def __init__(
        self,
        store: KeyStore,
        cipher: EnvelopeCipher,
        tenants: TenantDirectory,
        *,
        now: Callable[[], datetime],
        policy: RotationPolicy | None = None,
        cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._now = now
        self.policy = policy or RotationPolicy()
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._signing: dict[str, _Cached] = {}
        self._tenants = tenants
        # Tenants the registry said do not exist, with when it said so: a flood of JWKS
        # requests for made-up tenants costs the registry one call per name per interval.
        self._unknown: OrderedDict[str, float] = OrderedDict()

    async def signing_key(self, tenant: str) -> SigningKey:
        """The tenant's current signing key; creates the tenant's first key when it has none,
        promotes a ``next`` key whose ``activates_at`` has come (side effects: writes)."""
        cached = self._signing.get(tenant)
        if (
            cached is not None
            and self._monotonic() - cached.loaded_at < self._cache_seconds
            and (cached.next_activates_at is None or self._now() < cached.next_activates_at)
        ):
            return cached.key
        current, pending = await self._current(tenant)
        key = SigningKey(
            kid=current.kid,
            alg=current.alg,
            private_key=serialization.load_pem_private_key(
                self._cipher.decrypt(
                    current.private_key_ciphertext, context=_private_context(current.kid)
                ),
                password=None,
            ),
        )
        activates_at = pending.activates_at if pending is not None else None
        self._signing[tenant] = _Cached(self._monotonic(), key, activates_at)
        return key

    async def jwks(self, tenant: str) -> dict[str, Any]:
        """The tenant's JWK Set (RFC 7517 §5): its next, current and still-published retired
        keys, never empty for a tenant that exists. An unknown tenant raises NotFound (404,
        not a cacheable empty set)."""
        return {"keys": [k.public_jwk for k in await self._published(tenant)]}

    async def keys(self, tenant: str) -> list[StoredKey]:
        """The tenant's published keys with their windows, as they stand now: a ``next`` key
        whose time has come is promoted first (side effect: writes)."""
        await self._published(tenant)
        await self._current(tenant)
        return await self._store.published_keys(tenant, self._now())

    async def rotate(self, tenant: str, alg: str = "", lead_seconds: int = 0) -> StoredKey:
        """Start a rotation: a new ``next`` key of ``alg`` ("" = the current key's), published
        now and signing after ``lead_seconds`` (0 = the policy's default). Side effects: the
        tenant's first key if it had none; retired keys past their window are deleted.
        Raises InvalidArgument (alg, lead), NotFound (tenant), FailedPrecondition
        ROTATION_PENDING while an earlier rotation's key has not started signing yet."""
        errors = ValidationErrors()
        if alg and alg not in SIGNING_ALGS:
            errors.add(
                "alg",
                "ALG_UNSUPPORTED",
                f"Use {' or '.join(SIGNING_ALGS)}, or leave it empty to keep the current "
                "key's algorithm.",
            )
        lead = self.policy.lead(lead_seconds, errors)
        errors.raise_if_any()
        await self._published(tenant)
        current, pending = await self._current(tenant)
        if pending is not None:
            raise self._pending(pending)
        chosen = alg or current.alg
        now = self._now()
        candidate = self._new_key(tenant, chosen, KeyState.NEXT, now, activates_at=now + lead)
        blocking = await self._store.insert_next_key(candidate)
        if blocking is not None:
            raise self._pending(blocking)
        self._signing.pop(tenant, None)
        forgotten = await self._store.forget_retired(tenant, now)
        log.info(
            "signing key rotation started",
            tenant=tenant,
            kid=candidate.kid,
            alg=chosen,
            activates_at=_iso(candidate.activates_at),
            replaces=current.kid,
            retired_keys_deleted=forgotten,
        )
        return candidate

    async def ensure_key(self, tenant: str) -> None:
        """Make sure the tenant has a signing key (the tenant was just created). The key is
        created only for a tenant the registry confirms; NotFound otherwise."""
        self._unknown.pop(tenant, None)  # it may have been asked for just before it existed
        await self._published(tenant)

    async def _published(self, tenant: str) -> list[StoredKey]:
        """The published keys; the first key is created here for a tenant the registry
        confirms that has none yet (right after it was created), so that a relying party
        fetching the JWKS before the first token caches the key that token will carry."""
        if not TENANT_SLUG.fullmatch(tenant):
            raise _no_tenant(tenant)
        keys = await self._store.published_keys(tenant, self._now())
        if keys:
            return keys
        if not await self._exists(tenant):
            raise _no_tenant(tenant)
        await self._current(tenant)
        return await self._store.published_keys(tenant, self._now())

    async def _current(self, tenant: str) -> tuple[StoredKey, StoredKey | None]:
        """The current key and the pending ``next`` one (if any), promoting a ``next`` key
        that is due and creating the first key when the tenant has none."""
        for _ in range(3):
            keys = await self._store.signing_keys(tenant)
            current = next((k for k in keys if k.state == KeyState.CURRENT), None)
            pending = next((k for k in keys if k.state == KeyState.NEXT), None)
            now = self._now()
            if pending is not None and _due(pending, now):
                await self._activate(tenant, pending, current, now)
                continue
            if current is not None:
                return current, pending
            first = self._new_key(tenant, SIGNING_ALG, KeyState.CURRENT, now, activated_at=now)
            if await self._store.insert_current_key(first):
                log.info("signing key created", tenant=tenant, kid=first.kid, alg=first.alg)
                return first, pending
        raise RuntimeError(f"the signing keys of tenant {tenant!r} keep changing under us")

    async def _activate(
        self, tenant: str, pending: StoredKey, previous: StoredKey | None, now: datetime
    ) -> None:
        if await self._store.promote(tenant, pending.kid, now, self.policy.retire_until(now)):
            log.info(
                "signing key activated",
                tenant=tenant,
                kid=pending.kid,
                alg=pending.alg,
                retired=previous.kid if previous else None,
                retired_published_until=_iso(self.policy.retire_until(now)),
            )
        # Lost the race: another replica promoted it; the caller reads the keys again.

    def _new_key(
        self,
        tenant: str,
        alg: str,
        state: KeyState,
        now: datetime,
        *,
        activated_at: datetime | None = None,
        activates_at: datetime | None = None,
    ) -> StoredKey:
        private_key, jwk = new_key_pair(alg)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = jwk["kid"]
        return StoredKey(
            kid=kid,
            tenant=tenant,
            alg=alg,
            state=state.value,
            private_key_ciphertext=self._cipher.encrypt(pem, context=_private_context(kid)),
            public_jwk=jwk,
            created_at=now,
            activated_at=activated_at,
            publish_until=None,
            activates_at=activates_at,
        )

    @staticmethod
    def _pending(pending: StoredKey) -> FailedPrecondition:
        when = pending.activates_at.isoformat() if pending.activates_at else "soon"
        return FailedPrecondition(
            "ROTATION_PENDING",
            f"Key {pending.kid} from an earlier rotation starts signing at {when}; rotate "
            "again after that.",
            metadata={"kid": pending.kid, "activates_at": when},
        )

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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _due(key: StoredKey, now: datetime) -> bool:
    """Whether a ``next`` key's time to sign has come."""
    return key.activates_at is None or key.activates_at <= now


def _no_tenant(tenant: str) -> NotFound:
    return NotFound("TENANT_NOT_FOUND", f"There is no tenant {tenant!r}.")


class SigningKeyAdmin:
    """The admin operations on a tenant's keys: who may (``key:read`` / ``key:write`` on the
    tenant, operators on any tenant) and what it did.

    Rotations are admin writes. The registry owns the audit log and offers the token service
    no way to append to it (that needs an internal registry RPC, a proto change), so a
    rotation is recorded here as a structured ``audit`` log event with its actor.
    """

    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    async def list(self, principal: Principal, tenant: str) -> list[StoredKey]:
        admit(principal, READ_KEYS, tenant)
        return await self._keys.keys(tenant)

    async def rotate(
        self, principal: Principal, tenant: str, alg: str, lead_seconds: int
    ) -> StoredKey:
        """Side effects: a new ``next`` key (:meth:`KeyService.rotate`); audit event
        ``signing_key.rotate`` logged."""
        admit(principal, ROTATE_KEYS, tenant)
        key = await self._keys.rotate(tenant, alg, lead_seconds)
        log.info(
            "audit",
            action="signing_key.rotate",
            tenant=tenant,
            target_type="signing_key",
            target_id=key.kid,
            actor_type=principal.actor_type,
            actor=principal.subject,
            actor_tenant=principal.tenant,
            client_id=principal.client_id,
            details={"alg": key.alg, "activates_at": _iso(key.activates_at)},
        )
        return key


class LocalJwksSource:
    """A :class:`tessera_sdk.verifier.JwksSource` over this process's own KeyService: the
    token service verifies its callers' tokens without a call to itself. An unknown tenant
    has no keys."""

    def __init__(self, keys: KeyService) -> None:
        self._keys = keys

    async def fetch(self, tenant: str) -> dict[str, Any]:
        try:
            return await self._keys.jwks(tenant)
        except NotFound:
            return {"keys": []}


class ChangeFeed(Protocol):
    def subscribe(self) -> AsyncIterator[Change]: ...


class FirstKeyProvisioner:
    """Creates a tenant's first key when the registry announces the tenant (a ``tenant``
    change: creation, and updates, for which it finds the key there and does nothing).

    A notification lost (Redis down, a replica restarting) costs nothing but latency: the
    first JWKS request or signature creates the key then. A broken subscription is opened
    again after ``retry_seconds``.
    """

    def __init__(self, keys: KeyService, feed: ChangeFeed, *, retry_seconds: float = 1.0) -> None:
        self._keys = keys
        self._feed = feed
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        # Let the task subscribe before the caller goes on (in-process feeds register the
        # subscriber on its first step).
        await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def handle(self, change: Change) -> None:
        if change.kind != "tenant" or not TENANT_SLUG.fullmatch(change.tenant):
            return
        try:
            await self._keys.ensure_key(change.tenant)
        except Exception:
            log.warning("first signing key not created", tenant=change.tenant, exc_info=True)

    async def _run(self) -> None:
        while True:
            try:
                async for change in self._feed.subscribe():
                    await self.handle(change)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change feed lost; subscribing again", exc_info=True)
            await asyncio.sleep(self._retry)
