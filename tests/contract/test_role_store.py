"""Contract of RoleStore (services.registry.roles.store): roles, their catalog grants and
what still holds them, on every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.catalog.models import CatalogEntry
from services.registry.kernel.models import NamedRef, PageRequest, Tenant
from services.registry.roles.models import RolePermission, RoleRef
from tests.contract import builders
from tests.contract.conftest import NOW, unique

LATER = NOW.replace(hour=14)


async def _entries(tx: Any, owner: Tenant, service: str, *codes: str) -> list[CatalogEntry]:
    return await builders.entries(tx, owner, service, *codes)


def _granted(entry: CatalogEntry, deprecated: bool = False) -> RolePermission:
    return RolePermission(entry.id, entry.service_code, entry.code, deprecated)


async def _codes(tx: Any, owner: Tenant, page: PageRequest, app_id: str | None = None) -> Any:
    found = await tx.roles.search(owner.id, page, app_id)
    return [r.code for r in found.items], found.total, found.next_offset


# -- get ----------------------------------------------------------------------------------


async def test_get_by_id_or_code_returns_the_role_with_its_app_and_sorted_grants(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        zebra = await _entries(tx, owner, "zebra", "read")
        alpha = await _entries(tx, owner, "alpha", "write", "delete")
        role = await builders.role(
            tx,
            owner,
            zebra[0].id,
            alpha[0].id,
            alpha[1].id,
            app=target,
            code="editor",
            name="Editor",
            description="Edits things",
        )
    async with uow.read() as tx:
        by_id = await tx.roles.get(owner.id, role.id)
        by_code = await tx.roles.get(owner.id, "editor")
    expected = replace(
        role,
        # Ordered by service, then code.
        permissions=(_granted(alpha[1]), _granted(alpha[0]), _granted(zebra[0])),
    )
    assert by_id == expected
    assert by_code == expected
    assert (by_id.tenant_slug, by_id.app_id, by_id.app_slug) == (owner.slug, target.id, target.slug)
    assert by_id.created_at == NOW


async def test_get_returns_a_tenant_wide_role_without_app_or_grants(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        role = await builders.role(tx, owner)
        found = await tx.roles.get(owner.id, role.id, for_update=True)
    assert found == role
    assert (found.app_id, found.app_slug, found.permissions) == (None, None, ())


async def test_get_marks_grants_of_deprecated_catalog_entries(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        live, doomed = await _entries(tx, owner, "svc", "live", "doomed")
        await tx.catalog.update(replace(doomed, updated_at=LATER, deprecated_at=LATER))
        role = await builders.role(tx, owner, live.id, doomed.id)
        found = await tx.roles.get(owner.id, role.id)
    assert found is not None
    assert found.permissions == (_granted(doomed, deprecated=True), _granted(live))


async def test_get_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        role = await builders.role(tx, owner)
        assert await tx.roles.get(other.id, role.id) is None
        assert await tx.roles.get(other.id, role.code) is None
        assert await tx.roles.get(owner.id, builders.new_id()) is None


# -- find / coded -------------------------------------------------------------------------


async def test_find_keys_roles_by_the_reference_that_found_them(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        first = await builders.role(tx, owner)
        second = await builders.role(tx, owner)
        foreign = await builders.role(tx, other)
        found = await tx.roles.find(
            owner.id, [first.id, second.code, "unknown", foreign.id, foreign.code]
        )
        nothing = await tx.roles.find(owner.id, [])
    assert found == {
        first.id: RoleRef(first.id, first.code),
        second.code: RoleRef(second.id, second.code),
    }
    assert nothing == {}


async def test_coded_returns_the_tenants_roles_by_code_with_their_app(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        wide = await builders.role(tx, owner)
        bound = await builders.role(tx, owner, app=target)
        foreign = await builders.role(tx, other)
        found = await tx.roles.coded(
            owner.id, [wide.code, bound.code, "unknown", foreign.code, wide.id]
        )
        nothing = await tx.roles.coded(owner.id, [])
    # Codes only: an id finds nothing.
    assert found == {
        wide.code: NamedRef(wide.id, wide.code, None),
        bound.code: NamedRef(bound.id, bound.code, target.id),
    }
    assert nothing == {}


# -- grants -------------------------------------------------------------------------------


async def test_grants_list_the_service_and_code_the_roles_carry(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        orders = await _entries(tx, owner, "orders", "read", "write")
        billing = await _entries(tx, owner, "billing", "pay")
        first = await builders.role(tx, owner, *(e.id for e in orders))
        second = await builders.role(tx, owner, billing[0].id)
        empty = await builders.role(tx, owner)
        await builders.role(tx, owner, *(e.id for e in orders))  # not asked about
        grants = await tx.roles.grants([first.id, second.id, empty.id, builders.new_id()])
        one = await tx.roles.grants([second.id])
        none = await tx.roles.grants([])
    assert sorted(grants) == [("billing", "pay"), ("orders", "read"), ("orders", "write")]
    assert one == [("billing", "pay")]
    assert none == []


# -- search -------------------------------------------------------------------------------


async def test_search_orders_by_code_and_pages(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        for code in ("delta", "alpha", "charlie", "bravo"):
            await builders.role(tx, owner, code=code)
        await builders.role(tx, other, code="aaa")
    async with uow.read() as tx:
        first = await _codes(tx, owner, PageRequest(size=3, offset=0))
        second = await _codes(tx, owner, PageRequest(size=3, offset=3))
        past = await _codes(tx, owner, PageRequest(size=3, offset=9))
    assert first == (["alpha", "bravo", "charlie"], 4, 3)
    assert second == (["delta"], 4, None)
    assert past == ([], 4, None)


async def test_search_keeps_the_roles_bound_to_the_app(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        entry = (await _entries(tx, owner, "svc", "read"))[0]
        bound = await builders.role(tx, owner, entry.id, app=target, code="bound")
        await builders.role(tx, owner, app=elsewhere, code="elsewhere")
        await builders.role(tx, owner, code="wide")
        found = await tx.roles.search(owner.id, PageRequest(), target.id)
        unknown = await _codes(tx, owner, PageRequest(), builders.new_id())
    assert found.items == [replace(bound, permissions=(_granted(entry),))]
    assert (found.total, found.next_offset) == (1, None)
    assert unknown == ([], 0, None)


# -- insert / update ----------------------------------------------------------------------


async def test_insert_refuses_a_code_taken_in_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        await builders.role(tx, owner, code="taken")
        await builders.role(tx, other, code="taken")  # codes are per tenant
    with pytest.raises(AlreadyExists) as raised:
        async with uow.transaction() as tx:
            await builders.role(tx, owner, code="taken")
    assert raised.value.reason == "ROLE_CODE_TAKEN"
    assert raised.value.message == "This tenant already has a role with that code."


async def test_update_writes_name_and_description_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        role = await builders.role(tx, owner, code="keep")
        await tx.roles.update(
            replace(role, name="Renamed", description="New words", code="changed", app_id=target.id)
        )
        await tx.roles.update(replace(role, id=builders.new_id(), name="Nobody"))  # no-op
        found = await tx.roles.get(owner.id, role.id)
    assert found == replace(role, name="Renamed", description="New words")


# -- delete / blockers --------------------------------------------------------------------


async def test_delete_removes_the_role_with_its_grants(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        entries = await _entries(tx, owner, "svc", "read")
        role = await builders.role(tx, owner, entries[0].id, code="doomed")
        kept = await builders.role(tx, owner, entries[0].id)
    async with uow.transaction() as tx:
        await tx.roles.delete(role.id)
        await tx.roles.delete(builders.new_id())  # unknown: no-op
    async with uow.transaction() as tx:
        assert await tx.roles.get(owner.id, role.id) is None
        assert await tx.roles.grants([role.id]) == []
        assert await tx.roles.grants([kept.id]) == [("svc", "read")]
        references = await tx.catalog.references([entries[0].id])
        # The code is free again.
        await builders.role(tx, owner, code="doomed")
    assert references[entries[0].id].roles == (kept.code,)


async def test_blockers_list_users_then_groups_then_clients_each_sorted(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        role = await builders.role(tx, owner)
        other = await builders.role(tx, owner)
        users = [
            await builders.user(tx, owner, email=email)
            for email in ("zed@example.com", "Amy@example.com", "bob@example.com")
        ]
        for user in users:
            await tx.users.assign_role(user.id, role.id)
        await tx.users.assign_role(
            (await builders.user(tx, owner, email="other@example.com")).id, other.id
        )
        ref = RoleRef(role.id, role.code)
        await builders.group(tx, owner, code="g-late", roles=(ref,))
        await builders.group(tx, owner, code="g-early", roles=(ref,))
        await builders.group(tx, owner, code="g-other", roles=(RoleRef(other.id, other.code),))
        # client_id is unique across tenants: random suffixes, ordered prefixes.
        late = await builders.client(tx, owner, client_id=unique("tc-z"))
        early = await builders.client(tx, owner, client_id=unique("tc-a"))
        for client in (late, early):
            await tx.clients.set_roles(client.id, [role.id])
        blockers = await tx.roles.blockers(role.id)
        free = await tx.roles.blockers((await builders.role(tx, owner)).id)
    assert blockers == [
        "user:Amy@example.com",
        "user:bob@example.com",
        "user:zed@example.com",
        "group:g-early",
        "group:g-late",
        f"client:{early.client_id}",
        f"client:{late.client_id}",
    ]
    assert free == []


# -- replace_permissions / grant / upsert -------------------------------------------------


async def test_replace_permissions_replaces_or_clears_the_grants(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        a, b, c = await _entries(tx, owner, "svc", "a", "b", "c")
        role = await builders.role(tx, owner, a.id, b.id)
        await tx.roles.replace_permissions(role.id, [c.id, b.id])
        replaced = await tx.roles.get(owner.id, role.id)
        await tx.roles.replace_permissions(role.id, [])
        cleared = await tx.roles.get(owner.id, role.id)
    assert replaced is not None
    assert replaced.permissions == (_granted(b), _granted(c))
    assert cleared is not None
    assert cleared.permissions == ()


async def test_grant_adds_only_the_missing_permissions(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        a, b, c = await _entries(tx, owner, "svc", "a", "b", "c")
        role = await builders.role(tx, owner, a.id)
        await tx.roles.grant(role.id, [a.id, b.id])
        await tx.roles.grant(role.id, [c.id, a.id])
        await tx.roles.grant(role.id, [])
        found = await tx.roles.get(owner.id, role.id)
    assert found is not None
    assert found.permissions == (_granted(a), _granted(b), _granted(c))


async def test_upsert_creates_a_missing_role_and_returns_an_existing_ones_id(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        existing = await builders.role(tx, owner, code="tenant-admin", name="Kept")
        same = await tx.roles.upsert(owner.id, None, "tenant-admin", "Ignored", LATER)
        created_id = await tx.roles.upsert(owner.id, target.id, "app-admin", "App admin", LATER)
        again = await tx.roles.upsert(owner.id, None, "app-admin", "Again", NOW)
        foreign_id = await tx.roles.upsert(other.id, None, "tenant-admin", "Other", LATER)
        kept = await tx.roles.get(owner.id, "tenant-admin")
        created = await tx.roles.get(owner.id, "app-admin")
    assert same == existing.id
    assert kept == existing
    assert created is not None
    assert created.id == created_id == again
    assert created == replace(
        created,
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        code="app-admin",
        name="App admin",
        description="",
        app_id=target.id,
        app_slug=target.slug,
        permissions=(),
        created_at=LATER,
    )
    assert foreign_id not in (existing.id, created_id)
