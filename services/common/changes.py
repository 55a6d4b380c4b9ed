"""Change notifications: "something a token may carry changed", published after commit.

The registry publishes one notification per acknowledged admin write; caches subscribe and
invalidate precisely (ARCHITECTURE §5). Redis pub/sub in production, an in-process fan-out
in the embedded default.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Protocol

import redis.asyncio as redis
import structlog

log = structlog.get_logger("tessera.changes")


@dataclass(frozen=True)
class Change:
    tenant: str  # tenant slug, or "*" for platform-wide objects such as plans
    kind: str  # tenant | app | client | plan | ...
    target_id: str


class ChangeBus(Protocol):
    async def publish(self, change: Change) -> None: ...

    def subscribe(self) -> AsyncIterator[Change]: ...

    async def close(self) -> None: ...


class InProcessChangeBus:
    """Fan-out to subscribers in this process (all services share one process in dev mode)."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Change]] = []

    async def publish(self, change: Change) -> None:
        for queue in self._queues:
            queue.put_nowait(change)

    async def subscribe(self) -> AsyncIterator[Change]:
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    async def close(self) -> None:
        self._queues.clear()


class RedisChangeBus:
    """Redis pub/sub on one channel per deployment (``namespace``: deployments sharing a Redis
    never hear each other's changes); messages are small JSON objects."""

    def __init__(self, url: str, namespace: str) -> None:
        self._channel = f"tessera:{namespace}changes"
        # Publishing sits on the acknowledged-write path: bounded waits, so a Redis that is
        # gone (or black-holed) costs a request at most about a second, never a hang.
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=1.0
        )
        self._url = url

    async def publish(self, change: Change) -> None:
        """Best effort: a change is already committed when it is published, so a Redis
        outage must not turn the acknowledged write into an error."""
        try:
            await self._client.publish(self._channel, json.dumps(asdict(change)))
        except redis.RedisError:
            log.warning("change notification not published", change=asdict(change))

    async def subscribe(self) -> AsyncIterator[Change]:
        # A subscriber waits for messages indefinitely: its own connection, no read timeout.
        listener: redis.Redis = redis.Redis.from_url(self._url, socket_connect_timeout=1.0)
        pubsub = listener.pubsub()
        await pubsub.subscribe(self._channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield Change(**json.loads(message["data"]))
        finally:
            await pubsub.aclose()
            await listener.aclose()

    async def close(self) -> None:
        await self._client.aclose()
