"""Snapshot versions: how a token-service replica knows, in one look, that what it cached is
still what the registry holds (ARCHITECTURE §5, no stale window).

Every registry write that changes something a token may carry bumps a version, per tenant and
one for the platform (``"*"``: plans), in the same unit of work as the change, and announces
the new number on this board BEFORE it commits. So once an admin write has returned, every
replica that looks at the board sees the new number and refetches; a replica that looked while
the write was still in flight may refetch the old facts, but caches them under the old number,
which the board no longer shows. If the announcement fails the write rolls back (503): the
board never lags behind a committed change.

The board is in-process when the registry and the token service share a process (embedded
default: a dictionary look-up), Redis otherwise (one MGET per token request). A board that
cannot be read is not trusted: the token service then reads from the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.errors import Unavailable
from services.common.redis_batch import BatchedMget

PLATFORM = "*"


class VersionBoard(Protocol):
    async def announce(self, scope: str, version: int) -> None:
        """Publish ``version`` for ``scope`` (a tenant slug or ``"*"``); raises Unavailable when
        it cannot, so the write that bumped it rolls back."""
        ...

    async def current(self, scopes: Sequence[str]) -> list[int | None]:
        """The announced versions (None: nothing announced, e.g. a Redis that restarted).
        Raises Unavailable when the board cannot be read."""
        ...

    async def remember(self, scope: str, version: int) -> None:
        """Restore a version the board lost (only if it has none for ``scope``). Only the
        registry may, while it holds the scope's version row, so no write can be in flight."""
        ...

    async def close(self) -> None: ...


class InProcessVersionBoard:
    """The embedded default: registry and token service in one process share this object."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}

    async def announce(self, scope: str, version: int) -> None:
        self._versions[scope] = version

    async def current(self, scopes: Sequence[str]) -> list[int | None]:
        return [self._versions.get(scope) for scope in scopes]

    async def remember(self, scope: str, version: int) -> None:
        self._versions.setdefault(scope, version)

    async def close(self) -> None:
        self._versions.clear()


class UnreadableVersionBoard:
    """For a token service that no registry announces to (separate processes without Redis):
    nothing may be served from cache, so every read says the board cannot be read."""

    async def announce(self, scope: str, version: int) -> None:  # noqa: ARG002
        raise Unavailable("VERSION_BOARD_UNAVAILABLE", "This process has no version board.")

    async def current(self, scopes: Sequence[str]) -> list[int | None]:  # noqa: ARG002
        raise Unavailable("VERSION_BOARD_UNAVAILABLE", "This process has no version board.")

    async def remember(self, scope: str, version: int) -> None:  # noqa: ARG002
        return

    async def close(self) -> None:
        return


UNREADABLE_BOARD = UnreadableVersionBoard()


class RedisVersionBoard:
    """Replicas in separate processes: one key per scope, no expiry. ``namespace`` keeps
    deployments that share a Redis apart (their versions count in different databases)."""

    def __init__(self, url: str, namespace: str) -> None:
        self._key = f"tessera:{namespace}version:{{}}"
        # On the token path and the write path: bounded waits, never a hang; a connection that
        # died (Redis restarted) is replaced once on the spot instead of failing the call.
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        self._lookups = BatchedMget(self._client)

    async def announce(self, scope: str, version: int) -> None:
        try:
            await self._client.set(self._key.format(scope), version)
        except redis.RedisError as exc:
            raise Unavailable(
                "VERSION_BOARD_UNAVAILABLE",
                "The change could not be announced to the token service; nothing was "
                "changed. Retry shortly.",
            ) from exc

    async def current(self, scopes: Sequence[str]) -> list[int | None]:
        try:
            values = await self._lookups.mget([self._key.format(s) for s in scopes])
        except redis.RedisError as exc:
            raise Unavailable("VERSION_BOARD_UNAVAILABLE", "Redis cannot be read.") from exc
        return [int(v) if v is not None else None for v in values]

    async def remember(self, scope: str, version: int) -> None:
        # SETNX: a concurrent announcement (SET) of a newer version always wins.
        try:
            await self._client.set(self._key.format(scope), version, nx=True)
        except redis.RedisError:
            return

    async def close(self) -> None:
        await self._client.aclose()
