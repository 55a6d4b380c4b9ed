"""Contract of the snapshot version store (services.registry.kernel.versions)."""

from __future__ import annotations

from typing import Any

from tests.contract.conftest import unique


async def test_bump_counts_from_one_per_scope(uow: Any) -> None:
    first, second = unique("tn"), unique("tn")
    async with uow.transaction() as tx:
        assert [await tx.versions.bump(first) for _ in range(3)] == [1, 2, 3]
        assert await tx.versions.bump(second) == 1
    async with uow.read() as tx:
        assert await tx.versions.read([first, second]) == {first: 3, second: 1}


async def test_a_scope_never_bumped_reads_zero(uow: Any) -> None:
    never = unique("tn")
    async with uow.read() as tx:
        assert await tx.versions.read([never]) == {never: 0}


async def test_bumps_of_a_rolled_back_unit_of_work_are_gone(uow: Any) -> None:
    scope = unique("tn")
    try:
        async with uow.transaction() as tx:
            await tx.versions.bump(scope)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    async with uow.read() as tx:
        assert await tx.versions.read([scope]) == {scope: 0}


async def test_hold_creates_missing_rows_at_zero_and_keeps_existing_ones(uow: Any) -> None:
    bumped, fresh = unique("tn"), unique("tn")
    async with uow.transaction() as tx:
        await tx.versions.bump(bumped)
        assert await tx.versions.hold([bumped, fresh]) == {bumped: 1, fresh: 0}
        assert await tx.versions.bump(fresh) == 1


async def test_hold_all_returns_every_version(uow: Any) -> None:
    scopes = [unique("tn") for _ in range(3)]
    async with uow.transaction() as tx:
        for index, scope in enumerate(scopes):
            for _ in range(index + 1):
                await tx.versions.bump(scope)
        held = await tx.versions.hold_all()
    assert {s: held[s] for s in scopes} == {scopes[0]: 1, scopes[1]: 2, scopes[2]: 3}
