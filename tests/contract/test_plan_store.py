"""PlanStore contract: lookup by id or code, pages ordered by code with an optional status
filter, code uniqueness, optimistic updates of name, status and limits, deletion."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.common.vocabulary import PlanStatus
from services.registry.kernel.models import PageRequest
from services.registry.plans.models import Plan
from tests.contract import builders
from tests.contract.conftest import NOW, unique


async def _everything(tx: Any, status: str | None) -> list[Plan]:
    """Every plan the store lists (other tests' too), page after page."""
    plans: list[Plan] = []
    offset: int | None = 0
    while offset is not None:
        page = await tx.plans.search(PageRequest(size=200, offset=offset), status)
        plans.extend(page.items)
        offset = page.next_offset
    return plans


async def test_get_finds_a_plan_by_id_or_code_as_inserted(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.plan(tx, limits={"monthly-document-units": 50, "seats": 3})
    async with uow.read() as tx:
        assert await tx.plans.get(inserted.id) == inserted
        assert await tx.plans.get(inserted.code) == inserted
        assert (await tx.plans.get(inserted.id)).status is PlanStatus.ACTIVE


async def test_get_returns_none_for_unknown_id_or_code(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.plans.get(unique("pl")) is None
        assert await tx.plans.get(builders.new_id()) is None


async def test_a_plan_may_have_no_limits(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.plan(tx, limits={})
        assert (await tx.plans.get(inserted.id)).limits == {}


async def test_limits_returned_are_a_copy(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.plan(tx, limits={"seats": 1})
        (await tx.plans.get(inserted.id)).limits["seats"] = 99
        assert (await tx.plans.get(inserted.id)).limits == {"seats": 1}


async def test_insert_refuses_a_taken_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        first = await builders.plan(tx)
    twin = replace(first, id=builders.new_id(), name="Twin")
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.plans.insert(twin, NOW)
    assert caught.value.reason == "PLAN_CODE_TAKEN"
    assert caught.value.message == "A plan with that code already exists."
    async with uow.read() as tx:
        assert await tx.plans.get(first.code) == first


async def test_search_orders_by_code(uow: Any) -> None:
    marker = unique("pl")
    async with uow.transaction() as tx:
        c = await builders.plan(tx, code=f"{marker}-c")
        a = await builders.plan(tx, code=f"{marker}-a", status=PlanStatus.RETIRED)
        b = await builders.plan(tx, code=f"{marker}-b")
        everything = await _everything(tx, None)
        codes = [p.code for p in everything]
        assert codes == sorted(codes)
        assert [p for p in everything if p.code.startswith(marker)] == [a, b, c]


async def test_search_filters_on_status_when_given(uow: Any) -> None:
    marker = unique("pl")
    async with uow.transaction() as tx:
        live = await builders.plan(tx, code=f"{marker}-live")
        retired = await builders.plan(tx, code=f"{marker}-old", status=PlanStatus.RETIRED)
        active = await _everything(tx, "active")
        old = await _everything(tx, "retired")
        assert all(p.status is PlanStatus.ACTIVE for p in active)
        assert all(p.status is PlanStatus.RETIRED for p in old)
        assert live in active
        assert live not in old
        assert retired in old
        assert retired not in active
        every = await _everything(tx, None)
        assert len(active) + len(old) == len(every)
        # An empty status is no filter either.
        assert await _everything(tx, "") == every


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    marker = unique("pl")
    async with uow.transaction() as tx:
        mine = [await builders.plan(tx, code=f"{marker}-{i}") for i in range(3)]
        everything = await _everything(tx, None)
        total = len(everything)
        start = everything.index(mine[0])
        page = await tx.plans.search(PageRequest(size=2, offset=start), None)
        assert page.items == mine[:2]
        assert page.total == total
        assert page.next_offset == (start + 2 if start + 2 < total else None)
        last = await tx.plans.search(PageRequest(size=5, offset=total - 1), None)
        assert len(last.items) == 1
        assert (last.total, last.next_offset) == (total, None)
        beyond = await tx.plans.search(PageRequest(size=5, offset=total), None)
        assert (beyond.items, beyond.total, beyond.next_offset) == ([], total, None)


async def test_update_writes_name_status_limits_and_version_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.plan(tx, limits={"a": 1, "b": 2})
        changed = replace(
            original,
            code=unique("other"),
            name="Renamed",
            status=PlanStatus.RETIRED,
            limits={"c": 3},
            version=2,
        )
        assert await tx.plans.update(changed, 1, NOW) is True
    async with uow.read() as tx:
        assert await tx.plans.get(original.id) == replace(changed, code=original.code)
        assert await tx.plans.get(changed.code) is None


async def test_update_refuses_a_stale_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.plan(tx, version=5)
        assert await tx.plans.update(replace(original, name="Late", version=6), 4, NOW) is False
        assert await tx.plans.get(original.id) == original


async def test_update_of_an_unknown_plan_is_false(uow: Any) -> None:
    async with uow.transaction() as tx:
        ghost = Plan(builders.new_id(), unique("pl"), "Ghost", PlanStatus.ACTIVE, {}, 2)
        assert await tx.plans.update(ghost, 1, NOW) is False
        assert await tx.plans.get(ghost.id) is None


async def test_delete_removes_the_plan_and_frees_its_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        doomed = await builders.plan(tx)
        kept = await builders.plan(tx)
        await tx.plans.delete(doomed.id)
        assert await tx.plans.get(doomed.id) is None
        assert await tx.plans.get(doomed.code) is None
        assert await tx.plans.get(kept.id) == kept
        again = replace(doomed, id=builders.new_id())
        await tx.plans.insert(again, NOW)
        assert await tx.plans.get(doomed.code) == again


async def test_delete_of_an_unknown_plan_is_a_no_op(uow: Any) -> None:
    async with uow.transaction() as tx:
        await tx.plans.delete(builders.new_id())
