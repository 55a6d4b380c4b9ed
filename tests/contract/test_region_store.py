"""RegionStore contract: lookup by id or code, pages ordered by code, code and database-code
uniqueness, optimistic updates, databases in listing order (each change moves the region's
version on), deletion with the databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.kernel.models import PageRequest
from services.registry.regions.models import Region, RegionDatabase
from tests.contract import builders
from tests.contract.conftest import NOW, unique


async def _everything(tx: Any, active: bool | None) -> list[Region]:
    """Every region the store lists (other tests' too), page after page."""
    regions: list[Region] = []
    offset: int | None = 0
    while offset is not None:
        page = await tx.regions.search(PageRequest(size=200, offset=offset), active)
        assert page.total >= len(regions) + len(page.items)
        regions.extend(page.items)
        offset = page.next_offset
    return regions


async def test_get_finds_a_region_by_id_or_code_with_its_databases_in_order(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.region(tx, ("db-b", True), ("db-a", False), ("db-c", True))
    async with uow.read() as tx:
        by_id = await tx.regions.get(inserted.id)
        assert by_id == inserted
        assert [d.db_code for d in by_id.databases] == ["db-b", "db-a", "db-c"]
        assert await tx.regions.get(inserted.code) == inserted


async def test_get_returns_none_for_unknown_id_or_code(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.regions.get(unique("rg")) is None
        assert await tx.regions.get(builders.new_id()) is None


async def test_a_region_may_have_no_databases(uow: Any) -> None:
    async with uow.transaction() as tx:
        bare = Region(builders.new_id(), unique("rg"), "Bare", True, (), 1)
        await tx.regions.insert(bare, NOW)
        assert await tx.regions.get(bare.id) == bare


async def test_insert_refuses_a_taken_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        first = await builders.region(tx)
    twin = replace(first, id=builders.new_id(), name="Twin")
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.regions.insert(twin, NOW)
    assert caught.value.reason == "REGION_CODE_TAKEN"
    assert caught.value.message == "A region with that code already exists."
    async with uow.read() as tx:
        assert await tx.regions.get(first.code) == first
        assert await tx.regions.get(twin.id) is None


async def test_insert_refuses_the_same_database_code_twice(uow: Any) -> None:
    region = Region(
        builders.new_id(),
        unique("rg"),
        "Twice",
        True,
        (RegionDatabase("db-1", True), RegionDatabase("db-1", False)),
        1,
    )
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.regions.insert(region, NOW)
    assert caught.value.reason == "DB_CODE_TAKEN"


async def test_the_same_database_code_may_serve_two_regions(uow: Any) -> None:
    async with uow.transaction() as tx:
        one = await builders.region(tx, ("shared-db", True))
        two = await builders.region(tx, ("shared-db", False))
        assert (await tx.regions.get(one.id)).databases == (RegionDatabase("shared-db", True),)
        assert (await tx.regions.get(two.id)).databases == (RegionDatabase("shared-db", False),)


async def test_search_orders_by_code_and_counts_every_match(uow: Any) -> None:
    marker = unique("rg")
    async with uow.transaction() as tx:
        b = await builders.region(tx, code=f"{marker}-b")
        c = await builders.region(tx, code=f"{marker}-c")
        a = await builders.region(tx, code=f"{marker}-a")
        everything = await _everything(tx, None)
        codes = [r.code for r in everything]
        assert codes == sorted(codes)
        assert [r for r in everything if r.code.startswith(marker)] == [a, b, c]
        first = await tx.regions.search(PageRequest(size=1), None)
        assert first.total == len(everything)


async def test_search_filters_on_the_active_flag(uow: Any) -> None:
    marker = unique("rg")
    async with uow.transaction() as tx:
        on = await builders.region(tx, code=f"{marker}-on")
        off = await builders.region(tx, code=f"{marker}-off", active=False)
        active = await _everything(tx, True)
        inactive = await _everything(tx, False)
        both = await _everything(tx, None)
        assert all(r.active for r in active)
        assert not any(r.active for r in inactive)
        assert on in active
        assert on not in inactive
        assert off in inactive
        assert off not in active
        assert len(active) + len(inactive) == len(both)


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    marker = unique("rg")
    async with uow.transaction() as tx:
        mine = [await builders.region(tx, code=f"{marker}-{i}") for i in range(3)]
        everything = await _everything(tx, None)
        total = len(everything)
        start = everything.index(mine[0])
        page = await tx.regions.search(PageRequest(size=2, offset=start), None)
        assert page.items == mine[:2]
        assert page.total == total
        assert page.next_offset == (start + 2 if start + 2 < total else None)
        last = await tx.regions.search(PageRequest(size=5, offset=total - 1), None)
        assert len(last.items) == 1
        assert (last.total, last.next_offset) == (total, None)
        beyond = await tx.regions.search(PageRequest(size=5, offset=total), None)
        assert (beyond.items, beyond.total, beyond.next_offset) == ([], total, None)


async def test_update_writes_name_active_and_version_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, ("db-1", True))
        changed = replace(
            original,
            code=unique("other"),
            name="Renamed",
            active=False,
            databases=(RegionDatabase("ignored", True),),
            version=2,
        )
        assert await tx.regions.update(changed, 1, NOW + timedelta(hours=1)) is True
    async with uow.read() as tx:
        assert await tx.regions.get(original.id) == replace(
            original, name="Renamed", active=False, version=2
        )
        assert await tx.regions.get(changed.code) is None


async def test_update_refuses_a_stale_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, version=3)
        stale = replace(original, name="Late", version=3)
        assert await tx.regions.update(stale, 2, NOW) is False
        assert await tx.regions.get(original.id) == original


async def test_update_of_an_unknown_region_is_false(uow: Any) -> None:
    async with uow.transaction() as tx:
        ghost = Region(builders.new_id(), unique("rg"), "Ghost", True, (), 2)
        assert await tx.regions.update(ghost, 1, NOW) is False
        assert await tx.regions.get(ghost.id) is None


async def test_add_database_appends_and_moves_the_version_on(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, ("db-z", True), ("db-a", True))
        await tx.regions.add_database(original.id, RegionDatabase("db-m", False), NOW)
        await tx.regions.add_database(original.id, RegionDatabase("db-b", True), NOW)
        stored = await tx.regions.get(original.id)
        assert stored.databases == (
            RegionDatabase("db-z", True),
            RegionDatabase("db-a", True),
            RegionDatabase("db-m", False),
            RegionDatabase("db-b", True),
        )
        assert stored.version == original.version + 2


async def test_add_database_to_a_region_without_databases_starts_the_list(uow: Any) -> None:
    async with uow.transaction() as tx:
        bare = Region(builders.new_id(), unique("rg"), "Bare", True, (), 1)
        await tx.regions.insert(bare, NOW)
        await tx.regions.add_database(bare.id, RegionDatabase("first", True), NOW)
        stored = await tx.regions.get(bare.id)
        assert stored.databases == (RegionDatabase("first", True),)
        assert stored.first_active_database() == RegionDatabase("first", True)


async def test_add_database_refuses_a_code_the_region_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, ("db-1", True))
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.regions.add_database(original.id, RegionDatabase("db-1", False), NOW)
    assert caught.value.reason == "DB_CODE_TAKEN"
    assert caught.value.message == "The region already has a database with that code."
    async with uow.read() as tx:
        assert await tx.regions.get(original.id) == original


async def test_set_database_active_toggles_one_database_and_moves_the_version_on(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, ("db-1", True), ("db-2", True))
        assert await tx.regions.set_database_active(original.id, "db-1", False) is True
        stored = await tx.regions.get(original.id)
        assert stored.databases == (RegionDatabase("db-1", False), RegionDatabase("db-2", True))
        assert stored.version == original.version + 1
        assert stored.first_active_database() == RegionDatabase("db-2", True)
        assert await tx.regions.set_database_active(original.id, "db-1", True) is True
        assert (await tx.regions.get(original.id)).databases == original.databases


async def test_set_database_active_on_an_unknown_database_is_false(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.region(tx, ("db-1", True))
        assert await tx.regions.set_database_active(original.id, "nope", False) is False
        assert (await tx.regions.get(original.id)).databases == original.databases
        other = await builders.region(tx, ("db-2", True))
        assert await tx.regions.set_database_active(other.id, "db-1", False) is False
        assert (await tx.regions.get(original.id)).databases == original.databases


async def test_delete_removes_the_region_and_its_databases(uow: Any) -> None:
    async with uow.transaction() as tx:
        doomed = await builders.region(tx, ("db-1", True), ("db-2", False))
        kept = await builders.region(tx, ("db-1", True))
        await tx.regions.delete(doomed.id)
        assert await tx.regions.get(doomed.id) is None
        assert await tx.regions.get(doomed.code) is None
        assert await tx.regions.get(kept.id) == kept
        # The code and its database codes are free again.
        again = replace(doomed, id=builders.new_id(), databases=(RegionDatabase("db-1", True),))
        await tx.regions.insert(again, NOW)
        assert await tx.regions.get(doomed.code) == again


async def test_delete_of_an_unknown_region_is_a_no_op(uow: Any) -> None:
    async with uow.transaction() as tx:
        await tx.regions.delete(builders.new_id())
