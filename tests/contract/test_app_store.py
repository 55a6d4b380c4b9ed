"""AppStore and AppUsage contract: apps as inserted (tenant slug and region code joined in,
client ids by client creation), lookups scoped to the tenant, references, filtered and
ordered pages, slug and display-name uniqueness, optimistic updates of the mutable fields,
deletion with memberships and group bindings, blockers, and the apps on a region or plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.apps.models import App, AppRef, StorageConfig
from services.registry.clients.models import Client
from services.registry.kernel.models import PageRequest, Settings
from services.registry.kernel.text import display_name_key
from tests.contract import builders
from tests.contract.conftest import NOW, unique

STORAGE = StorageConfig(
    provider="s3",
    access_key_ciphertext="v1:access",
    secret_key_ciphertext="v1:secret",
    access_key_hint="AKIA…WXYZ",
    bucket="documents",
    endpoint="https://s3.example.com",
    region="eu-west-1",
)


async def _client_at(tx: Any, owner: Any, at: Any, *apps: App) -> Client:
    """A client of ``apps`` created at ``at`` (the builder always creates at NOW)."""
    value = Client(
        id=builders.new_id(),
        tenant_id=owner.id,
        client_id=unique("tc"),
        display_name=unique("Client"),
        confidential=True,
        enabled=True,
        grant_types=("client_credentials",),
        app_ids=tuple(a.id for a in apps),
        version=1,
    )
    await tx.clients.insert(value, at)
    await tx.clients.set_apps(value.id, list(value.app_ids))
    return value


# -- get, get_by_id ------------------------------------------------------------------------


async def test_get_finds_an_app_by_id_or_slug_as_inserted(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        where = await builders.region(tx, ("db-1", True), ("db-2", True))
        plan = await builders.plan(tx)
        inserted = await builders.app(
            tx,
            owner,
            where,
            description="Parses documents",
            enabled=False,
            db_code="db-2",
            plan_id=plan.id,
            redirect_uris=("https://a.example.com/cb", "https://b.example.com/cb"),
            post_logout_redirect_uris=("https://a.example.com/bye",),
            allowed_domains=("a.example.com", "b.example.com", "c.example.com"),
            auto_grant_on_signup=True,
            service_codes=("parser", "core"),
            grant_types=("authorization_code", "refresh_token"),
            storage=STORAGE,
            settings=Settings({"registration_posture": "closed", "nested": {"k": [1, 2]}}),
            version=3,
            updated_at=NOW + timedelta(minutes=1),
        )
    async with uow.read() as tx:
        assert await tx.apps.get(owner.id, inserted.id) == inserted
        assert await tx.apps.get(owner.id, inserted.slug) == inserted
        assert await tx.apps.get_by_id(inserted.id) == inserted
        assert (await tx.apps.get_by_id(inserted.id)).tenant_slug == owner.slug
        assert (await tx.apps.get_by_id(inserted.id)).region_code == where.code


async def test_an_app_without_region_plan_storage_or_domains(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        system = await builders.app(tx, owner, is_system=True, allowed_domains=())
        stored = await tx.apps.get_by_id(system.id)
        assert stored == system
        assert (stored.region_id, stored.region_code, stored.db_code) == (None, None, None)
        assert (stored.plan_id, stored.storage, stored.allowed_domains) == (None, None, ())


async def test_get_is_scoped_to_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        inserted = await builders.app(tx, owner)
        assert await tx.apps.get(stranger.id, inserted.id) is None
        assert await tx.apps.get(stranger.id, inserted.slug) is None
        assert await tx.apps.get(owner.id, unique("app")) is None
        assert await tx.apps.get(owner.id, inserted.slug.upper()) is None


async def test_get_by_id_returns_none_for_an_unknown_id(uow: Any) -> None:
    async with uow.read() as tx:
        assert await tx.apps.get_by_id(builders.new_id()) is None
        assert await tx.apps.get_by_id(builders.new_id(), with_client_ids=False) is None


async def test_client_ids_are_listed_by_client_creation(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        other = await builders.app(tx, owner)
        late = await _client_at(tx, owner, NOW + timedelta(hours=1), target)
        early = await _client_at(tx, owner, NOW - timedelta(hours=1), target, other)
        middle = await _client_at(tx, owner, NOW, target)
        await _client_at(tx, owner, NOW, other)
        expected = (early.client_id, middle.client_id, late.client_id)
        assert (await tx.apps.get_by_id(target.id)).client_ids == expected
        assert (await tx.apps.get(owner.id, target.slug)).client_ids == expected
        page = await tx.apps.search(owner.id, PageRequest(), None, target.slug, "")
        assert page.items[0].client_ids == expected


async def test_get_by_id_without_client_ids_leaves_them_empty(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        await builders.client(tx, owner, target)
        with_ids = await tx.apps.get_by_id(target.id)
        without = await tx.apps.get_by_id(target.id, with_client_ids=False)
        assert len(with_ids.client_ids) == 1
        assert without == replace(with_ids, client_ids=())


async def test_values_returned_are_copies(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        inserted = await builders.app(tx, owner, settings=Settings({"k": {"n": 1}}))
        (await tx.apps.get_by_id(inserted.id)).settings.values["k"]["n"] = 2
        assert (await tx.apps.get_by_id(inserted.id)).settings == Settings({"k": {"n": 1}})


# -- find ----------------------------------------------------------------------------------


async def test_find_keys_the_tenants_apps_by_the_reference_that_found_them(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        a = await builders.app(tx, owner)
        b = await builders.app(tx, owner)
        theirs = await builders.app(tx, stranger)
        refs = [b.slug, a.id, "unknown", theirs.slug, theirs.id, a.slug]
        found = await tx.apps.find(owner.id, refs)
        assert found == {
            b.slug: AppRef(b.id, b.slug),
            a.id: AppRef(a.id, a.slug),
            a.slug: AppRef(a.id, a.slug),
        }
        assert list(found) == [b.slug, a.id, a.slug]
        assert await tx.apps.find(owner.id, []) == {}
        assert await tx.apps.find(owner.id, ["unknown"]) == {}


# -- search --------------------------------------------------------------------------------


async def test_search_lists_the_tenants_apps_by_slug(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        c = await builders.app(tx, owner, slug="app-c")
        a = await builders.app(tx, owner, slug="app-a")
        b = await builders.app(tx, owner, slug="app-b", is_system=True)
        await builders.app(tx, stranger, slug="app-0")
        page = await tx.apps.search(owner.id, PageRequest(), None, "", "")
        assert page.items == [a, b, c]
        assert (page.total, page.next_offset) == (3, None)
        assert (await tx.apps.search(owner.id, PageRequest(), None, "", "slug")).items == [a, b, c]
        assert (await tx.apps.search(owner.id, PageRequest(), None, "", "-slug")).items == [
            c,
            b,
            a,
        ]


async def test_search_filters_on_enabled_when_given(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        on = await builders.app(tx, owner, slug="app-on")
        off = await builders.app(tx, owner, slug="app-off", enabled=False)
        search = tx.apps.search
        assert (await search(owner.id, PageRequest(), True, "", "")).items == [on]
        assert (await search(owner.id, PageRequest(), False, "", "")).items == [off]
        assert (await search(owner.id, PageRequest(), None, "", "")).items == [off, on]


async def test_search_matches_slug_or_display_name_substring_case_insensitively(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        by_slug = await builders.app(tx, owner, slug="invoice-parser", display_name="First")
        by_name = await builders.app(tx, owner, slug="second", display_name="The Invoice Desk")
        await builders.app(tx, owner, slug="third", display_name="Receipts")
        search = tx.apps.search
        found = await search(owner.id, PageRequest(), None, "INVOICE", "")
        assert found.items == [by_slug, by_name]
        assert found.total == 2
        assert (await search(owner.id, PageRequest(), None, "invoice desk", "")).items == [by_name]
        assert (await search(owner.id, PageRequest(), None, "-pars", "")).items == [by_slug]
        assert (await search(owner.id, PageRequest(), False, "invoice", "")).items == []
        none = await search(owner.id, PageRequest(), None, "absent", "")
        assert (none.items, none.total, none.next_offset) == ([], 0, None)


async def test_search_query_is_a_literal_substring(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        underscored = await builders.app(tx, owner, display_name="a_b")
        await builders.app(tx, owner, display_name="axb")
        search = tx.apps.search
        assert (await search(owner.id, PageRequest(), None, "a_b", "")).items == [underscored]
        assert (await search(owner.id, PageRequest(), None, "%", "")).items == []


async def test_search_orders_by_display_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        zed = await builders.app(tx, owner, slug="app-1", display_name="Zed")
        alpha = await builders.app(tx, owner, slug="app-2", display_name="Alpha")
        mid = await builders.app(tx, owner, slug="app-3", display_name="Mid")
        search = tx.apps.search
        assert (await search(owner.id, PageRequest(), None, "", "display_name")).items == [
            alpha,
            mid,
            zed,
        ]
        assert (await search(owner.id, PageRequest(), None, "", "-display_name")).items == [
            zed,
            mid,
            alpha,
        ]


async def test_search_orders_by_created_or_updated_at_ties_by_id(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        prefix = builders.new_id()[:-1]
        old = await builders.app(
            tx, owner, created_at=NOW - timedelta(days=1), updated_at=NOW + timedelta(days=1)
        )
        new = await builders.app(
            tx, owner, created_at=NOW + timedelta(days=1), updated_at=NOW - timedelta(days=1)
        )
        tie_b = await builders.app(tx, owner, id=f"{prefix}b")
        tie_a = await builders.app(tx, owner, id=f"{prefix}a")
        search = tx.apps.search
        page = PageRequest()
        assert (await search(owner.id, page, None, "", "created_at")).items == [
            old,
            tie_a,
            tie_b,
            new,
        ]
        assert (await search(owner.id, page, None, "", "-created_at")).items == [
            new,
            tie_a,
            tie_b,
            old,
        ]
        assert (await search(owner.id, page, None, "", "updated_at")).items == [
            new,
            tie_a,
            tie_b,
            old,
        ]
        assert (await search(owner.id, page, None, "", "-updated_at")).items == [
            old,
            tie_a,
            tie_b,
            new,
        ]


async def test_search_pages_with_total_and_next_offset(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        apps = [await builders.app(tx, owner, slug=f"app-{i}") for i in range(5)]
        search = tx.apps.search
        first = await search(owner.id, PageRequest(size=2, offset=0), None, "", "")
        assert first.items == apps[:2]
        assert (first.total, first.next_offset) == (5, 2)
        middle = await search(owner.id, PageRequest(size=2, offset=2), None, "", "")
        assert middle.items == apps[2:4]
        assert (middle.total, middle.next_offset) == (5, 4)
        last = await search(owner.id, PageRequest(size=2, offset=4), None, "", "")
        assert last.items == apps[4:]
        assert (last.total, last.next_offset) == (5, None)
        beyond = await search(owner.id, PageRequest(size=2, offset=7), None, "", "")
        assert (beyond.items, beyond.total, beyond.next_offset) == ([], 5, None)


# -- count, name_taken ---------------------------------------------------------------------


async def test_count_counts_the_tenants_non_system_apps(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        assert await tx.apps.count(owner.id) == 0
        await builders.app(tx, owner)
        await builders.app(tx, owner, enabled=False)
        await builders.app(tx, owner, is_system=True)
        await builders.app(tx, stranger)
        assert await tx.apps.count(owner.id) == 2
        assert await tx.apps.count(stranger.id) == 1


async def test_name_taken_compares_display_name_keys_within_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        app = await builders.app(tx, owner, display_name="Invoice  Parser")
        key = display_name_key("invoice parser")
        assert await tx.apps.name_taken(owner.id, key, None) is True
        assert await tx.apps.name_taken(owner.id, display_name_key("INVOICE PARSER"), None) is True
        assert await tx.apps.name_taken(owner.id, key, app.id) is False
        assert await tx.apps.name_taken(owner.id, key, builders.new_id()) is True
        assert await tx.apps.name_taken(owner.id, key, "") is True
        assert await tx.apps.name_taken(owner.id, display_name_key("Other"), None) is False
        assert await tx.apps.name_taken(stranger.id, key, None) is False


# -- insert --------------------------------------------------------------------------------


async def test_insert_refuses_a_slug_the_tenant_has(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner)
    twin = replace(first, id=builders.new_id(), display_name="Twin")
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.apps.insert(twin)
    assert caught.value.reason == "APP_SLUG_TAKEN"
    assert caught.value.message == "This tenant already has an app with that slug."
    async with uow.read() as tx:
        assert await tx.apps.get_by_id(twin.id) is None


async def test_insert_refuses_a_display_name_the_tenant_has_whatever_the_case(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner, display_name="Invoice Parser")
    twin = replace(first, id=builders.new_id(), slug=unique("app"), display_name="INVOICE  parser")
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.apps.insert(twin)
    assert caught.value.reason == "APP_NAME_TAKEN"
    assert caught.value.message == "Another app of this tenant already has that name."


async def test_slugs_and_names_are_unique_per_tenant_only(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        stranger = await builders.tenant(tx)
        mine = await builders.app(tx, owner)
        theirs = await builders.app(
            tx, stranger, slug=mine.slug, display_name=mine.display_name, service_codes=("x",)
        )
        assert await tx.apps.get(stranger.id, mine.slug) == theirs
        assert await tx.apps.get(owner.id, mine.slug) == mine


# -- update --------------------------------------------------------------------------------


async def test_update_writes_every_mutable_field(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first_region = await builders.region(tx, ("db-1", True))
        second_region = await builders.region(tx, ("db-9", True))
        plan = await builders.plan(tx)
        original = await builders.app(tx, owner, first_region, storage=STORAGE)
        changed = replace(
            original,
            display_name="Renamed",
            description="New description",
            enabled=False,
            region_id=second_region.id,
            region_code=second_region.code,
            db_code="db-9",
            plan_id=plan.id,
            redirect_uris=("https://new.example.com/cb",),
            post_logout_redirect_uris=("https://new.example.com/bye",),
            allowed_domains=("new.example.com",),
            auto_grant_on_signup=True,
            service_codes=("one", "two"),
            grant_types=("authorization_code",),
            storage=None,
            settings=Settings({"registration_posture": "closed"}),
            version=2,
            updated_at=NOW + timedelta(hours=2),
        )
        assert await tx.apps.update(changed, 1) is True
    async with uow.read() as tx:
        assert await tx.apps.get_by_id(original.id) == changed


async def test_update_leaves_slug_tenant_system_flag_and_creation_alone(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        original = await builders.app(tx, owner)
        changed = replace(
            original,
            slug=unique("app"),
            is_system=True,
            created_at=NOW - timedelta(days=30),
            version=2,
        )
        assert await tx.apps.update(changed, 1) is True
        assert await tx.apps.get_by_id(original.id) == replace(original, version=2)


async def test_update_refuses_a_stale_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        original = await builders.app(tx, owner, version=4)
        stale = replace(original, display_name="Late", version=5)
        assert await tx.apps.update(stale, 3) is False
        assert await tx.apps.get_by_id(original.id) == original


async def test_update_of_an_unknown_app_is_false(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        ghost = replace(await builders.app(tx, owner), id=builders.new_id(), slug=unique("app"))
        assert await tx.apps.update(ghost, 1) is False
        assert await tx.apps.get_by_id(ghost.id) is None


async def test_update_may_recase_its_own_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        original = await builders.app(tx, owner, display_name="invoice parser")
        recased = replace(original, display_name="Invoice Parser", version=2)
        assert await tx.apps.update(recased, 1) is True
        assert await tx.apps.get_by_id(original.id) == recased


async def test_update_refuses_another_apps_name(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.app(tx, owner, display_name="Taken Name")
        original = await builders.app(tx, owner)
    with pytest.raises(AlreadyExists) as caught:
        async with uow.transaction() as tx:
            await tx.apps.update(replace(original, display_name="taken name", version=2), 1)
    assert caught.value.reason == "APP_NAME_TAKEN"
    async with uow.read() as tx:
        assert await tx.apps.get_by_id(original.id) == original


# -- delete, blockers ----------------------------------------------------------------------


async def test_delete_removes_the_app_with_its_memberships_and_group_bindings(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        doomed = await builders.app(tx, owner)
        kept = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        await builders.membership(tx, member, doomed)
        kept_membership = await builders.membership(tx, member, kept)
        bound = await builders.group(
            tx,
            owner,
            all_apps=False,
            apps=(AppRef(doomed.id, doomed.slug), AppRef(kept.id, kept.slug)),
        )
        await tx.apps.delete(doomed.id)
        assert await tx.apps.get_by_id(doomed.id) is None
        assert await tx.apps.get(owner.id, doomed.slug) is None
        assert await tx.apps.get_by_id(kept.id) == kept
        assert await tx.memberships.get(member.id, doomed.id) is None
        assert await tx.memberships.get(member.id, kept.id) == kept_membership
        group = await tx.groups.get(owner.id, bound.id)
        assert group.apps == (AppRef(kept.id, kept.slug),)
        # The slug and name are free again.
        again = replace(doomed, id=builders.new_id())
        await tx.apps.insert(again)
        assert await tx.apps.get(owner.id, doomed.slug) == again


async def test_delete_of_an_unknown_app_is_a_no_op(uow: Any) -> None:
    async with uow.transaction() as tx:
        await tx.apps.delete(builders.new_id())


async def test_blockers_lists_clients_roles_scopes_and_resource_servers_each_sorted(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        other = await builders.app(tx, owner)
        marker = unique("b")
        await builders.client(tx, owner, target, client_id=f"{marker}-z")
        await builders.client(tx, owner, other, target, client_id=f"{marker}-a")
        await builders.client(tx, owner, other)
        await builders.role(tx, owner, app=target, code=f"{marker}-r2")
        await builders.role(tx, owner, app=target, code=f"{marker}-r1")
        await builders.role(tx, owner, app=other)
        await builders.role(tx, owner)
        await builders.scope(tx, owner, target, name=f"{marker}.write")
        await builders.scope(tx, owner, target, name=f"{marker}.read")
        await builders.scope(tx, owner, other)
        await builders.scope(tx, owner)
        await builders.resource_server(tx, owner, target, audience=f"https://{marker}-2.example")
        await builders.resource_server(tx, owner, target, audience=f"https://{marker}-1.example")
        await builders.resource_server(tx, owner, other)
        assert await tx.apps.blockers(target.id) == [
            f"client:{marker}-a",
            f"client:{marker}-z",
            f"role:{marker}-r1",
            f"role:{marker}-r2",
            f"scope:{marker}.read",
            f"scope:{marker}.write",
            f"resource_server:https://{marker}-1.example",
            f"resource_server:https://{marker}-2.example",
        ]


async def test_an_app_without_dependants_has_no_blockers(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        await builders.membership(tx, member, target)
        await builders.group(tx, owner, all_apps=False, apps=(AppRef(target.id, target.slug),))
        assert await tx.apps.blockers(target.id) == []
        assert await tx.apps.blockers(builders.new_id()) == []


# -- using (AppUsage) ----------------------------------------------------------------------


async def test_using_lists_apps_on_a_region_across_tenants_sorted(uow: Any) -> None:
    marker = unique("tn")
    async with uow.transaction() as tx:
        b_tenant = await builders.tenant(tx, slug=f"{marker}-b")
        a_tenant = await builders.tenant(tx, slug=f"{marker}-a")
        where = await builders.region(tx)
        elsewhere = await builders.region(tx)
        await builders.app(tx, b_tenant, where, slug="app-a")
        await builders.app(tx, a_tenant, where, slug="app-z")
        await builders.app(tx, a_tenant, where, slug="app-m")
        await builders.app(tx, a_tenant, elsewhere, slug="app-a")
        await builders.app(tx, a_tenant, slug="app-none")
        assert await tx.apps.using(region_id=where.id) == [
            f"app:{marker}-a/app-m",
            f"app:{marker}-a/app-z",
            f"app:{marker}-b/app-a",
        ]
        assert await tx.apps.using(region_id=elsewhere.id) == [f"app:{marker}-a/app-a"]
        assert await tx.apps.using(region_id=builders.new_id()) == []


async def test_using_lists_apps_on_a_plan_across_tenants_sorted(uow: Any) -> None:
    marker = unique("tn")
    async with uow.transaction() as tx:
        b_tenant = await builders.tenant(tx, slug=f"{marker}-b")
        a_tenant = await builders.tenant(tx, slug=f"{marker}-a")
        plan = await builders.plan(tx)
        other_plan = await builders.plan(tx)
        unused = await builders.plan(tx)
        await builders.app(tx, b_tenant, plan_id=plan.id, slug="app-1")
        await builders.app(tx, a_tenant, plan_id=plan.id, slug="app-2")
        await builders.app(tx, a_tenant, plan_id=other_plan.id, slug="app-3")
        await builders.app(tx, a_tenant, slug="app-4")
        assert await tx.apps.using(plan_id=plan.id) == [
            f"app:{marker}-a/app-2",
            f"app:{marker}-b/app-1",
        ]
        assert await tx.apps.using(plan_id=other_plan.id) == [f"app:{marker}-a/app-3"]
        assert await tx.apps.using(plan_id=unused.id) == []
