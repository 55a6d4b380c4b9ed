"""Secret bookkeeping off the token path: a secret's last-used time (at most once a minute) and
its re-hash under the current pepper are written to the registry by one background task, so a
token request never waits for a write (ARCHITECTURE §5). Bookkeeping lost to a crash or a
registry outage is harmless: the next use reports it again."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

import structlog

from services.token.domain.authentication import LAST_USED_RESOLUTION, SecretUpkeep

log = structlog.get_logger("tessera.token")

REMEMBERED = 100_000
V = TypeVar("V")
QUEUE_LIMIT = 10_000


class SecretUseRecorder(Protocol):
    async def record_secret_use(self, secret_id: str, used_at: datetime, rehash: str) -> None: ...


class SecretUpkeepReporter:
    def __init__(self, recorder: SecretUseRecorder, now: Callable[[], datetime]) -> None:
        self._recorder = recorder
        self._now = now
        self._queue: asyncio.Queue[tuple[str, datetime, str]] = asyncio.Queue(QUEUE_LIMIT)
        # What this process already reported: cached snapshots keep the old last-used time.
        self._touched: OrderedDict[str, datetime] = OrderedDict()
        self._rehashed: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def report(self, upkeep: SecretUpkeep) -> None:
        """Queue what ``upkeep`` asks for, unless this process reported it already; never
        blocks (a full queue drops the report: the next use asks again)."""
        now = self._now()
        touched = self._touched.get(upkeep.secret_id)
        touch = upkeep.touch and (touched is None or now - touched > LAST_USED_RESOLUTION)
        rehash = upkeep.rehash if upkeep.secret_id not in self._rehashed else None
        if not touch and rehash is None:
            return
        try:
            self._queue.put_nowait((upkeep.secret_id, now, rehash or ""))
        except asyncio.QueueFull:
            return
        _remember(self._touched, upkeep.secret_id, now)
        if rehash is not None:
            _remember(self._rehashed, upkeep.secret_id, None)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """Wait until everything queued so far is written (or given up on)."""
        if self._task is not None:
            await self._queue.join()

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            secret_id, used_at, rehash = await self._queue.get()
            try:
                await self._recorder.record_secret_use(secret_id, used_at, rehash)
            except Exception:
                log.warning("secret bookkeeping not written", secret=secret_id, exc_info=True)
                self._touched.pop(secret_id, None)
                self._rehashed.pop(secret_id, None)
            finally:
                self._queue.task_done()


def _remember(seen: OrderedDict[str, V], key: str, value: V) -> None:
    seen[key] = value
    seen.move_to_end(key)
    while len(seen) > REMEMBERED:
        seen.popitem(last=False)
