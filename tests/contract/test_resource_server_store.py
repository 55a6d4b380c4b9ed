"""Contract of ResourceServerStore (services.registry.resource_servers.store): an app's APIs,
their audiences (unique per tenant) and the subset of the catalog each gates on, on every
backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.apps.models import App
from services.registry.kernel.models import PageRequest, Tenant
from services.registry.resource_servers.models import ResourceServer
from tests.contract import builders
from tests.contract.conftest import NOW, unique


async def _ids(tx: Any, owner: Tenant, service: str, *codes: str) -> list[str]:
    return [entry.id for entry in await builders.entries(tx, owner, service, *codes)]


def _draft(owner: Tenant, app: App) -> ResourceServer:
    return ResourceServer(
        id=builders.new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        app_id=app.id,
        app_slug=app.slug,
        audience=f"https://{unique('api')}.example.com",
        name=unique("API"),
        created_at=NOW,
    )


# -- insert / get -------------------------------------------------------------------------


async def test_get_by_id_or_audience_returns_a_whole_catalog_server(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        server = await builders.resource_server(tx, owner, shop)
    async with uow.read() as tx:
        by_id = await tx.resource_servers.get(owner.id, server.id)
        by_audience = await tx.resource_servers.get(owner.id, server.audience)
    assert by_id == by_audience == server
    assert (server.tenant_slug, server.app_slug) == (owner.slug, shop.slug)
    assert (by_id.whole_catalog, by_id.permissions) == (True, ())


async def test_get_returns_the_subsets_codes_sorted_and_distinct(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "orders:write", "orders:read", "carts:read")
        extra = await _ids(tx, owner, unique("svc"), "orders:read")
        server = await builders.resource_server(tx, owner, shop, *ids, *extra)
    async with uow.read() as tx:
        found = await tx.resource_servers.get(owner.id, server.audience)
    assert found == replace(
        server, permissions=("carts:read", "orders:read", "orders:write"), whole_catalog=False
    )


async def test_get_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        server = await builders.resource_server(tx, owner, shop)
        assert await tx.resource_servers.get(other.id, server.id) is None
        assert await tx.resource_servers.get(other.id, server.audience) is None
        assert await tx.resource_servers.get(owner.id, builders.new_id()) is None
        assert await tx.resource_servers.get(owner.id, server.name) is None


async def test_get_prefers_an_id_over_an_audience_that_looks_like_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        target = await builders.resource_server(tx, owner, shop)
        await builders.resource_server(tx, owner, shop, audience=target.id)
        assert await tx.resource_servers.get(owner.id, target.id) == target


async def test_insert_derives_the_whole_catalog_flag_from_the_subset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read")
        wide = replace(_draft(owner, shop), whole_catalog=False)
        narrow = replace(_draft(owner, shop), whole_catalog=True)
        await tx.resource_servers.insert(wide, [])
        await tx.resource_servers.insert(narrow, ids)
        found_wide = await tx.resource_servers.get(owner.id, wide.id)
        found_narrow = await tx.resource_servers.get(owner.id, narrow.id)
    assert found_wide == replace(wide, whole_catalog=True)
    assert found_narrow == replace(narrow, whole_catalog=False, permissions=("a:read",))


async def test_insert_refuses_an_audience_the_tenant_already_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        blog = await builders.app(tx, owner)
        taken = await builders.resource_server(tx, owner, shop)
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await builders.resource_server(tx, owner, blog, audience=taken.audience)
    assert caught.value.reason == "AUDIENCE_TAKEN"
    async with uow.read() as tx:
        assert await tx.resource_servers.get(owner.id, taken.audience) == taken
        assert (await tx.resource_servers.search(owner.id, None, PageRequest())).total == 1


async def test_insert_allows_an_audience_another_tenant_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        theirs = await builders.resource_server(tx, other, await builders.app(tx, other))
        mine = await builders.resource_server(
            tx, owner, await builders.app(tx, owner), audience=theirs.audience
        )
        assert await tx.resource_servers.get(owner.id, theirs.audience) == mine
        assert await tx.resource_servers.get(other.id, theirs.audience) == theirs


# -- update -------------------------------------------------------------------------------


async def test_update_renames_and_keeps_the_subset_when_none_is_given(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read")
        server = await builders.resource_server(tx, owner, shop, *ids)
        await tx.resource_servers.update(server.id, "Renamed", None)
        found = await tx.resource_servers.get(owner.id, server.id)
    assert found == replace(server, name="Renamed", permissions=("a:read",), whole_catalog=False)


async def test_update_replaces_the_subset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        first, second, third = await _ids(tx, owner, shop.slug, "a:read", "b:read", "c:read")
        server = await builders.resource_server(tx, owner, shop, first, second)
        await tx.resource_servers.update(server.id, server.name, [third, second])
        found = await tx.resource_servers.get(owner.id, server.id)
    assert found == replace(server, permissions=("b:read", "c:read"), whole_catalog=False)


async def test_update_with_an_empty_subset_makes_it_the_whole_catalog(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read", "b:read")
        server = await builders.resource_server(tx, owner, shop, *ids)
        await tx.resource_servers.update(server.id, server.name, [])
        found = await tx.resource_servers.get(owner.id, server.id)
        references = await tx.catalog.references(ids)
    assert found == replace(server, permissions=(), whole_catalog=True)
    assert references == {}


async def test_update_of_a_whole_catalog_server_to_a_subset_narrows_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read")
        server = await builders.resource_server(tx, owner, shop)
        await tx.resource_servers.update(server.id, server.name, ids)
        found = await tx.resource_servers.get(owner.id, server.id)
    assert found == replace(server, permissions=("a:read",), whole_catalog=False)


async def test_a_subset_emptied_by_a_catalog_prune_stays_a_subset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read")
        server = await builders.resource_server(tx, owner, shop, *ids)
        await tx.catalog.delete(ids)
        await tx.resource_servers.update(server.id, "Renamed", None)
        found = await tx.resource_servers.get(owner.id, server.id)
    assert found == replace(server, name="Renamed", permissions=(), whole_catalog=False)


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_server_and_its_subset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        ids = await _ids(tx, owner, shop.slug, "a:read")
        doomed = await builders.resource_server(tx, owner, shop, *ids)
        kept = await builders.resource_server(tx, owner, shop, *ids)
    async with uow.transaction() as tx:
        await tx.resource_servers.delete(doomed.id)
    async with uow.read() as tx:
        assert await tx.resource_servers.get(owner.id, doomed.id) is None
        assert await tx.resource_servers.get(owner.id, doomed.audience) is None
        references = await tx.catalog.references(ids)
        assert references[ids[0]].resource_servers == (kept.audience,)
        assert (await tx.resource_servers.search(owner.id, None, PageRequest())).items == [
            replace(kept, permissions=("a:read",))
        ]


async def test_delete_frees_the_audience(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        old = await builders.resource_server(tx, owner, shop)
        await tx.resource_servers.delete(old.id)
        new = await builders.resource_server(tx, owner, shop, audience=old.audience)
        assert await tx.resource_servers.get(owner.id, old.audience) == new


async def test_delete_of_an_unknown_server_does_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        server = await builders.resource_server(tx, owner, shop)
        await tx.resource_servers.delete(builders.new_id())
        assert await tx.resource_servers.get(owner.id, server.id) == server


# -- search -------------------------------------------------------------------------------


async def test_search_orders_the_tenants_servers_by_audience(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        blog = await builders.app(tx, owner)
        prefix = f"https://{unique('ord')}"
        ids = await _ids(tx, owner, shop.slug, "z:read", "a:read")
        await builders.resource_server(tx, owner, shop, audience=f"{prefix}/c")
        narrow = await builders.resource_server(tx, owner, blog, *ids, audience=f"{prefix}/a")
        await builders.resource_server(tx, owner, shop, audience=f"{prefix}/b")
        await builders.resource_server(
            tx, other, await builders.app(tx, other), audience=f"{prefix}/0"
        )
    async with uow.read() as tx:
        page = await tx.resource_servers.search(owner.id, None, PageRequest())
    assert [s.audience for s in page.items] == [f"{prefix}/a", f"{prefix}/b", f"{prefix}/c"]
    assert (page.total, page.next_offset) == (3, None)
    assert page.items[0] == replace(narrow, permissions=("a:read", "z:read"))


async def test_search_by_app_keeps_one_apps_servers(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        blog = await builders.app(tx, owner)
        prefix = f"https://{unique('app')}"
        second = await builders.resource_server(tx, owner, shop, audience=f"{prefix}/b")
        first = await builders.resource_server(tx, owner, shop, audience=f"{prefix}/a")
        await builders.resource_server(tx, owner, blog)
    async with uow.read() as tx:
        page = await tx.resource_servers.search(owner.id, shop.id, PageRequest())
        unused = await tx.resource_servers.search(owner.id, builders.new_id(), PageRequest())
    assert page.items == [first, second]
    assert (page.total, page.next_offset) == (2, None)
    assert (unused.items, unused.total, unused.next_offset) == ([], 0, None)


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        prefix = f"https://{unique('pg')}"
        for suffix in ("e", "d", "c", "b", "a"):
            await builders.resource_server(tx, owner, shop, audience=f"{prefix}/{suffix}")
    async with uow.read() as tx:
        first = await tx.resource_servers.search(owner.id, None, PageRequest(size=2))
        middle = await tx.resource_servers.search(owner.id, None, PageRequest(size=2, offset=2))
        last = await tx.resource_servers.search(owner.id, None, PageRequest(size=2, offset=4))
        beyond = await tx.resource_servers.search(owner.id, None, PageRequest(size=2, offset=6))
    assert [s.audience for s in first.items] == [f"{prefix}/a", f"{prefix}/b"]
    assert (first.total, first.next_offset) == (5, 2)
    assert [s.audience for s in middle.items] == [f"{prefix}/c", f"{prefix}/d"]
    assert (middle.total, middle.next_offset) == (5, 4)
    assert [s.audience for s in last.items] == [f"{prefix}/e"]
    assert (last.total, last.next_offset) == (5, None)
    assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)
