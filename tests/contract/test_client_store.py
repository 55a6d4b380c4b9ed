"""Contract of ClientStore (services.registry.clients.store): OAuth clients, their app links,
scopes, roles and secrets, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.clients.models import Client, ClientCredentials
from services.registry.kernel.models import NamedRef, PageRequest
from tests.contract import builders
from tests.contract.conftest import NOW, unique

LATER = NOW + timedelta(hours=1)


def _sorted_apps(client: Client | None) -> Client | None:
    """The client with its app ids sorted: their order is not part of the contract."""
    return None if client is None else replace(client, app_ids=tuple(sorted(client.app_ids)))


# -- get ----------------------------------------------------------------------------------


async def test_get_returns_the_stored_client_with_its_apps(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner)
        second = await builders.app(tx, owner)
        client = await builders.client(
            tx,
            owner,
            first,
            second,
            confidential=False,
            enabled=False,
            grant_types=("authorization_code", "refresh_token"),
            description="The shop's backend",
        )
    async with uow.read() as tx:
        found = await tx.clients.get(client.client_id)
    assert _sorted_apps(found) == _sorted_apps(client)
    assert found is not None
    assert isinstance(found.grant_types, tuple)
    assert isinstance(found.app_ids, tuple)


async def test_get_is_none_for_an_unknown_client_id(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.clients.get(unique("missing")) is None


async def test_get_finds_a_client_by_client_id_not_by_primary_key(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        assert await tx.clients.get(client.id) is None


async def test_get_reads_a_client_without_apps(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        found = await tx.clients.get(client.client_id)
    assert found == client
    assert found.app_ids == ()


# -- credentials --------------------------------------------------------------------------


async def test_credentials_carry_tenant_state_and_secrets_newest_first(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner, enabled=False)
        old = builders.secret("hmac-sha256$v1$old", created_at=NOW)
        new = builders.secret("hmac-sha256$v1$new", created_at=LATER, expires_at=LATER)
        await tx.clients.insert_secret(client.id, old)
        await tx.clients.insert_secret(client.id, new)
    async with uow.read() as tx:
        found = await tx.clients.credentials(client.client_id)
    assert found == ClientCredentials(
        client_pk=client.id,
        tenant_slug=owner.slug,
        enabled=False,
        confidential=True,
        secrets=(new, old),
    )


async def test_credentials_of_a_client_without_secrets_have_none(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner, confidential=False)
        found = await tx.clients.credentials(client.client_id)
    assert found == ClientCredentials(
        client_pk=client.id, tenant_slug=owner.slug, enabled=True, confidential=False, secrets=()
    )


async def test_credentials_are_none_for_an_unknown_client(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.clients.credentials(unique("missing")) is None


async def test_credentials_hold_only_the_clients_own_secrets(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        other = await builders.client(tx, owner)
        mine = builders.secret()
        await tx.clients.insert_secret(client.id, mine)
        await tx.clients.insert_secret(other.id, builders.secret())
        found = await tx.clients.credentials(client.client_id)
    assert found is not None
    assert found.secrets == (mine,)


# -- search ---------------------------------------------------------------------------------


async def test_search_orders_the_tenants_clients_by_client_id(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        prefix = unique("ls")
        for suffix in ("c", "a", "b"):
            await builders.client(tx, owner, client_id=f"{prefix}-{suffix}")
        await builders.client(tx, other, client_id=f"{prefix}-0")
    async with uow.read() as tx:
        page = await tx.clients.search(owner.id, PageRequest(), None)
    assert [c.client_id for c in page.items] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    assert (page.total, page.next_offset) == (3, None)


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        prefix = unique("pg")
        for suffix in ("a", "b", "c", "d", "e"):
            await builders.client(tx, owner, client_id=f"{prefix}-{suffix}")
    async with uow.read() as tx:
        first = await tx.clients.search(owner.id, PageRequest(size=2, offset=0), None)
        middle = await tx.clients.search(owner.id, PageRequest(size=2, offset=2), None)
        last = await tx.clients.search(owner.id, PageRequest(size=2, offset=4), None)
        beyond = await tx.clients.search(owner.id, PageRequest(size=2, offset=9), None)
    assert [c.client_id for c in first.items] == [f"{prefix}-a", f"{prefix}-b"]
    assert (first.total, first.next_offset) == (5, 2)
    assert [c.client_id for c in middle.items] == [f"{prefix}-c", f"{prefix}-d"]
    assert (middle.total, middle.next_offset) == (5, 4)
    assert [c.client_id for c in last.items] == [f"{prefix}-e"]
    assert (last.total, last.next_offset) == (5, None)
    assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


async def test_search_by_app_keeps_the_clients_serving_it(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        blog = await builders.app(tx, owner)
        prefix = unique("la")
        both = await builders.client(tx, owner, shop, blog, client_id=f"{prefix}-both")
        await builders.client(tx, owner, blog, client_id=f"{prefix}-blog")
        only = await builders.client(tx, owner, shop, client_id=f"{prefix}-shop")
        await builders.client(tx, owner, client_id=f"{prefix}-none")
    async with uow.read() as tx:
        page = await tx.clients.search(owner.id, PageRequest(), shop.id)
        unused = await tx.clients.search(owner.id, PageRequest(), builders.new_id())
    assert [c.client_id for c in page.items] == [both.client_id, only.client_id]
    assert page.total == 2
    # The listed clients carry all their apps, not only the filtered one.
    assert set(page.items[0].app_ids) == {shop.id, blog.id}
    assert (unused.items, unused.total, unused.next_offset) == ([], 0, None)


# -- insert -------------------------------------------------------------------------------


async def test_insert_refuses_a_taken_client_id_even_in_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        taken = await builders.client(tx, owner)
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.clients.insert(
                replace(taken, id=builders.new_id(), tenant_id=other.id, display_name="Twin"),
                NOW,
            )
    assert caught.value.reason == "CLIENT_ID_TAKEN"
    async with uow.read() as tx:
        assert await tx.clients.get(taken.client_id) == taken
        assert (await tx.clients.search(other.id, PageRequest(), None)).total == 0


# -- update -------------------------------------------------------------------------------


async def test_update_writes_the_mutable_fields_on_the_expected_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
    changed = replace(
        client,
        display_name="Renamed",
        description="Now described",
        enabled=False,
        grant_types=("client_credentials", "refresh_token"),
        version=2,
    )
    async with uow.transaction() as tx:
        assert await tx.clients.update(changed, 1, LATER) is True
    async with uow.read() as tx:
        assert await tx.clients.get(client.client_id) == changed


async def test_update_is_false_on_a_stale_version_and_changes_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        assert (
            await tx.clients.update(replace(client, display_name="X", version=3), 2, LATER) is False
        )
        assert await tx.clients.get(client.client_id) == client


async def test_update_is_false_for_an_unknown_client(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        ghost = replace(await builders.client(tx, owner), id=builders.new_id(), version=2)
        assert await tx.clients.update(ghost, 1, LATER) is False


async def test_update_keeps_identity_confidentiality_and_apps(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        client = await builders.client(tx, owner, shop)
        attempted = replace(
            client,
            tenant_id=builders.new_id(),
            client_id=unique("other"),
            confidential=False,
            app_ids=(),
            display_name="Renamed",
            version=2,
        )
        assert await tx.clients.update(attempted, 1, LATER) is True
        found = await tx.clients.get(client.client_id)
    assert found == replace(client, display_name="Renamed", version=2)


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_client_with_secrets_links_scopes_and_roles(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        scope = await builders.scope(tx, owner)
        role = await builders.role(tx, owner)
        client = await builders.client(tx, owner, shop)
        kept = await builders.client(tx, owner, shop)
        for holder in (client, kept):
            await tx.clients.set_scopes(holder.id, [scope.id])
            await tx.clients.set_roles(holder.id, [role.id])
            await tx.clients.insert_secret(holder.id, builders.secret())
    async with uow.transaction() as tx:
        await tx.clients.delete(client.id)
    async with uow.read() as tx:
        assert await tx.clients.get(client.client_id) is None
        assert await tx.clients.credentials(client.client_id) is None
        assert await tx.clients.secrets(client.id) == []
        assert await tx.clients.scopes(client.id) == []
        assert await tx.clients.roles(client.id) == []
        listed = await tx.clients.search(owner.id, PageRequest(), shop.id)
        assert [c.client_id for c in listed.items] == [kept.client_id]
        assert await tx.scopes.holders(scope.id) == [kept.client_id]
        assert len(await tx.clients.secrets(kept.id)) == 1
        assert [r.id for r in await tx.clients.roles(kept.id)] == [role.id]


async def test_delete_of_an_unknown_client_does_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        await tx.clients.delete(builders.new_id())
        assert await tx.clients.get(client.client_id) == client


# -- set_apps / set_scopes / set_roles / add_role -----------------------------------------


async def test_set_apps_replaces_the_links_and_ignores_repeats(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner)
        second = await builders.app(tx, owner)
        third = await builders.app(tx, owner)
        client = await builders.client(tx, owner, first, second)
        await tx.clients.set_apps(client.id, [third.id, second.id, third.id])
        found = await tx.clients.get(client.client_id)
        assert found is not None
        assert sorted(found.app_ids) == sorted([second.id, third.id])
        await tx.clients.set_apps(client.id, [])
        found = await tx.clients.get(client.client_id)
    assert found is not None
    assert found.app_ids == ()


async def test_set_scopes_replaces_them_and_scopes_read_ordered_by_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        prefix = unique("sc")
        bound = await builders.scope(tx, owner, shop, name=f"{prefix}:b")
        wide = await builders.scope(tx, owner, name=f"{prefix}:a")
        dropped = await builders.scope(tx, owner, name=f"{prefix}:c")
        client = await builders.client(tx, owner)
        await tx.clients.set_scopes(client.id, [dropped.id])
        await tx.clients.set_scopes(client.id, [bound.id, wide.id, bound.id])
        found = await tx.clients.scopes(client.id)
    assert found == [NamedRef(wide.id, wide.name, None), NamedRef(bound.id, bound.name, shop.id)]


async def test_set_scopes_with_none_clears_them(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        scope = await builders.scope(tx, owner)
        client = await builders.client(tx, owner)
        await tx.clients.set_scopes(client.id, [scope.id])
        await tx.clients.set_scopes(client.id, [])
        assert await tx.clients.scopes(client.id) == []


async def test_set_roles_replaces_them_and_roles_read_by_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        prefix = unique("rl")
        bound = await builders.role(tx, owner, app=shop, code=f"{prefix}-a")
        wide = await builders.role(tx, owner, code=f"{prefix}-b")
        dropped = await builders.role(tx, owner, code=f"{prefix}-c")
        client = await builders.client(tx, owner)
        await tx.clients.set_roles(client.id, [dropped.id])
        await tx.clients.set_roles(client.id, [wide.id, bound.id, wide.id])
        found = await tx.clients.roles(client.id)
        await tx.clients.set_roles(client.id, [])
        cleared = await tx.clients.roles(client.id)
    assert found == [NamedRef(bound.id, bound.code, shop.id), NamedRef(wide.id, wide.code, None)]
    assert cleared == []


async def test_add_role_adds_one_role_once(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        prefix = unique("ar")
        first = await builders.role(tx, owner, code=f"{prefix}-a")
        second = await builders.role(tx, owner, code=f"{prefix}-b")
        client = await builders.client(tx, owner)
        await tx.clients.set_roles(client.id, [second.id])
        await tx.clients.add_role(client.id, first.id)
        await tx.clients.add_role(client.id, first.id)
        await tx.clients.add_role(client.id, second.id)
        found = await tx.clients.roles(client.id)
    assert [ref.id for ref in found] == [first.id, second.id]


async def test_links_of_one_client_leave_another_clients_alone(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        shop = await builders.app(tx, owner)
        scope = await builders.scope(tx, owner)
        role = await builders.role(tx, owner)
        client = await builders.client(tx, owner, shop)
        other = await builders.client(tx, owner, shop)
        await tx.clients.set_scopes(other.id, [scope.id])
        await tx.clients.set_roles(other.id, [role.id])
        await tx.clients.set_apps(client.id, [])
        await tx.clients.set_scopes(client.id, [])
        await tx.clients.set_roles(client.id, [])
        found = await tx.clients.get(other.client_id)
        assert found is not None
        assert found.app_ids == (shop.id,)
        assert [s.id for s in await tx.clients.scopes(other.id)] == [scope.id]
        assert [r.id for r in await tx.clients.roles(other.id)] == [role.id]


async def test_scopes_and_roles_of_a_client_without_any_are_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        assert await tx.clients.scopes(client.id) == []
        assert await tx.clients.roles(client.id) == []


# -- secrets ------------------------------------------------------------------------------


async def test_secrets_read_newest_first(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        records = [
            builders.secret(f"hmac-sha256$v1${n}", created_at=NOW + timedelta(minutes=n))
            for n in (2, 0, 1)
        ]
        for record in records:
            await tx.clients.insert_secret(client.id, record)
        found = await tx.clients.secrets(client.id)
    assert [s.secret_hash for s in found] == [
        "hmac-sha256$v1$2",
        "hmac-sha256$v1$1",
        "hmac-sha256$v1$0",
    ]
    assert found[0] == records[0]


async def test_secrets_of_a_client_without_any_are_empty(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.clients.secrets(builders.new_id()) == []


async def test_insert_secret_stores_the_expiry_and_no_last_use(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        record = builders.secret(expires_at=LATER, last_used_at=NOW)
        await tx.clients.insert_secret(client.id, record)
        found = await tx.clients.secrets(client.id)
    assert found == [replace(record, last_used_at=None)]


async def test_retire_secrets_without_keep_deletes_them_all(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        other = await builders.client(tx, owner)
        for holder in (client, client, other):
            await tx.clients.insert_secret(holder.id, builders.secret())
        await tx.clients.retire_secrets(client.id, None, LATER)
        assert await tx.clients.secrets(client.id) == []
        assert len(await tx.clients.secrets(other.id)) == 1


async def test_retire_secrets_keeps_one_until_the_grace_period_ends(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        other = await builders.client(tx, owner)
        keep = builders.secret(created_at=LATER)
        untouched = builders.secret()
        await tx.clients.insert_secret(client.id, builders.secret())
        await tx.clients.insert_secret(client.id, keep)
        await tx.clients.insert_secret(other.id, untouched)
        await tx.clients.retire_secrets(client.id, keep.id, LATER)
        assert await tx.clients.secrets(client.id) == [replace(keep, expires_at=LATER)]
        assert await tx.clients.secrets(other.id) == [untouched]


async def test_retire_secrets_never_lengthens_a_grace_period(uow: Any) -> None:
    soon = NOW + timedelta(minutes=5)
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        keep = builders.secret(expires_at=soon)
        await tx.clients.insert_secret(client.id, keep)
        await tx.clients.retire_secrets(client.id, keep.id, LATER)
        assert await tx.clients.secrets(client.id) == [keep]
        await tx.clients.retire_secrets(client.id, keep.id, NOW)
        assert await tx.clients.secrets(client.id) == [replace(keep, expires_at=NOW)]


async def test_retire_secrets_without_an_end_keeps_the_expiry(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        keep = builders.secret()
        await tx.clients.insert_secret(client.id, keep)
        await tx.clients.insert_secret(client.id, builders.secret())
        await tx.clients.retire_secrets(client.id, keep.id, None)
        assert await tx.clients.secrets(client.id) == [keep]


async def test_mark_secret_used_records_the_time_of_that_secret_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        used = builders.secret(created_at=LATER)
        idle = builders.secret()
        await tx.clients.insert_secret(client.id, used)
        await tx.clients.insert_secret(client.id, idle)
        await tx.clients.mark_secret_used(used.id, LATER)
        await tx.clients.mark_secret_used(builders.new_id(), LATER)
        assert await tx.clients.secrets(client.id) == [replace(used, last_used_at=LATER), idle]


async def test_replace_secret_hash_changes_only_the_hash(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        client = await builders.client(tx, owner)
        record = builders.secret("hmac-sha256$v1$old", expires_at=LATER)
        await tx.clients.insert_secret(client.id, record)
        await tx.clients.replace_secret_hash(record.id, "hmac-sha256$v2$new")
        await tx.clients.replace_secret_hash(builders.new_id(), "hmac-sha256$v2$none")
        found = await tx.clients.credentials(client.client_id)
    assert found is not None
    assert found.secrets == (replace(record, secret_hash="hmac-sha256$v2$new"),)
