"""Failed client authentications are limited per client and per address (ARCHITECTURE §7)."""

from __future__ import annotations

import time
from typing import Any

from limits.aio.storage import MemoryStorage

from services.gateway.rate_limits import FailedAuthLimiter, MemoryBlocks


def _limiter() -> FailedAuthLimiter:
    return FailedAuthLimiter(MemoryStorage(), MemoryBlocks(), "3/minute", "5/minute")


async def test_a_client_is_refused_once_its_failures_reach_the_limit() -> None:
    limiter = _limiter()
    for _ in range(3):
        assert await limiter.refusal("acme", "tc_1", "10.0.0.1") is None
        await limiter.record_failure("acme", "tc_1", "10.0.0.1")
    refused = await limiter.refusal("acme", "tc_1", "10.0.0.2")
    assert refused is not None
    assert 1 <= refused.retry_after <= 61
    assert refused.headers["Retry-After"] == str(refused.retry_after)
    assert refused.headers["RateLimit"] == f'"client";r=0;t={refused.retry_after}'
    assert refused.headers["RateLimit-Policy"] == '"client";q=3;w=60, "address";q=5;w=60'
    # Another client (or the same id in another tenant) is not affected.
    assert await limiter.refusal("acme", "tc_2", "10.0.0.2") is None
    assert await limiter.refusal("globex", "tc_1", "10.0.0.2") is None


async def test_an_address_guessing_many_client_ids_is_refused_too() -> None:
    limiter = _limiter()
    for index in range(5):
        await limiter.record_failure("acme", f"tc_{index}", "10.0.0.9")
    refused = await limiter.refusal("acme", "tc_new", "10.0.0.9")
    assert refused is not None
    assert refused.headers["RateLimit"].startswith('"address";r=0;')


async def test_each_failure_answer_says_how_many_attempts_are_left() -> None:
    limiter = _limiter()
    headers = await limiter.record_failure("acme", "tc_1", "10.0.0.1")
    assert headers["RateLimit"].startswith('"client";r=2;t=')


async def test_a_counter_store_that_is_down_never_stops_tokens() -> None:
    class Down(MemoryStorage):
        async def incr(self, *args: Any, **kwargs: Any) -> int:
            raise ConnectionError("redis is down")

        async def get_moving_window(self, *args: Any, **kwargs: Any) -> tuple[float, int]:
            raise ConnectionError("redis is down")

        async def acquire_entry(self, *args: Any, **kwargs: Any) -> bool:
            raise ConnectionError("redis is down")

    class BlocksDown(MemoryBlocks):
        async def until(self, keys: Any) -> list[float | None]:
            raise ConnectionError("redis is down")

    limiter = FailedAuthLimiter(Down(), BlocksDown(), "1/minute", "1/minute")
    assert await limiter.record_failure("acme", "tc_1", "10.0.0.1") == {}
    assert await limiter.refusal("acme", "tc_1", "10.0.0.1") is None


async def test_a_full_window_blocks_until_it_frees_a_slot_and_not_before_it_is_full() -> None:
    blocks = MemoryBlocks()
    limiter = FailedAuthLimiter(MemoryStorage(), blocks, "2/minute", "9/minute")
    await limiter.record_failure("acme", "tc_1", "10.0.0.1")
    assert await blocks.until(["tessera-failed-client-auth:client:acme:tc_1:blocked"]) == [None]
    await limiter.record_failure("acme", "tc_1", "10.0.0.1")
    [until] = await blocks.until(["tessera-failed-client-auth:client:acme:tc_1:blocked"])
    assert until is not None
    refused = await limiter.refusal("acme", "tc_1", "10.0.0.7")
    assert refused is not None
    assert refused.retry_after >= int(until - time.time())
