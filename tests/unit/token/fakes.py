"""Building blocks for the token service's tests: the registry's use cases over in-memory
stores, reached through the same protobuf the gRPC transport carries, and a token service over
them sharing one version board (as registry and token service do in one process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.changes import ChangeBus
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.errors import NotFound
from services.common.hashing import PepperRing, SecretHasher
from services.common.versions import InProcessVersionBoard, VersionBoard
from services.registry.features import Features
from services.registry.resolution.servicer import snapshot_pb
from services.registry.stores import memory_unit_of_work
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.grants import TokenRequest, TokenService
from services.token.domain.introspection import (
    AccessTokenReader,
    CallerAuthentication,
    Introspection,
    PresentedToken,
)
from services.token.domain.keys import KeyService
from services.token.domain.revocation import Revocation, RevocationList
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.domain.snapshots import ClientSnapshot
from services.token.registry_client import snapshot_from_pb
from services.token.storage.memory import MemoryKeyStore
from services.token.storage.revocations import MemoryRevocationStore
from tests.unit.registry import fakes as registry_fakes

TOKEN_SERVICE = registry_fakes.service("token")
ISSUER_BASE = "https://id.example.com/t/"


class LocalRegistry:
    """The registry as the token service sees it, in this process. Snapshots travel through
    the registry's protobuf encoding and the token service's decoding, as over gRPC."""

    def __init__(self, features: Features) -> None:
        self.features = features
        self.snapshot_reads = 0
        self.restores = 0  # reads that asked the registry to restore the version board
        self.secret_uses: list[tuple[str, datetime, str]] = []
        self.fail: Exception | None = None  # raised by every call while set
        # Awaited with each snapshot after the registry read it, before it is returned: a
        # test holds a read there (a slow registry) or fails it.
        self.on_snapshot: Callable[[ClientSnapshot], Awaitable[None]] | None = None

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def client_snapshot(
        self, tenant: str, client_id: str, *, restore_board: bool = False
    ) -> ClientSnapshot:
        self._check()
        self.snapshot_reads += 1
        self.restores += restore_board
        snapshot = await self.features.resolution.client_snapshot(
            TOKEN_SERVICE, tenant, client_id, restore_board=restore_board
        )
        decoded = snapshot_from_pb(tenant, snapshot_pb(snapshot))
        if self.on_snapshot is not None:
            await self.on_snapshot(decoded)
        return decoded

    async def record_secret_use(self, secret_id: str, used_at: datetime, rehash: str) -> None:
        self._check()
        self.secret_uses.append((secret_id, used_at, rehash))
        await self.features.resolution.record_secret_use(TOKEN_SERVICE, secret_id, used_at, rehash)

    async def exists(self, tenant: str) -> bool:
        self._check()
        return await self.features.resolution.tenant_exists(TOKEN_SERVICE, tenant)


@dataclass
class TokenWorld:
    """A seeded registry (tenant ``acme``, region ``eu``) and a token service in front of it."""

    seeded: registry_fakes.Seeded
    registry: LocalRegistry
    board: VersionBoard
    cache: SnapshotCache
    upkeep: SecretUpkeepReporter
    tokens: TokenService
    keys: KeyService
    clock: registry_fakes.Clock = field(default_factory=registry_fakes.Clock)

    @property
    def features(self) -> Features:
        return self.seeded.features

    async def exchange(
        self,
        client_id: str,
        secret: str,
        *,
        tenant: str = "acme",
        grant_type: str = "client_credentials",
        **request: Any,
    ) -> Any:
        issued = await self.tokens.exchange(
            TokenRequest(
                tenant=tenant,
                grant_type=grant_type,
                client_id=client_id,
                client_secret=secret,
                **request,
            )
        )
        await self.upkeep.drain()
        return issued


# The reporters token worlds started: a test's fixture stops them when it ends
# (tests/unit/token/conftest.py), so no task outlives its test.
_STARTED: list[SecretUpkeepReporter] = []


async def close_worlds() -> None:
    """Stop the background task of every token world made since the last call."""
    while _STARTED:
        await _STARTED.pop().stop()


def issuer(tenant: str) -> str:
    return f"{ISSUER_BASE}{tenant}"


async def token_world(
    *,
    peppers: str = registry_fakes.PEPPERS,
    board: VersionBoard | None = None,
    uow: Any = None,
    hasher: SecretHasher | None = None,
    changes: ChangeBus | None = None,
) -> TokenWorld:
    """Registry and token service over one in-memory database and one version board; the
    clock is shared and only moves when a test moves it.

    ``uow`` already seeded by another token world is reused as it is (two worlds over one
    database: e.g. the registry and token service before and after a pepper rotation).
    ``hasher`` is the token service's (the registry's hashes new secrets under ``peppers``);
    ``changes`` receives the registry's change notifications."""
    clock = registry_fakes.Clock()
    board = board or InProcessVersionBoard()
    features = registry_fakes.features(
        uow if uow is not None else memory_unit_of_work(),
        changes=changes,
        board=board,
        now=clock,
        peppers=peppers,
    )
    seeded = await _seeded(features)
    registry = LocalRegistry(features)
    keys = KeyService(
        MemoryKeyStore(),
        EnvelopeCipher(Keyring.parse(registry_fakes.ENCRYPTION_KEYS)),
        registry,
        now=clock,
    )
    cache = SnapshotCache(registry, board)
    upkeep = SecretUpkeepReporter(registry, clock)
    upkeep.start()
    _STARTED.append(upkeep)
    tokens = TokenService(
        keys,
        cache,
        ClientAuthenticator(hasher or SecretHasher(PepperRing.parse(peppers))),
        upkeep,
        issuer,
        clock=_epoch(clock),
    )
    return TokenWorld(seeded, registry, board, cache, upkeep, tokens, keys, clock)


async def _seeded(features: Features) -> registry_fakes.Seeded:
    """The platform of :func:`registry_fakes.seeded`, seeded now unless it already is."""
    try:
        tenant = await features.tenants.get(registry_fakes.operator(), "acme")
    except NotFound:
        return await registry_fakes.seeded(features)
    region = await features.regions.get(registry_fakes.operator(), "eu")
    return registry_fakes.Seeded(features, tenant, region)


class CountingHasher(SecretHasher):
    """Counts keyed-hash checks: the work a client authentication does."""

    def __init__(self, ring: PepperRing | None = None) -> None:
        super().__init__(ring or PepperRing.parse(registry_fakes.PEPPERS))
        self.verifications = 0

    def verify(self, secret: str, stored: str) -> bool:
        self.verifications += 1
        return super().verify(secret, stored)


def _epoch(clock: registry_fakes.Clock) -> Callable[[], float]:
    return lambda: clock().timestamp()


# -- introspection and revocation (RFC 7662, RFC 7009) -----------------------------------------


@dataclass
class TokenChecks:
    """Introspection and revocation over a token world: one token-service replica's view
    (its own key and revocation caches) of the world's registry, board and a revocation store
    that replicas may share."""

    introspection: Introspection
    revocation: Revocation
    revocations: RevocationList
    store: MemoryRevocationStore

    async def introspect(
        self,
        caller: tuple[str, str],
        token: str,
        *,
        tenant: str = "acme",
        hint: str = "",
    ) -> dict[str, Any]:
        return await self.introspection.introspect(
            PresentedToken(tenant, caller[0], caller[1], token, hint)
        )

    async def revoke(
        self, caller: tuple[str, str], token: str, *, tenant: str = "acme", hint: str = ""
    ) -> None:
        await self.revocation.revoke(PresentedToken(tenant, caller[0], caller[1], token, hint))


_WORLD_BOARD: Any = object()


def token_checks(
    world: TokenWorld,
    *,
    store: MemoryRevocationStore | None = None,
    board: VersionBoard | None = _WORLD_BOARD,
    hasher: SecretHasher | None = None,
    snapshots: SnapshotCache | None = None,
) -> TokenChecks:
    """Introspection and revocation as the token service wires them, over ``world``'s
    registry and clock. ``board`` announces revocations (the world's by default; None: no
    board); ``store`` is a fresh one unless shared; ``snapshots`` defaults to the world's
    snapshot cache (a second replica passes its own)."""
    clock = _epoch(world.clock)
    store = store if store is not None else MemoryRevocationStore()
    cache = snapshots if snapshots is not None else world.cache
    callers = CallerAuthentication(
        cache,
        ClientAuthenticator(hasher or SecretHasher(PepperRing.parse(registry_fakes.PEPPERS))),
        world.upkeep,
        clock,
    )
    tokens = AccessTokenReader(world.keys, issuer)
    revocations = RevocationList(store, world.board if board is _WORLD_BOARD else board)
    return TokenChecks(
        Introspection(callers, tokens, cache, revocations, clock=clock),
        Revocation(callers, tokens, revocations, clock=clock),
        revocations,
        store,
    )
