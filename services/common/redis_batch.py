"""Look-ups that share Redis round trips: every MGET asked for during one turn of the event
loop goes out as one MGET (the DataLoader pattern). Under load the token path's per-request
look-ups (the version board, the rate-limit blocks) then cost one round trip per batch of
concurrent requests instead of one each; a lone request waits for nothing but its own call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis


class BatchedMget:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pending: list[tuple[list[str], asyncio.Future[list[Any]]]] = []

    async def mget(self, keys: Sequence[str]) -> list[Any]:
        """The values of ``keys`` (None for a missing key), read no earlier than this call;
        raises what the Redis client raised for the batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self._pending:
            loop.call_soon(lambda: loop.create_task(self._send()))
        self._pending.append((list(keys), future))
        return await future

    async def _send(self) -> None:
        batch, self._pending = self._pending, []
        wanted = list(dict.fromkeys(key for keys, _ in batch for key in keys))
        try:
            values = dict(zip(wanted, await self._client.mget(wanted), strict=True))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for keys, future in batch:
            if not future.done():
                future.set_result([values[key] for key in keys])
