"""Contract of CatalogStore (services.registry.catalog.store): the permission catalogs of a
tenant's services, their lock and revision, and what still references an entry, on every
backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.catalog.models import CatalogEntry, EntryReferences, PermissionEntry
from services.registry.kernel.models import PageRequest, Tenant
from tests.contract import builders
from tests.contract.conftest import NOW, unique

LATER = NOW + timedelta(hours=1)


def _entry(service: str, code: str, **overrides: Any) -> CatalogEntry:
    return replace(
        CatalogEntry(
            id=builders.new_id(),
            service_code=service,
            code=code,
            name=f"Name of {code}",
            description=f"About {code}",
            created_at=NOW,
        ),
        **overrides,
    )


async def _stored(tx: Any, owner: Tenant, *entries: CatalogEntry) -> list[CatalogEntry]:
    await tx.catalog.insert(owner.id, list(entries))
    return list(entries)


# -- lock / revision / set_revision -------------------------------------------------------


async def test_lock_creates_the_catalog_at_revision_zero(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        assert await tx.catalog.revision(owner.id, service) == 0
        assert await tx.catalog.lock(owner.id, service, NOW) == 0
    async with uow.read() as tx:
        assert await tx.catalog.revision(owner.id, service) == 0


async def test_lock_returns_the_stored_revision_and_keeps_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        await tx.catalog.lock(owner.id, service, NOW)
        await tx.catalog.set_revision(owner.id, service, 4, LATER)
    async with uow.transaction() as tx:
        assert await tx.catalog.lock(owner.id, service, LATER) == 4
        assert await tx.catalog.lock(owner.id, service, LATER) == 4
    async with uow.read() as tx:
        assert await tx.catalog.revision(owner.id, service) == 4


async def test_revisions_are_per_tenant_and_service(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        service = unique("svc")
        sibling = unique("svc")
        await tx.catalog.lock(owner.id, service, NOW)
        await tx.catalog.lock(owner.id, sibling, NOW)
        await tx.catalog.lock(other.id, service, NOW)
        await tx.catalog.set_revision(owner.id, service, 2, LATER)
        await tx.catalog.set_revision(other.id, service, 7, LATER)
        assert await tx.catalog.revision(owner.id, service) == 2
        assert await tx.catalog.revision(owner.id, sibling) == 0
        assert await tx.catalog.revision(other.id, service) == 7
        assert await tx.catalog.revision(other.id, sibling) == 0


async def test_set_revision_of_an_unregistered_catalog_does_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        await tx.catalog.set_revision(owner.id, service, 3, NOW)
        assert await tx.catalog.revision(owner.id, service) == 0
        assert await tx.catalog.lock(owner.id, service, NOW) == 0


async def test_a_rolled_back_lock_leaves_no_catalog(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
    service = unique("svc")

    async def lock_then_fail() -> None:
        async with uow.transaction() as tx:
            await tx.catalog.lock(owner.id, service, NOW)
            await tx.catalog.set_revision(owner.id, service, 5, NOW)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await lock_then_fail()
    async with uow.read() as tx:
        assert await tx.catalog.revision(owner.id, service) == 0


# -- insert / entries ---------------------------------------------------------------------


async def test_entries_are_every_entry_of_the_services_ordered_by_service_then_code(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        base = unique("svc")
        first, second, ignored = (f"{base}-{n}" for n in "abc")
        stored = await _stored(
            tx,
            owner,
            _entry(second, "b:read"),
            _entry(first, "z:read", deprecated_at=LATER, updated_at=LATER),
            _entry(second, "a:read"),
            _entry(first, "a:write"),
            _entry(ignored, "a:read"),
        )
        await _stored(tx, other, _entry(first, "a:read"))
    async with uow.read() as tx:
        found = await tx.catalog.entries(owner.id, [second, first])
        locked = await tx.catalog.entries(owner.id, [second, first], lock="update")
        shared = await tx.catalog.entries(owner.id, [second, first], lock="share")
    assert found == [stored[3], stored[1], stored[2], stored[0]]
    assert locked == shared == found


async def test_entries_of_no_or_unknown_services_are_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        await _stored(tx, owner, _entry(service, "a:read"))
        assert await tx.catalog.entries(owner.id, []) == []
        assert await tx.catalog.entries(owner.id, [unique("svc")]) == []


async def test_insert_of_nothing_writes_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await tx.catalog.insert(owner.id, [])
        assert (await tx.catalog.search(owner.id, None, True, PageRequest())).total == 0


async def test_insert_refuses_a_code_the_services_catalog_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        (taken,) = await _stored(tx, owner, _entry(service, "a:read"))
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.catalog.insert(
                owner.id, [_entry(service, "b:read"), _entry(service, "a:read")]
            )
    assert caught.value.reason == "PERMISSION_TAKEN"
    async with uow.read() as tx:
        assert await tx.catalog.entries(owner.id, [service]) == [taken]


async def test_insert_refuses_a_code_twice_in_one_batch(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
    service = unique("svc")
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.catalog.insert(
                owner.id, [_entry(service, "a:read"), _entry(service, "a:read")]
            )
    assert caught.value.reason == "PERMISSION_TAKEN"
    async with uow.read() as tx:
        assert await tx.catalog.entries(owner.id, [service]) == []


async def test_insert_allows_a_code_of_another_service_or_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        service, sibling = unique("svc"), unique("svc")
        mine = await _stored(tx, owner, _entry(service, "a:read"), _entry(sibling, "a:read"))
        theirs = await _stored(tx, other, _entry(service, "a:read"))
        assert await tx.catalog.entries(owner.id, [service, sibling]) == sorted(
            mine, key=lambda e: e.service_code
        )
        assert await tx.catalog.entries(other.id, [service]) == theirs


# -- update -------------------------------------------------------------------------------


async def test_update_writes_code_name_description_and_times(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        entry, untouched = await _stored(
            tx, owner, _entry(service, "a:read"), _entry(service, "b:read")
        )
        changed = replace(
            entry,
            code="c:read",
            name="Renamed",
            description="Described anew",
            updated_at=LATER,
            deprecated_at=LATER,
        )
        await tx.catalog.update(changed)
        assert await tx.catalog.entries(owner.id, [service]) == [untouched, changed]
        revived = replace(changed, deprecated_at=None)
        await tx.catalog.update(revived)
        assert await tx.catalog.entries(owner.id, [service]) == [untouched, revived]


async def test_update_keeps_the_service_and_creation_time(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        (entry,) = await _stored(tx, owner, _entry(service, "a:read"))
        await tx.catalog.update(
            replace(entry, service_code=unique("svc"), created_at=LATER, name="Renamed")
        )
        assert await tx.catalog.entries(owner.id, [service]) == [replace(entry, name="Renamed")]


async def test_update_refuses_a_code_the_services_catalog_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        stored = await _stored(tx, owner, _entry(service, "a:read"), _entry(service, "b:read"))
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.catalog.update(replace(stored[1], code="a:read"))
    assert caught.value.reason == "PERMISSION_TAKEN"
    async with uow.read() as tx:
        assert await tx.catalog.entries(owner.id, [service]) == stored


async def test_update_of_an_unknown_entry_does_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        stored = await _stored(tx, owner, _entry(service, "a:read"))
        await tx.catalog.update(_entry(service, "b:read"))
        assert await tx.catalog.entries(owner.id, [service]) == stored


# -- references ---------------------------------------------------------------------------


async def test_references_list_granting_roles_and_gating_servers_sorted(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        read, write, idle = await builders.entries(
            tx, owner, shop.slug, "a:read", "a:write", "b:read"
        )
        prefix = unique("ref")
        await builders.role(tx, owner, read.id, write.id, code=f"{prefix}-b")
        await builders.role(tx, owner, read.id, code=f"{prefix}-a")
        server_b = await builders.resource_server(
            tx, owner, shop, read.id, audience=f"https://{prefix}/b"
        )
        server_a = await builders.resource_server(
            tx, owner, shop, read.id, audience=f"https://{prefix}/a"
        )
        await builders.resource_server(tx, owner, shop)  # the whole catalog: no subset rows
    async with uow.read() as tx:
        found = await tx.catalog.references([read.id, write.id, idle.id, builders.new_id()])
    assert found == {
        read.id: EntryReferences(
            roles=(f"{prefix}-a", f"{prefix}-b"),
            resource_servers=(server_a.audience, server_b.audience),
        ),
        write.id: EntryReferences(roles=(f"{prefix}-b",), resource_servers=()),
    }


async def test_references_of_an_entry_only_a_server_gates_on(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        (entry,) = await builders.entries(tx, owner, shop.slug, "a:read")
        server = await builders.resource_server(tx, owner, shop, entry.id)
        assert await tx.catalog.references([entry.id]) == {
            entry.id: EntryReferences(roles=(), resource_servers=(server.audience,))
        }


async def test_references_of_nothing_are_empty(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.catalog.references([]) == {}


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_entries_with_their_grants_and_subset_rows(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        doomed, other_doomed, kept = await builders.entries(
            tx, owner, shop.slug, "a:read", "b:read", "c:read"
        )
        role = await builders.role(tx, owner, doomed.id, kept.id)
        narrow = await builders.resource_server(tx, owner, shop, doomed.id, kept.id)
        emptied = await builders.resource_server(tx, owner, shop, other_doomed.id)
    async with uow.transaction() as tx:
        await tx.catalog.delete([doomed.id, other_doomed.id])
    async with uow.read() as tx:
        assert await tx.catalog.entries(owner.id, [shop.slug]) == [kept]
        assert await tx.catalog.references([doomed.id, other_doomed.id]) == {}
        assert await tx.catalog.references([kept.id]) == {
            kept.id: EntryReferences(roles=(role.code,), resource_servers=(narrow.audience,))
        }
        granted = await tx.roles.get(owner.id, role.id)
        assert [p.id for p in granted.permissions] == [kept.id]
        assert await tx.resource_servers.get(owner.id, narrow.id) == replace(
            narrow, permissions=("c:read",)
        )
        # A subset emptied by a prune stays a subset: a prune never widens a server's reach.
        found = await tx.resource_servers.get(owner.id, emptied.id)
        assert (found.permissions, found.whole_catalog) == ((), False)


async def test_delete_frees_the_code_and_ignores_unknown_ids(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        (old,) = await _stored(tx, owner, _entry(service, "a:read"))
        await tx.catalog.delete([old.id, builders.new_id()])
        await tx.catalog.delete([])
        new = await _stored(tx, owner, _entry(service, "a:read", created_at=LATER))
        assert await tx.catalog.entries(owner.id, [service]) == new


# -- search -------------------------------------------------------------------------------


async def test_search_orders_by_service_then_code_and_hides_deprecated(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        base = unique("svc")
        first, second = f"{base}-a", f"{base}-b"
        stored = await _stored(
            tx,
            owner,
            _entry(second, "a:read"),
            _entry(first, "b:read"),
            _entry(first, "a:read", deprecated_at=NOW),
            _entry(first, "c:read"),
        )
        await _stored(tx, other, _entry(first, "0:read"))
    async with uow.read() as tx:
        live = await tx.catalog.search(owner.id, None, False, PageRequest())
        every = await tx.catalog.search(owner.id, None, True, PageRequest())
    assert live.items == [stored[1], stored[3], stored[0]]
    assert (live.total, live.next_offset) == (3, None)
    assert every.items == [stored[2], stored[1], stored[3], stored[0]]
    assert (every.total, every.next_offset) == (4, None)


async def test_search_by_service_keeps_that_services_entries(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service, sibling = unique("svc"), unique("svc")
        stored = await _stored(
            tx,
            owner,
            _entry(service, "b:read", deprecated_at=NOW),
            _entry(sibling, "a:read"),
            _entry(service, "a:read"),
        )
    async with uow.read() as tx:
        live = await tx.catalog.search(owner.id, service, False, PageRequest())
        every = await tx.catalog.search(owner.id, service, True, PageRequest())
        unknown = await tx.catalog.search(owner.id, unique("svc"), True, PageRequest())
    assert (live.items, live.total) == ([stored[2]], 1)
    assert (every.items, every.total) == ([stored[2], stored[0]], 2)
    assert (unknown.items, unknown.total, unknown.next_offset) == ([], 0, None)


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        await builders.entries(tx, owner, service, "e", "d", "c", "b", "a")
    async with uow.read() as tx:
        first = await tx.catalog.search(owner.id, service, False, PageRequest(size=2))
        middle = await tx.catalog.search(owner.id, service, False, PageRequest(size=2, offset=2))
        last = await tx.catalog.search(owner.id, service, False, PageRequest(size=2, offset=4))
        beyond = await tx.catalog.search(owner.id, service, False, PageRequest(size=2, offset=5))
    assert [e.code for e in first.items] == ["a", "b"]
    assert (first.total, first.next_offset) == (5, 2)
    assert [e.code for e in middle.items] == ["c", "d"]
    assert (middle.total, middle.next_offset) == (5, 4)
    assert [e.code for e in last.items] == ["e"]
    assert (last.total, last.next_offset) == (5, None)
    assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


# -- upsert -------------------------------------------------------------------------------


async def test_upsert_inserts_a_missing_entry(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        entry_id = await tx.catalog.upsert(
            owner.id, service, "a:read", "Read", NOW, description="Reads things"
        )
        plain_id = await tx.catalog.upsert(owner.id, service, "b:read", "Read b", NOW)
        found = await tx.catalog.entries(owner.id, [service])
    assert found == [
        CatalogEntry(entry_id, service, "a:read", "Read", "Reads things", NOW, None, None),
        CatalogEntry(plain_id, service, "b:read", "Read b", "", NOW, None, None),
    ]
    assert entry_id != plain_id


async def test_upsert_refreshes_an_entry_and_makes_it_live_again(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        service = unique("svc")
        (entry,) = await _stored(tx, owner, _entry(service, "a:read", deprecated_at=NOW))
        entry_id = await tx.catalog.upsert(owner.id, service, "a:read", "Fresh", LATER)
        found = await tx.catalog.entries(owner.id, [service])
    assert entry_id == entry.id
    assert found == [
        replace(entry, name="Fresh", description="", updated_at=LATER, deprecated_at=None)
    ]


async def test_upsert_is_per_tenant_and_service(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        service, sibling = unique("svc"), unique("svc")
        (theirs,) = await _stored(tx, other, _entry(service, "a:read"))
        (sibling_entry,) = await _stored(tx, owner, _entry(sibling, "a:read"))
        entry_id = await tx.catalog.upsert(owner.id, service, "a:read", "Mine", LATER)
        assert entry_id not in (theirs.id, sibling_entry.id)
        assert await tx.catalog.entries(other.id, [service]) == [theirs]
        assert await tx.catalog.entries(owner.id, [sibling]) == [sibling_entry]


# -- ids ----------------------------------------------------------------------------------


async def test_ids_map_every_code_of_the_services_to_its_id(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        service, sibling, ignored = unique("svc"), unique("svc"), unique("svc")
        read, gone = await _stored(
            tx, owner, _entry(service, "a:read"), _entry(service, "z:old", deprecated_at=NOW)
        )
        (write,) = await _stored(tx, owner, _entry(sibling, "b:write"))
        await _stored(tx, owner, _entry(ignored, "c:read"))
        await _stored(tx, other, _entry(service, "d:read"))
        found = await tx.catalog.ids(owner.id, [service, sibling])
        assert await tx.catalog.ids(owner.id, []) == {}
    assert found == {"a:read": read.id, "z:old": gone.id, "b:write": write.id}


# -- copy ---------------------------------------------------------------------------------


async def test_copy_copies_the_live_entries_under_fresh_ids(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        source, target = shop.slug, unique("svc")
        read, write, _old = await _stored(
            tx,
            owner,
            _entry(source, "a:read"),
            _entry(source, "a:write"),
            _entry(source, "z:old", deprecated_at=NOW),
        )
        role = await builders.role(tx, owner, read.id)
        await builders.resource_server(tx, owner, shop, write.id)
        copied = await tx.catalog.copy(owner.id, source, target, LATER)
        found = await tx.catalog.entries(owner.id, [target])
        references = await tx.catalog.references([e.id for e in found])
        granted = await tx.roles.get(owner.id, role.id)
    assert copied == 2
    assert [(e.code, e.name, e.description, e.created_at) for e in found] == [
        ("a:read", read.name, read.description, LATER),
        ("a:write", write.name, write.description, LATER),
    ]
    assert {e.id for e in found}.isdisjoint({read.id, write.id})
    assert all(e.deprecated_at is None for e in found)
    assert references == {}
    assert [p.id for p in granted.permissions] == [read.id]


async def test_copy_upserts_over_a_leftover_catalog(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        source, target = unique("svc"), unique("svc")
        (read,) = await _stored(tx, owner, _entry(source, "a:read", name="New name"))
        leftover, stale = await _stored(
            tx,
            owner,
            _entry(target, "a:read", name="Old name", deprecated_at=NOW),
            _entry(target, "b:read"),
        )
        assert await tx.catalog.copy(owner.id, source, target, LATER) == 1
        found = await tx.catalog.entries(owner.id, [target])
    assert found == [
        replace(
            leftover,
            name="New name",
            description=read.description,
            updated_at=LATER,
            deprecated_at=None,
        ),
        stale,
    ]


async def test_copy_of_an_empty_catalog_copies_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = unique("svc")
        assert await tx.catalog.copy(owner.id, unique("svc"), target, NOW) == 0
        assert await tx.catalog.entries(owner.id, [target]) == []


# -- lookup -------------------------------------------------------------------------------


async def test_lookup_keys_the_tenants_entries_by_their_ref(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        service, sibling = unique("svc"), unique("svc")
        read, old = await _stored(
            tx, owner, _entry(service, "a:read"), _entry(service, "z:old", deprecated_at=NOW)
        )
        (write,) = await _stored(tx, owner, _entry(sibling, "b:write"))
        # Crossed pairs exist but were not asked for.
        await _stored(tx, owner, _entry(service, "b:write"), _entry(sibling, "a:read"))
        await _stored(tx, other, _entry(service, "c:read"))
        found = await tx.catalog.lookup(
            owner.id,
            [
                (service, "a:read"),
                (service, "z:old"),
                (sibling, "b:write"),
                (service, "missing"),
                (service, "c:read"),
            ],
        )
    assert found == {
        (service, "a:read"): PermissionEntry(read.id, service, "a:read", False),
        (service, "z:old"): PermissionEntry(old.id, service, "z:old", True),
        (sibling, "b:write"): PermissionEntry(write.id, sibling, "b:write", False),
    }


async def test_lookup_of_no_refs_is_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await _stored(tx, owner, _entry(unique("svc"), "a:read"))
        assert await tx.catalog.lookup(owner.id, []) == {}
