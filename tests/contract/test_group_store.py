"""Contract of GroupStore (services.registry.groups.store): groups, their app binding, roles
and members, on every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.registry.apps.models import App, AppRef
from services.registry.kernel.models import PageRequest, Tenant
from services.registry.roles.models import Role, RoleRef
from tests.contract import builders
from tests.contract.conftest import NOW


def _app(app: App) -> AppRef:
    return AppRef(app.id, app.slug)


def _role(role: Role) -> RoleRef:
    return RoleRef(role.id, role.code)


async def _codes(tx: Any, owner: Tenant, page: PageRequest, query: str = "") -> Any:
    found = await tx.groups.search(owner.id, page, query)
    return [g.code for g in found.items], found.total, found.next_offset


# -- get ----------------------------------------------------------------------------------


async def test_get_by_id_or_code_returns_apps_by_slug_and_roles_by_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        late_app = await builders.app(tx, owner, slug="zz-app")
        early_app = await builders.app(tx, owner, slug="aa-app")
        late_role = await builders.role(tx, owner, code="writer")
        early_role = await builders.role(tx, owner, code="reader")
        group = await builders.group(
            tx,
            owner,
            code="staff",
            name="Staff",
            all_apps=False,
            apps=(_app(late_app), _app(early_app)),
            roles=(_role(late_role), _role(early_role)),
        )
    async with uow.read() as tx:
        by_id = await tx.groups.get(owner.id, group.id)
        by_code = await tx.groups.get(owner.id, "staff")
    expected = replace(
        group,
        apps=(_app(early_app), _app(late_app)),
        roles=(_role(early_role), _role(late_role)),
    )
    assert by_id == expected
    assert by_code == expected
    assert (by_id.tenant_slug, by_id.all_apps, by_id.created_at) == (owner.slug, False, NOW)
    assert by_id.bound_to == ("aa-app", "zz-app")


async def test_get_of_a_group_bound_to_every_app_keeps_no_app_list(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        group = await builders.group(tx, owner, all_apps=True, apps=(_app(target),))
        found = await tx.groups.get(owner.id, group.id, for_update=True)
    assert found == replace(group, apps=())
    assert found.bound_to == ("*",)


async def test_get_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        group = await builders.group(tx, owner)
        assert await tx.groups.get(other.id, group.id) is None
        assert await tx.groups.get(other.id, group.code) is None
        assert await tx.groups.get(owner.id, builders.new_id()) is None


# -- search -------------------------------------------------------------------------------


async def test_search_orders_by_code_and_pages(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        for code in ("delta", "alpha", "charlie", "bravo", "echo"):
            await builders.group(tx, owner, code=code)
        await builders.group(tx, other, code="aaa")
    async with uow.read() as tx:
        first = await _codes(tx, owner, PageRequest(size=2, offset=0))
        middle = await _codes(tx, owner, PageRequest(size=2, offset=2))
        last = await _codes(tx, owner, PageRequest(size=2, offset=4))
        past = await _codes(tx, owner, PageRequest(size=2, offset=7))
    assert first == (["alpha", "bravo"], 5, 2)
    assert middle == (["charlie", "delta"], 5, 4)
    assert last == (["echo"], 5, None)
    assert past == ([], 5, None)


async def test_search_returns_full_groups(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        role = await builders.role(tx, owner)
        group = await builders.group(
            tx, owner, all_apps=False, apps=(_app(target),), roles=(_role(role),)
        )
        found = await tx.groups.search(owner.id, PageRequest(), "")
    assert found.items == [group]


async def test_search_query_matches_code_or_name_case_insensitively(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.group(tx, owner, code="ops-team", name="Operations")
        await builders.group(tx, owner, code="sales", name="Sales OPS")
        await builders.group(tx, owner, code="support", name="Support")
        await builders.group(tx, owner, code="lit-one", name="Under_score")
        await builders.group(tx, owner, code="lit-two", name="Underxscore")
        page = PageRequest()
        ops = await _codes(tx, owner, page, "ops")
        upper = await _codes(tx, owner, page, "OPS")
        literal = await _codes(tx, owner, page, "r_s")
        percent = await _codes(tx, owner, page, "%")
        none = await _codes(tx, owner, page, "nothing")
    assert ops == (["ops-team", "sales"], 2, None)
    assert upper == ops
    assert literal == (["lit-one"], 1, None)
    assert percent == ([], 0, None)
    assert none == ([], 0, None)


# -- insert / update ----------------------------------------------------------------------


async def test_insert_refuses_a_code_taken_in_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        await builders.group(tx, owner, code="taken")
        await builders.group(tx, other, code="taken")  # codes are per tenant
    with pytest.raises(AlreadyExists) as raised:
        async with uow.transaction() as tx:
            await builders.group(tx, owner, code="taken")
    assert raised.value.reason == "GROUP_CODE_TAKEN"
    assert raised.value.message == "This tenant already has a group with that code."


async def test_update_writes_name_binding_and_roles_but_not_the_code(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first_app = await builders.app(tx, owner, slug="first-app")
        second_app = await builders.app(tx, owner, slug="second-app")
        first_role = await builders.role(tx, owner, code="first-role")
        second_role = await builders.role(tx, owner, code="second-role")
        group = await builders.group(
            tx,
            owner,
            code="keep",
            all_apps=False,
            apps=(_app(first_app),),
            roles=(_role(first_role),),
        )
        bound = replace(
            group,
            name="Renamed",
            apps=(_app(second_app),),
            roles=(_role(second_role), _role(first_role)),
        )
        await tx.groups.update(replace(bound, code="changed"))
        rebound = await tx.groups.get(owner.id, group.id)
        await tx.groups.update(replace(bound, all_apps=True, roles=()))
        everywhere = await tx.groups.get(owner.id, group.id)
        await tx.groups.update(replace(group, all_apps=False, apps=(), roles=()))
        nowhere = await tx.groups.get(owner.id, group.id)
    assert rebound == replace(bound, roles=(_role(first_role), _role(second_role)))
    assert everywhere == replace(bound, all_apps=True, apps=(), roles=())
    assert nowhere == replace(group, all_apps=False, apps=(), roles=())
    assert nowhere.bound_to == ()


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_group_with_members_apps_and_roles(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        role = await builders.role(tx, owner)
        member = await builders.user(tx, owner)
        group = await builders.group(
            tx, owner, code="doomed", all_apps=False, apps=(_app(target),), roles=(_role(role),)
        )
        kept = await builders.group(tx, owner, roles=(_role(role),))
        for g in (group, kept):
            await tx.groups.add_member(g.id, member.id)
    async with uow.transaction() as tx:
        await tx.groups.delete(group.id)
        await tx.groups.delete(builders.new_id())  # unknown: no-op
    async with uow.transaction() as tx:
        assert await tx.groups.get(owner.id, group.id) is None
        found = await tx.users.get(owner.id, member.id)
        blockers = await tx.roles.blockers(role.id)
        # Nothing is left behind: a group reusing the id and code starts without links.
        reborn = await builders.group(tx, owner, id=group.id, code="doomed", all_apps=False)
        reread = await tx.groups.get(owner.id, group.id)
    assert found is not None
    assert found.groups == (kept.code,)
    assert blockers == [f"group:{kept.code}"]
    assert reread == reborn
    assert (reread.apps, reread.roles) == ((), ())


# -- add_member / remove_member -----------------------------------------------------------


async def test_add_member_is_false_when_a_member_already(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        group = await builders.group(tx, owner)
        member = await builders.user(tx, owner)
        assert await tx.groups.add_member(group.id, member.id) is True
        assert await tx.groups.add_member(group.id, member.id) is False
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    assert found.groups == (group.code,)


async def test_remove_member_is_false_when_not_a_member(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        group = await builders.group(tx, owner)
        other = await builders.group(tx, owner)
        member = await builders.user(tx, owner)
        await tx.groups.add_member(other.id, member.id)
        assert await tx.groups.remove_member(group.id, member.id) is False
        await tx.groups.add_member(group.id, member.id)
        assert await tx.groups.remove_member(group.id, member.id) is True
        assert await tx.groups.remove_member(group.id, member.id) is False
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    assert found.groups == (other.code,)
