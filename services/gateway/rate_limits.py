"""Rate limits on failed client authentication at the token endpoint (ARCHITECTURE §7).

Each failed client authentication counts against the client id (in its tenant) and against
the caller's address; once either count reaches its limit within the window, further token
requests for that client or from that address are refused with 429 and ``Retry-After`` before
any credential is checked, so guessing stops paying. Successful requests are not counted.
Counters live in Redis when configured (shared by every gateway replica), in process
otherwise (``limits``' moving window). A counter store that is down does not stop tokens
being minted: the check is skipped and logged.

Responses carry the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy`` names both policies, ``RateLimit`` the one closest to exhaustion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import limits
import redis.asyncio as redis
import structlog
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = structlog.get_logger("tessera.gateway.rate_limits")

_NAMESPACE = "tessera-failed-client-auth"


@dataclass(frozen=True)
class Refusal:
    retry_after: int
    headers: dict[str, str]


class FailedAuthLimiter:
    def __init__(
        self,
        storage: Storage,
        per_client: str,
        per_address: str,
        *,
        pool: redis.ConnectionPool | None = None,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._pool = pool
        self._per_client = limits.parse(per_client)
        self._per_address = limits.parse(per_address)

    @classmethod
    def create(cls, redis_url: str | None, per_client: str, per_address: str) -> FailedAuthLimiter:
        """Counters in Redis when ``redis_url`` is set (every replica shares them), in process
        otherwise. Redis waits are bounded: an outage costs a request at most a second."""
        if redis_url is None:
            return cls(MemoryStorage(), per_client, per_address)
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
        return cls(storage, per_client, per_address, pool=pool)

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
        try:
            for name, item, identifiers in self._counters(tenant, client_id, address):
                if not await self._limiter.test(item, *identifiers):
                    stats = await self._limiter.get_window_stats(item, *identifiers)
                    retry = max(1, int(stats.reset_time - _now()) + 1)
                    headers = {**self._headers(name, 0, retry), "Retry-After": str(retry)}
                    return Refusal(retry, headers)
        except Exception as exc:
            log.warning("rate limit check skipped", error=f"{type(exc).__name__}: {exc}"[:300])
        return None

    async def record_failure(self, tenant: str, client_id: str, address: str) -> dict[str, str]:
        """Count one failed authentication; the RateLimit fields to send with the answer."""
        closest: tuple[str, int, int] | None = None
        try:
            for name, item, identifiers in self._counters(tenant, client_id, address):
                await self._limiter.hit(item, *identifiers)
                stats = await self._limiter.get_window_stats(item, *identifiers)
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
