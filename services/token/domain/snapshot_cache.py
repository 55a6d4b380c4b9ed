"""The token service's cache of client snapshots (ARCHITECTURE §5): in process, checked against
the version board on every request, filled from the registry.

The promise: once an admin write has returned, the next token minted on any replica reflects
it. A cached snapshot is served only while the board shows exactly the versions it was read at
(services.common.versions explains why that is enough); otherwise the registry is asked again.
Concurrent requests share a registry read only when they saw the same versions, so a request
that began after a write never takes the result of a read that began before it. Keys are
(tenant asked, client_id) and the registry answers only about the tenant asked, so a snapshot
is never served for another tenant. When the board cannot be read, every request goes to the
registry; when the registry cannot be reached, snapshots whose versions still match keep
serving. A board with no number for the tenant or the platform (restarted empty) is restored
by the registry, which alone can do it safely (it holds the version rows while it does).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Protocol

import structlog

from services.common.errors import Unavailable
from services.common.versions import PLATFORM, VersionBoard
from services.token.domain.snapshots import ClientSnapshot

log = structlog.get_logger("tessera.token")

DEFAULT_ENTRIES = 100_000
Loading = tuple[tuple[str, str], tuple[int | None, ...]]


class SnapshotSource(Protocol):
    async def client_snapshot(
        self, tenant: str, client_id: str, *, restore_board: bool
    ) -> ClientSnapshot:
        """The registry's facts about ``client_id`` in ``tenant`` (found or not);
        ``restore_board`` asks it to announce the tenant's and the platform's versions again."""
        ...


class SnapshotCache:
    def __init__(
        self, source: SnapshotSource, board: VersionBoard, *, entries: int = DEFAULT_ENTRIES
    ) -> None:
        self._source = source
        self._board = board
        self._entries = entries
        self._cache: OrderedDict[tuple[str, str], ClientSnapshot] = OrderedDict()
        # Registry reads in flight, by key and the versions their requests saw on the board.
        self._loading: dict[Loading, asyncio.Future[ClientSnapshot]] = {}
        self.fetches = 0  # registry reads so far (observability, tests)

    async def get(self, tenant: str, client_id: str) -> ClientSnapshot:
        key = (tenant, client_id)
        try:
            announced = await self._board.current((tenant, PLATFORM))
        except Unavailable:
            log.warning("version board unreadable; reading from the registry", tenant=tenant)
            return await self._fetch(key, announced=None)
        cached = self._cache.get(key)
        if cached is not None and announced == [cached.tenant_version, cached.platform_version]:
            self._cache.move_to_end(key)
            return cached
        return await self._fetch(key, announced=announced)

    async def _fetch(
        self, key: tuple[str, str], announced: list[int | None] | None
    ) -> ClientSnapshot:
        """A registry read for ``key``. Requests that saw the same versions share one; a
        request that could not read the board shares with nobody."""
        loading = (key, tuple(announced)) if announced is not None else None
        joined = self._loading.get(loading) if loading is not None else None
        if joined is not None:
            return await asyncio.shield(joined)
        future: asyncio.Future[ClientSnapshot] = asyncio.get_running_loop().create_future()
        if loading is not None:
            self._loading[loading] = future
        try:
            snapshot = await self._source.client_snapshot(
                *key, restore_board=announced is not None and None in announced
            )
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody logs it unseen
            raise
        finally:
            if loading is not None:
                del self._loading[loading]
        future.set_result(snapshot)
        self.fetches += 1
        self._store(key, snapshot)
        return snapshot

    def _store(self, key: tuple[str, str], snapshot: ClientSnapshot) -> None:
        self._cache[key] = snapshot
        self._cache.move_to_end(key)
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)
