"""The secret bookkeeping reporter (services.token.domain.secret_upkeep): a token request only
queues what the matched secret's row needs (its last-used time at most once a minute, its
re-hash once) and never waits for the write; a write that fails is asked again on the next use;
a full queue drops the report; drain and stop flush what is queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import TypeVar

import pytest

from services.token.domain import secret_upkeep
from services.token.domain.authentication import LAST_USED_RESOLUTION, SecretUpkeep
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from tests.unit.registry import fakes

T = TypeVar("T")
MINUTE = LAST_USED_RESOLUTION.total_seconds()


class Recorder:
    """Keeps every write; ``failures`` next writes raise; ``gate``, when set, holds writes."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, datetime, str]] = []
        self.failures = 0
        self.gate: asyncio.Event | None = None

    async def record_secret_use(self, secret_id: str, used_at: datetime, rehash: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("registry down")
        self.writes.append((secret_id, used_at, rehash))


class Setup:
    def __init__(self) -> None:
        self.clock = fakes.Clock()
        self.recorder = Recorder()
        self.reporter = SecretUpkeepReporter(self.recorder, self.clock)


@pytest.fixture
async def s() -> AsyncIterator[Setup]:
    made = Setup()
    made.reporter.start()
    yield made
    if made.recorder.gate is not None:
        made.recorder.gate.set()
    await within(made.reporter.stop())


async def within(awaitable: Awaitable[T], seconds: float = 2.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def touch(secret_id: str = "s1", rehash: str | None = None) -> SecretUpkeep:
    return SecretUpkeep(secret_id=secret_id, touch=True, rehash=rehash)


async def test_a_secrets_use_is_reported_at_most_once_a_minute(s: Setup) -> None:
    s.reporter.report(touch())
    await s.reporter.drain()
    assert s.recorder.writes == [("s1", fakes.NOW, "")]
    s.clock.advance(30)
    s.reporter.report(touch())
    s.clock.advance(MINUTE - 30)  # exactly a minute after the reported use
    s.reporter.report(touch())
    await s.reporter.drain()
    assert len(s.recorder.writes) == 1
    s.clock.advance(1)
    s.reporter.report(touch())
    await s.reporter.drain()
    assert s.recorder.writes[1:] == [("s1", s.clock.at, "")]


async def test_each_secret_has_its_own_minute(s: Setup) -> None:
    s.reporter.report(touch("s1"))
    s.reporter.report(touch("s2"))
    s.reporter.report(touch("s1"))
    await s.reporter.drain()
    assert s.recorder.writes == [("s1", fakes.NOW, ""), ("s2", fakes.NOW, "")]


async def test_nothing_is_queued_when_nothing_is_due(s: Setup) -> None:
    s.reporter.report(SecretUpkeep(secret_id="s1", touch=False, rehash=None))
    await s.reporter.drain()
    assert s.recorder.writes == []


async def test_a_rehash_is_reported_once_and_later_uses_only_touch(s: Setup) -> None:
    s.reporter.report(touch(rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert s.recorder.writes == [("s1", fakes.NOW, "hmac-sha256$2$new")]
    # Cached snapshots keep the old hash, so later uses keep asking: not reported again.
    s.reporter.report(touch(rehash="hmac-sha256$2$new"))
    s.reporter.report(SecretUpkeep(secret_id="s1", touch=False, rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert len(s.recorder.writes) == 1
    s.clock.advance(MINUTE + 1)
    s.reporter.report(touch(rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert s.recorder.writes[1:] == [("s1", s.clock.at, "")]


async def test_a_rehash_is_reported_even_within_the_minute_of_a_touch(s: Setup) -> None:
    s.reporter.report(touch())
    s.clock.advance(5)
    s.reporter.report(SecretUpkeep(secret_id="s1", touch=False, rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert s.recorder.writes == [
        ("s1", fakes.NOW, ""),
        ("s1", s.clock.at, "hmac-sha256$2$new"),
    ]


async def test_a_failed_write_is_reported_again_on_the_next_use(s: Setup) -> None:
    s.recorder.failures = 1
    s.reporter.report(touch(rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert s.recorder.writes == []
    s.clock.advance(1)  # well within the minute
    s.reporter.report(touch(rehash="hmac-sha256$2$new"))
    await s.reporter.drain()
    assert s.recorder.writes == [("s1", s.clock.at, "hmac-sha256$2$new")]
    # The task survived the failure and keeps writing.
    s.reporter.report(touch("s2"))
    await s.reporter.drain()
    assert s.recorder.writes[1:] == [("s2", s.clock.at, "")]


async def test_report_never_waits_for_the_write(s: Setup) -> None:
    s.recorder.gate = asyncio.Event()
    for n in range(3):
        s.reporter.report(touch(f"s{n}"))  # returns at once though every write is held
    assert s.recorder.writes == []
    s.recorder.gate.set()
    await within(s.reporter.drain())
    assert [w[0] for w in s.recorder.writes] == ["s0", "s1", "s2"]


async def test_a_full_queue_drops_the_report_and_the_next_use_asks_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secret_upkeep, "QUEUE_LIMIT", 2)
    clock, recorder = fakes.Clock(), Recorder()
    reporter = SecretUpkeepReporter(recorder, clock)  # not started: nothing leaves the queue
    for secret_id in ("s1", "s2", "s3"):
        reporter.report(touch(secret_id))
    reporter.start()
    await within(reporter.drain())
    assert [w[0] for w in recorder.writes] == ["s1", "s2"]
    reporter.report(touch("s3"))  # dropped, so not remembered as reported
    await within(reporter.stop())
    assert [w[0] for w in recorder.writes] == ["s1", "s2", "s3"]


async def test_drain_waits_for_every_queued_write(s: Setup) -> None:
    for n in range(5):
        s.reporter.report(touch(f"s{n}"))
    await s.reporter.drain()
    assert len(s.recorder.writes) == 5


async def test_stop_writes_what_is_queued_then_stops() -> None:
    clock, recorder = fakes.Clock(), Recorder()
    reporter = SecretUpkeepReporter(recorder, clock)
    reporter.start()
    for n in range(5):
        reporter.report(touch(f"s{n}"))
    await within(reporter.stop())
    assert len(recorder.writes) == 5
    await within(reporter.stop())  # a second stop is harmless
    reporter.report(touch("late"))
    await within(reporter.drain())  # nothing runs after stop: drain does not wait
    assert len(recorder.writes) == 5


async def test_drain_and_stop_before_start_return_at_once() -> None:
    reporter = SecretUpkeepReporter(Recorder(), fakes.Clock())
    reporter.report(touch())
    await within(reporter.drain())
    await within(reporter.stop())


async def test_what_was_reported_is_remembered_within_a_bound(
    monkeypatch: pytest.MonkeyPatch, s: Setup
) -> None:
    monkeypatch.setattr(secret_upkeep, "REMEMBERED", 2)
    for secret_id in ("s1", "s2", "s3"):
        s.reporter.report(touch(secret_id))
    await s.reporter.drain()
    # s1 was forgotten to make room: its next use is reported again, s3's is not.
    s.reporter.report(touch("s1"))
    s.reporter.report(touch("s3"))
    await s.reporter.drain()
    assert [w[0] for w in s.recorder.writes] == ["s1", "s2", "s3", "s1"]
