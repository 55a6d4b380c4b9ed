"""Contract of ScopeStore (services.registry.scopes.store): a tenant's OAuth scopes,
tenant-wide or bound to one app, and the clients holding them, on every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.kernel.models import NamedRef, PageRequest
from services.registry.scopes.models import Scope
from tests.contract import builders
from tests.contract.conftest import NOW, unique

# -- named --------------------------------------------------------------------------------


async def test_named_keys_the_tenants_scopes_by_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        wide = await builders.scope(tx, owner)
        bound = await builders.scope(tx, owner, shop)
        await builders.scope(tx, owner)  # not asked for
    async with uow.read() as tx:
        found = await tx.scopes.named(owner.id, [bound.name, wide.name, unique("missing")])
    assert found == {
        wide.name: NamedRef(wide.id, wide.name, None),
        bound.name: NamedRef(bound.id, bound.name, shop.id),
    }


async def test_named_ignores_other_tenants_scopes_of_that_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        theirs = await builders.scope(tx, other)
        assert await tx.scopes.named(owner.id, [theirs.name]) == {}


async def test_named_of_no_names_is_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.scope(tx, owner)
        assert await tx.scopes.named(owner.id, []) == {}


async def test_named_is_case_sensitive(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner, name=unique("read").lower())
        assert await tx.scopes.named(owner.id, [scope.name.upper()]) == {}
        assert await tx.scopes.get(owner.id, scope.name.upper()) is None


# -- get ----------------------------------------------------------------------------------


async def test_get_returns_a_tenant_wide_scope_with_its_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner, description="Read everything")
    async with uow.read() as tx:
        found = await tx.scopes.get(owner.id, scope.name)
    assert found == scope
    assert (found.tenant_slug, found.app_id, found.app_slug) == (owner.slug, None, None)


async def test_get_returns_an_app_bound_scope_with_its_app_slug(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        scope = await builders.scope(tx, owner, shop)
    async with uow.read() as tx:
        found = await tx.scopes.get(owner.id, scope.name)
    assert found == scope
    assert (found.app_id, found.app_slug) == (shop.id, shop.slug)


async def test_get_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        scope = await builders.scope(tx, owner)
        assert await tx.scopes.get(other.id, scope.name) is None
        assert await tx.scopes.get(owner.id, unique("missing")) is None
        assert await tx.scopes.get(owner.id, scope.id) is None  # by name, not by id


# -- insert -------------------------------------------------------------------------------


async def test_insert_refuses_a_name_the_tenant_already_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        taken = await builders.scope(tx, owner)
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await builders.scope(tx, owner, shop, name=taken.name)
    assert caught.value.reason == "SCOPE_TAKEN"
    async with uow.read() as tx:
        assert await tx.scopes.get(owner.id, taken.name) == taken
        assert (await tx.scopes.search(owner.id, None, PageRequest())).total == 1


async def test_insert_allows_a_name_another_tenant_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        theirs = await builders.scope(tx, other)
        mine = await builders.scope(tx, owner, name=theirs.name)
    async with uow.read() as tx:
        assert await tx.scopes.get(owner.id, theirs.name) == mine
        assert await tx.scopes.get(other.id, theirs.name) == theirs


# -- search -------------------------------------------------------------------------------


async def test_search_orders_the_tenants_scopes_by_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        prefix = unique("ord")
        for suffix in ("c", "a"):
            await builders.scope(tx, owner, name=f"{prefix}:{suffix}")
        bound = await builders.scope(tx, owner, shop, name=f"{prefix}:b")
        await builders.scope(tx, other, name=f"{prefix}:0")
    async with uow.read() as tx:
        page = await tx.scopes.search(owner.id, None, PageRequest())
    assert [s.name for s in page.items] == [f"{prefix}:a", f"{prefix}:b", f"{prefix}:c"]
    assert (page.total, page.next_offset) == (3, None)
    assert page.items[1] == bound


async def test_search_by_app_keeps_the_scopes_bound_to_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        blog = await builders.app(tx, owner)
        prefix = unique("app")
        second = await builders.scope(tx, owner, shop, name=f"{prefix}:b")
        first = await builders.scope(tx, owner, shop, name=f"{prefix}:a")
        await builders.scope(tx, owner, blog)
        await builders.scope(tx, owner)
    async with uow.read() as tx:
        page = await tx.scopes.search(owner.id, shop.id, PageRequest())
        unused = await tx.scopes.search(owner.id, builders.new_id(), PageRequest())
    assert page.items == [first, second]
    assert (page.total, page.next_offset) == (2, None)
    assert (unused.items, unused.total, unused.next_offset) == ([], 0, None)


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        prefix = unique("pg")
        for suffix in ("e", "d", "c", "b", "a"):
            await builders.scope(tx, owner, name=f"{prefix}:{suffix}")
    async with uow.read() as tx:
        first = await tx.scopes.search(owner.id, None, PageRequest(size=2))
        middle = await tx.scopes.search(owner.id, None, PageRequest(size=2, offset=2))
        last = await tx.scopes.search(owner.id, None, PageRequest(size=2, offset=4))
        beyond = await tx.scopes.search(owner.id, None, PageRequest(size=2, offset=7))
    assert [s.name for s in first.items] == [f"{prefix}:a", f"{prefix}:b"]
    assert (first.total, first.next_offset) == (5, 2)
    assert [s.name for s in middle.items] == [f"{prefix}:c", f"{prefix}:d"]
    assert (middle.total, middle.next_offset) == (5, 4)
    assert [s.name for s in last.items] == [f"{prefix}:e"]
    assert (last.total, last.next_offset) == (5, None)
    assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


# -- holders ------------------------------------------------------------------------------


async def test_holders_are_the_client_ids_holding_the_scope_sorted(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner)
        elsewhere = await builders.scope(tx, owner)
        prefix = unique("hold")
        for suffix in ("b", "c", "a"):
            client = await builders.client(tx, owner, client_id=f"{prefix}-{suffix}")
            await tx.clients.set_scopes(
                client.id, [scope.id, elsewhere.id] if suffix != "c" else []
            )
    async with uow.read() as tx:
        assert await tx.scopes.holders(scope.id) == [f"{prefix}-a", f"{prefix}-b"]


async def test_holders_of_an_unheld_scope_are_none(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner)
        assert await tx.scopes.holders(scope.id) == []
        assert await tx.scopes.holders(builders.new_id()) == []


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_scope_and_the_clients_hold_on_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        prefix = unique("del")
        doomed = await builders.scope(tx, owner, name=f"{prefix}:a")
        kept = await builders.scope(tx, owner, name=f"{prefix}:b")
        client = await builders.client(tx, owner)
        await tx.clients.set_scopes(client.id, [doomed.id, kept.id])
    async with uow.transaction() as tx:
        await tx.scopes.delete(doomed.id)
    async with uow.read() as tx:
        assert await tx.scopes.get(owner.id, doomed.name) is None
        assert await tx.scopes.named(owner.id, [doomed.name]) == {}
        assert await tx.scopes.holders(doomed.id) == []
        assert await tx.scopes.holders(kept.id) == [client.client_id]
        assert await tx.clients.scopes(client.id) == [NamedRef(kept.id, kept.name, None)]
        assert (await tx.scopes.search(owner.id, None, PageRequest())).items == [kept]


async def test_delete_frees_the_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        old = await builders.scope(tx, owner)
        await tx.scopes.delete(old.id)
        new = await builders.scope(tx, owner, name=old.name, created_at=NOW + timedelta(days=1))
    async with uow.read() as tx:
        found = await tx.scopes.get(owner.id, old.name)
    assert found == new
    assert isinstance(found, Scope)


async def test_delete_of_an_unknown_scope_does_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner)
        await tx.scopes.delete(builders.new_id())
        assert await tx.scopes.get(owner.id, scope.name) == scope
