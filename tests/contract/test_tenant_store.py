"""TenantStore contract: lookup by slug and id, filtered and ordered pages, slug uniqueness,
optimistic updates of the mutable fields, the bootstrap lock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.kernel.models import PageRequest, Settings
from tests.contract import builders
from tests.contract.conftest import NOW, unique


async def _tenants(tx: Any, marker: str, *suffixes: str, **overrides: Any) -> list[Any]:
    return [
        await builders.tenant(tx, slug=f"{marker}-{s}", display_name=f"T {s}", **overrides)
        for s in suffixes
    ]


async def test_get_finds_a_tenant_by_slug_as_inserted(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.tenant(
            tx, control_plane=True, settings=Settings({"a.b": "x", "n": 3}), app_limit=7
        )
    async with uow.read() as tx:
        assert await tx.tenants.get(inserted.slug) == inserted
        assert await tx.tenants.get_by_id(inserted.id) == inserted


async def test_get_for_update_returns_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.tenant(tx)
        assert await tx.tenants.get(inserted.slug, for_update=True) == inserted


async def test_get_returns_none_for_unknown_slug_or_id(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.tenants.get(unique("nope")) is None
        assert await tx.tenants.get_by_id(builders.new_id()) is None


async def test_get_matches_the_slug_exactly(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.tenant(tx)
        assert await tx.tenants.get(inserted.slug.upper()) is None
        assert await tx.tenants.get(inserted.id) is None


async def test_settings_returned_are_a_copy(uow: Any) -> None:
    async with uow.transaction() as tx:
        inserted = await builders.tenant(tx, settings=Settings({"k": "v"}))
        first = await tx.tenants.get(inserted.slug)
        first.settings.values["k"] = "changed"
        assert (await tx.tenants.get(inserted.slug)).settings == Settings({"k": "v"})


async def test_insert_refuses_a_taken_slug(uow: Any) -> None:
    async with uow.transaction() as tx:
        first = await builders.tenant(tx)
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await builders.tenant(tx, slug=first.slug)
    assert caught.value.reason == "TENANT_SLUG_TAKEN"
    assert caught.value.message == "A tenant with that slug already exists."
    async with uow.read() as tx:
        assert await tx.tenants.get(first.slug) == first


async def test_list_matches_slug_or_display_name_substring_case_insensitively(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        by_slug = await builders.tenant(tx, slug=f"{marker}-a")
        by_name = await builders.tenant(tx, display_name=f"Name {marker.upper()} here")
        await builders.tenant(tx)
        page = await tx.tenants.search(PageRequest(), marker.upper(), "")
        # Default order is by slug: "mk-..." before "tn-...".
        assert page.items == [by_slug, by_name]
        assert page.total == 2
        assert page.next_offset is None
        only_name = await tx.tenants.search(PageRequest(), f"name {marker}", "")
        assert [t.id for t in only_name.items] == [by_name.id]


async def test_list_query_is_a_literal_substring(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        underscored = await builders.tenant(tx, display_name=f"{marker} a_b")
        await builders.tenant(tx, display_name=f"{marker} axb")
        found = await tx.tenants.search(PageRequest(), f"{marker} a_b", "")
        assert [t.id for t in found.items] == [underscored.id]
        assert (await tx.tenants.search(PageRequest(), f"{marker} %", "")).items == []


async def test_list_orders_by_slug_by_default_and_descending_with_minus(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        b, a, c = await _tenants(tx, marker, "b", "a", "c")
        ascending = await tx.tenants.search(PageRequest(), marker, "")
        assert [t.slug for t in ascending.items] == [a.slug, b.slug, c.slug]
        assert ascending.items == [a, b, c]
        explicit = await tx.tenants.search(PageRequest(), marker, "slug")
        assert explicit.items == [a, b, c]
        descending = await tx.tenants.search(PageRequest(), marker, "-slug")
        assert descending.items == [c, b, a]


async def test_list_orders_by_display_name(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        x = await builders.tenant(tx, slug=f"{marker}-1", display_name="Zed")
        y = await builders.tenant(tx, slug=f"{marker}-2", display_name="Alpha")
        z = await builders.tenant(tx, slug=f"{marker}-3", display_name="Mid")
        assert (await tx.tenants.search(PageRequest(), marker, "display_name")).items == [y, z, x]
        assert (await tx.tenants.search(PageRequest(), marker, "-display_name")).items == [x, z, y]


async def test_list_orders_by_created_at_then_id(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        late = await builders.tenant(tx, slug=f"{marker}-a", created_at=NOW + timedelta(hours=1))
        early = await builders.tenant(tx, slug=f"{marker}-b", created_at=NOW - timedelta(hours=1))
        tie_1 = await builders.tenant(tx, slug=f"{marker}-c", id=f"00000000-{marker[-8:]}-1")
        tie_2 = await builders.tenant(tx, slug=f"{marker}-d", id=f"00000000-{marker[-8:]}-0")
        ascending = await tx.tenants.search(PageRequest(), marker, "created_at")
        assert ascending.items == [early, tie_2, tie_1, late]
        # Ties stay in ascending id order whatever the direction.
        descending = await tx.tenants.search(PageRequest(), marker, "-created_at")
        assert descending.items == [late, tie_2, tie_1, early]


async def test_list_pages_with_total_and_next_offset(uow: Any) -> None:
    marker = unique("mk")
    async with uow.transaction() as tx:
        tenants = await _tenants(tx, marker, "a", "b", "c", "d", "e")
        first = await tx.tenants.search(PageRequest(size=2, offset=0), marker, "")
        assert first.items == tenants[:2]
        assert (first.total, first.next_offset) == (5, 2)
        middle = await tx.tenants.search(PageRequest(size=2, offset=2), marker, "")
        assert middle.items == tenants[2:4]
        assert (middle.total, middle.next_offset) == (5, 4)
        last = await tx.tenants.search(PageRequest(size=2, offset=4), marker, "")
        assert last.items == tenants[4:]
        assert (last.total, last.next_offset) == (5, None)
        beyond = await tx.tenants.search(PageRequest(size=2, offset=9), marker, "")
        assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


async def test_list_without_matches_is_empty(uow: Any) -> None:
    async with uow.read() as tx:
        page = await tx.tenants.search(PageRequest(), unique("absent"), "")
        assert (page.items, page.total, page.next_offset) == ([], 0, None)


async def test_update_writes_the_mutable_fields_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.tenant(tx)
        changed = replace(
            original,
            slug=unique("other"),
            control_plane=True,
            display_name="Renamed",
            app_limit=3,
            settings=Settings({"registration_posture": "closed"}),
            version=2,
            created_at=NOW + timedelta(days=9),
            updated_at=NOW + timedelta(minutes=5),
        )
        assert await tx.tenants.update(changed, 1) is True
    async with uow.read() as tx:
        stored = await tx.tenants.get_by_id(original.id)
        assert stored == replace(
            original,
            display_name="Renamed",
            app_limit=3,
            settings=Settings({"registration_posture": "closed"}),
            version=2,
            updated_at=NOW + timedelta(minutes=5),
        )
        assert await tx.tenants.get(changed.slug) is None


async def test_update_refuses_a_stale_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        original = await builders.tenant(tx, version=4)
        assert await tx.tenants.update(replace(original, display_name="X", version=5), 3) is False
        assert await tx.tenants.get_by_id(original.id) == original


async def test_update_of_an_unknown_tenant_is_false(uow: Any) -> None:
    async with uow.transaction() as tx:
        ghost = replace(await builders.tenant(tx), id=builders.new_id())
        assert await tx.tenants.update(ghost, 1) is False


async def test_lock_bootstrap_keeps_the_unit_of_work_usable(uow: Any) -> None:
    async with uow.transaction() as tx:
        assert await tx.tenants.lock_bootstrap() is None
        await tx.tenants.lock_bootstrap()
        inserted = await builders.tenant(tx)
    async with uow.read() as tx:
        assert await tx.tenants.get(inserted.slug) == inserted
