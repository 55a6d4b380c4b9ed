"""Rate limits on failed client authentication at the token endpoint (ARCHITECTURE §7).

Each failed client authentication counts against the client id (in its tenant) and against
the caller's address; once either count reaches its limit within the window, further token
requests for that client or from that address are refused with 429 and ``Retry-After`` before
any credential is checked, so guessing stops paying. Successful requests are not counted.
Counters live in Redis when configured (shared by every gateway replica), in process
otherwise (``limits``' moving window). A counter that fills up also sets a block that ends
when the window frees a slot, so the check every token request makes is one look-up of both
blocks (one MGET in Redis), not a window computation. A store that is down does not stop
tokens being minted: the check is skipped and logged.

Responses carry the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy`` names both policies, ``RateLimit`` the one closest to exhaustion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import limits
import redis.asyncio as redis
import structlog
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from services.common.redis_batch import BatchedMget

log = structlog.get_logger("tessera.gateway.rate_limits")

_NAMESPACE = "tessera-failed-client-auth"
_MEMORY_BLOCKS = 100_000  # in-process blocks kept before expired ones are swept


@dataclass(frozen=True)
class Refusal:
    retry_after: int
    headers: dict[str, str]


class Blocks(Protocol):
    async def until(self, keys: Sequence[str]) -> list[float | None]:
        """When each key's block ends (epoch seconds), None when it has none."""
        ...

    async def block(self, key: str, until: float) -> None: ...


class MemoryBlocks:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def until(self, keys: Sequence[str]) -> list[float | None]:
        now = _now()
        found = [self._until.get(key) for key in keys]
        return [u if u is not None and u > now else None for u in found]

    async def block(self, key: str, until: float) -> None:
        self._until[key] = until
        if len(self._until) > _MEMORY_BLOCKS:
            now = _now()
            self._until = {k: u for k, u in self._until.items() if u > now}


class RedisBlocks:
    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._client = redis.Redis(connection_pool=pool)
        self._lookups = BatchedMget(self._client)

    async def until(self, keys: Sequence[str]) -> list[float | None]:
        values = await self._lookups.mget(keys)
        return [float(v) if v is not None else None for v in values]

    async def block(self, key: str, until: float) -> None:
        milliseconds = max(1, int((until - _now()) * 1000))
        await self._client.set(key, repr(until), px=milliseconds)


class FailedAuthLimiter:
    def __init__(
        self,
        storage: Storage,
        blocks: Blocks,
        per_client: str,
        per_address: str,
        *,
        pool: redis.ConnectionPool | None = None,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._blocks = blocks
        self._pool = pool
        self._per_client = limits.parse(per_client)
        self._per_address = limits.parse(per_address)

    @classmethod
    def create(cls, redis_url: str | None, per_client: str, per_address: str) -> FailedAuthLimiter:
        """Counters in Redis when ``redis_url`` is set (every replica shares them), in process
        otherwise. Redis waits are bounded: an outage costs a request at most a second."""
        if redis_url is None:
            return cls(MemoryStorage(), MemoryBlocks(), per_client, per_address)
        pool = redis.ConnectionPool.from_url(
            redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        # limits hands connection_pool to redis-py (documented), though its options are typed
        # as scalars; our own pool is what lets close() release the sockets.
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]
        )
        return cls(storage, RedisBlocks(pool), per_client, per_address, pool=pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def _counters(
        self, tenant: str, client_id: str, address: str
    ) -> list[tuple[str, limits.RateLimitItem, tuple[str, ...]]]:
        counters: list[tuple[str, limits.RateLimitItem, tuple[str, ...]]] = []
        if client_id:
            counters.append(("client", self._per_client, (_NAMESPACE, "client", tenant, client_id)))
        if address:
            counters.append(("address", self._per_address, (_NAMESPACE, "address", address)))
        return counters

    async def refusal(self, tenant: str, client_id: str, address: str) -> Refusal | None:
        """A Refusal when the client or the address has used up its failures."""
        counters = self._counters(tenant, client_id, address)
        try:
            ends = await self._blocks.until([_block_key(ids) for _, _, ids in counters])
        except Exception as exc:
            log.warning("rate limit check skipped", error=f"{type(exc).__name__}: {exc}"[:300])
            return None
        for (name, _, _), until in zip(counters, ends, strict=True):
            if until is not None and until > _now():
                retry = max(1, int(until - _now()) + 1)
                headers = {**self._headers(name, 0, retry), "Retry-After": str(retry)}
                return Refusal(retry, headers)
        return None

    async def record_failure(self, tenant: str, client_id: str, address: str) -> dict[str, str]:
        """Count one failed authentication; the RateLimit fields to send with the answer."""
        closest: tuple[str, int, int] | None = None
        try:
            for name, item, identifiers in self._counters(tenant, client_id, address):
                await self._limiter.hit(item, *identifiers)
                stats = await self._limiter.get_window_stats(item, *identifiers)
                if stats.remaining == 0:
                    await self._blocks.block(_block_key(identifiers), stats.reset_time)
                reset = max(1, int(stats.reset_time - _now()) + 1)
                if closest is None or stats.remaining < closest[1]:
                    closest = (name, stats.remaining, reset)
        except Exception as exc:
            log.warning(
                "failed authentication not counted", error=f"{type(exc).__name__}: {exc}"[:300]
            )
        if closest is None:
            return {}
        return self._headers(*closest)

    def _headers(self, closest: str, remaining: int, reset: int) -> dict[str, str]:
        policy = ", ".join(
            f'"{name}";q={item.amount};w={item.get_expiry()}'
            for name, item in (("client", self._per_client), ("address", self._per_address))
        )
        return {"RateLimit-Policy": policy, "RateLimit": f'"{closest}";r={remaining};t={reset}'}


def _now() -> float:
    return time.time()


def _block_key(identifiers: tuple[str, ...]) -> str:
    return ":".join((*identifiers, "blocked"))
