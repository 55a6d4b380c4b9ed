"""Contract of UserStore (services.registry.users.store): users of a tenant's pool, their
direct role assignments and effective grants, on every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.common.vocabulary import UserStatus
from services.registry.apps.models import AppRef
from services.registry.kernel.models import PageRequest, Tenant
from services.registry.roles.models import RoleRef
from tests.contract import builders
from tests.contract.conftest import NOW, unique

LATER = NOW.replace(hour=13)


async def _ids(tx: Any, owner: Tenant, service: str, *codes: str) -> list[str]:
    return [entry.id for entry in await builders.entries(tx, owner, service, *codes)]


async def _emails(tx: Any, owner: Tenant, page: PageRequest, query: str = "", **kw: Any) -> Any:
    found = await tx.users.search(owner.id, page, query, kw.get("status"))
    return [u.email for u in found.items], found.total, found.next_offset


# -- get ----------------------------------------------------------------------------------


async def test_get_by_id_returns_the_stored_user_with_tenant_slug(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(
            tx,
            owner,
            "argon2id$hash",
            first_name="Ada",
            last_name="Lovelace",
            username=unique("ada"),
            email_verified=True,
            token_version=4,
            version=3,
            updated_at=LATER,
        )
    async with uow.read() as tx:
        found = await tx.users.get(owner.id, member.id)
    assert found == member
    assert found.tenant_slug == owner.slug
    assert found.has_password is True
    assert (found.created_at, found.updated_at) == (NOW, LATER)


async def test_get_by_email_key_finds_the_user_but_not_by_the_raw_email(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, email="Ann.Smith@Example.COM")
        found = await tx.users.get(owner.id, "ann.smith@example.com")
        raw = await tx.users.get(owner.id, "Ann.Smith@Example.COM")
    assert found is not None
    assert (found.id, found.email) == (member.id, "Ann.Smith@Example.COM")
    assert raw is None  # callers normalise: the store compares keys


async def test_get_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        member = await builders.user(tx, owner, email="x@example.com")
        assert await tx.users.get(other.id, member.id) is None
        assert await tx.users.get(other.id, "x@example.com") is None
        assert await tx.users.get(owner.id, builders.new_id()) is None


async def test_get_for_update_returns_the_user(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        assert await tx.users.get(owner.id, member.id, for_update=True) == member


async def test_get_reports_passwordless_users(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    assert found.has_password is False
    assert not hasattr(found, "password_hash")


async def test_get_lists_direct_role_and_group_codes_sorted(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        other = await builders.user(tx, owner)
        zeta = await builders.role(tx, owner, code="zeta")
        alpha = await builders.role(tx, owner, code="alpha")
        given = await builders.role(tx, owner, code="given-by-group")
        await builders.role(tx, owner, code="unassigned")
        for role in (zeta, alpha):
            await tx.users.assign_role(member.id, role.id)
        await tx.users.assign_role(other.id, given.id)
        late = await builders.group(tx, owner, code="tail", roles=(RoleRef(given.id, given.code),))
        early = await builders.group(tx, owner, code="head")
        await builders.group(tx, owner, code="not-a-member")
        for group in (late, early):
            await tx.groups.add_member(group.id, member.id)
    async with uow.read() as tx:
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    # Only directly assigned roles; group roles stay the group's.
    assert found.roles == ("alpha", "zeta")
    assert found.groups == ("head", "tail")


# -- search -------------------------------------------------------------------------------


async def test_search_orders_by_email_key_and_pages(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        for email in ("carol@example.com", "Bob@example.com", "alice@example.com", "dan@x.io"):
            await builders.user(tx, owner, email=email)
        await builders.user(tx, other, email="aaron@example.com")
    async with uow.read() as tx:
        first = await _emails(tx, owner, PageRequest(size=2, offset=0))
        second = await _emails(tx, owner, PageRequest(size=2, offset=2))
        past = await _emails(tx, owner, PageRequest(size=2, offset=10))
        everything = await _emails(tx, owner, PageRequest(size=50, offset=0))
    assert first == (["alice@example.com", "Bob@example.com"], 4, 2)
    assert second == (["carol@example.com", "dan@x.io"], 4, None)
    assert past == ([], 4, None)
    assert everything[1:] == (4, None)


async def test_search_returns_full_users_with_roles_and_groups(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, "argon2id$x", first_name="Ada")
        role = await builders.role(tx, owner, code="editor")
        await tx.users.assign_role(member.id, role.id)
        group = await builders.group(tx, owner, code="staff")
        await tx.groups.add_member(group.id, member.id)
        found = await tx.users.search(owner.id, PageRequest(), "", None)
    assert found.items == [replace(member, roles=("editor",), groups=("staff",))]


async def test_search_filters_by_status(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.user(tx, owner, email="on@example.com")
        await builders.user(tx, owner, email="off@example.com", status=UserStatus.DISABLED)
        page = PageRequest()
        active = await _emails(tx, owner, page, status=UserStatus.ACTIVE)
        disabled = await _emails(tx, owner, page, status=UserStatus.DISABLED)
        both = await _emails(tx, owner, page)
    assert active == (["on@example.com"], 1, None)
    assert disabled == (["off@example.com"], 1, None)
    assert both[0] == ["off@example.com", "on@example.com"]


async def test_search_query_matches_email_names_and_username_case_insensitively(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.user(tx, owner, email="Zed.Mail@example.com")
        await builders.user(tx, owner, email="a@example.com", first_name="ZEDONIA")
        await builders.user(tx, owner, email="b@example.com", last_name="Mczed")
        await builders.user(tx, owner, email="c@example.com", username="thezed")
        await builders.user(tx, owner, email="d@example.com", first_name="Nobody")
        page = PageRequest()
        found = await _emails(tx, owner, page, "zed")
        upper = await _emails(tx, owner, page, "ZED")
        combined = await _emails(tx, owner, page, "zed", status=UserStatus.DISABLED)
    expected = ["a@example.com", "b@example.com", "c@example.com", "Zed.Mail@example.com"]
    assert found == (expected, 4, None)
    assert upper == found
    assert combined == ([], 0, None)


async def test_search_query_is_a_literal_substring(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.user(tx, owner, email="a_b@example.com")
        await builders.user(tx, owner, email="axb@example.com")
        await builders.user(tx, owner, email="c@example.com", first_name="100%")
        page = PageRequest()
        underscore = await _emails(tx, owner, page, "a_b")
        percent = await _emails(tx, owner, page, "%")
        backslash = await _emails(tx, owner, page, "\\")
    assert underscore == (["a_b@example.com"], 1, None)
    assert percent == (["c@example.com"], 1, None)
    assert backslash == ([], 0, None)


# -- username_taken -----------------------------------------------------------------------


async def test_username_taken_within_the_tenant_except_the_excluded_user(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        name = unique("name")
        member = await builders.user(tx, owner, username=name)
        users = tx.users
        assert await users.username_taken(owner.id, name, None) is True
        assert await users.username_taken(owner.id, name, builders.new_id()) is True
        assert await users.username_taken(owner.id, name, member.id) is False
        assert await users.username_taken(owner.id, unique("free"), None) is False
        assert await users.username_taken(other.id, name, None) is False


# -- insert -------------------------------------------------------------------------------


async def test_insert_refuses_an_email_taken_in_any_case(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        await builders.user(tx, owner, email="Taken@Example.com")
        # Another tenant may have the same email.
        await builders.user(tx, other, email="taken@example.com")
    with pytest.raises(AlreadyExists) as raised:
        async with uow.transaction() as tx:
            await builders.user(tx, owner, email="TAKEN@example.COM")
    assert raised.value.reason == "EMAIL_TAKEN"
    assert raised.value.message == "Another user of this tenant has that email."


async def test_insert_refuses_a_taken_username_but_not_absent_ones(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        await builders.user(tx, owner, username="shared")
        await builders.user(tx, other, username="shared")
        await builders.user(tx, owner, username=None)
        await builders.user(tx, owner, username=None)  # absent usernames never collide
    with pytest.raises(AlreadyExists) as raised:
        async with uow.transaction() as tx:
            await builders.user(tx, owner, username="shared")
    assert raised.value.reason == "USERNAME_TAKEN"
    async with uow.read() as tx:
        assert (await tx.users.search(owner.id, PageRequest(), "", None)).total == 3


# -- update -------------------------------------------------------------------------------


async def test_update_writes_every_mutable_field_when_the_version_matches(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, "argon2id$keep", email="old@example.com")
    changed = replace(
        member,
        email="New@Example.com",
        email_verified=True,
        first_name="Grace",
        last_name="Hopper",
        username=unique("grace"),
        status=UserStatus.DISABLED,
        token_version=2,
        version=2,
        updated_at=LATER,
    )
    async with uow.transaction() as tx:
        assert await tx.users.update(changed, 1) is True
    async with uow.read() as tx:
        found = await tx.users.get(owner.id, member.id)
        by_new_key = await tx.users.get(owner.id, "new@example.com")
        by_old_key = await tx.users.get(owner.id, "old@example.com")
    assert found == changed  # the password hash stays
    assert found.has_password is True
    assert by_new_key == changed
    assert by_old_key is None


async def test_update_clears_names_and_username(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, first_name="A", last_name="B", username="ab")
        cleared = replace(member, first_name=None, last_name=None, username=None, version=2)
        assert await tx.users.update(cleared, 1) is True
        assert await tx.users.get(owner.id, member.id) == cleared


async def test_update_is_false_and_writes_nothing_on_a_stale_version(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, version=5)
        stale = replace(member, first_name="Stale", version=6)
        assert await tx.users.update(stale, 4) is False
        assert await tx.users.update(replace(stale, id=builders.new_id()), 5) is False
        assert await tx.users.get(owner.id, member.id) == member


async def test_update_refuses_an_email_or_username_of_another_user(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.user(tx, owner, email="first@example.com", username="first")
        member = await builders.user(tx, owner, email="second@example.com")
    with pytest.raises(AlreadyExists) as email:
        async with uow.transaction() as tx:
            await tx.users.update(replace(member, email="FIRST@example.com", version=2), 1)
    with pytest.raises(AlreadyExists) as username:
        async with uow.transaction() as tx:
            await tx.users.update(replace(member, username="first", version=2), 1)
    assert email.value.reason == "EMAIL_TAKEN"
    assert username.value.reason == "USERNAME_TAKEN"
    async with uow.transaction() as tx:
        # Its own email, in another case, is no collision.
        assert await tx.users.update(replace(member, email="Second@example.com", version=2), 1)
        assert await tx.users.get(owner.id, member.id) == replace(
            member, email="Second@example.com", version=2
        )


# -- set_password_hash --------------------------------------------------------------------


async def test_set_password_hash_sets_and_clears_the_password(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        await tx.users.set_password_hash(member.id, "argon2id$new")
        with_password = await tx.users.get(owner.id, member.id)
        await tx.users.set_password_hash(member.id, None)
        without = await tx.users.get(owner.id, member.id)
        await tx.users.set_password_hash(builders.new_id(), "argon2id$nobody")  # no-op
    assert with_password == replace(member, has_password=True)
    assert without == member  # version untouched


# -- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_user_with_roles_groups_and_memberships(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner, email="gone@example.com")
        keeper = await builders.user(tx, owner)
        role = await builders.role(tx, owner)
        group = await builders.group(tx, owner)
        for user in (member, keeper):
            await tx.users.assign_role(user.id, role.id)
            await tx.groups.add_member(group.id, user.id)
            await builders.membership(tx, user, target)
    async with uow.transaction() as tx:
        await tx.users.delete(member.id)
        await tx.users.delete(builders.new_id())  # unknown: no-op
    async with uow.transaction() as tx:
        assert await tx.users.get(owner.id, member.id) is None
        assert await tx.users.get(owner.id, "gone@example.com") is None
        assert await tx.memberships.get(member.id, target.id) is None
        assert await tx.users.grants(member.id) == []
        blockers = await tx.roles.blockers(role.id)
        # The email is free again, and a user reusing the id starts without links.
        reborn = await builders.user(tx, owner, id=member.id, email="gone@example.com")
        assert await tx.users.get(owner.id, member.id) == reborn
        assert await tx.memberships.get(member.id, target.id) is None
        assert await tx.memberships.get(keeper.id, target.id) is not None
        assert (await tx.users.get(owner.id, keeper.id)) == replace(
            keeper, roles=(role.code,), groups=(group.code,)
        )
    assert blockers == [f"user:{keeper.email}"]


# -- assign_role / unassign_role -----------------------------------------------------------


async def test_assign_role_is_false_when_assigned_already(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        role = await builders.role(tx, owner)
        assert await tx.users.assign_role(member.id, role.id) is True
        assert await tx.users.assign_role(member.id, role.id) is False
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    assert found.roles == (role.code,)


async def test_unassign_role_is_false_when_not_assigned(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        kept = await builders.role(tx, owner)
        role = await builders.role(tx, owner)
        await tx.users.assign_role(member.id, kept.id)
        assert await tx.users.unassign_role(member.id, role.id) is False
        await tx.users.assign_role(member.id, role.id)
        assert await tx.users.unassign_role(member.id, role.id) is True
        assert await tx.users.unassign_role(member.id, role.id) is False
        found = await tx.users.get(owner.id, member.id)
    assert found is not None
    assert found.roles == (kept.code,)


# -- grants -------------------------------------------------------------------------------


async def test_grants_cover_direct_and_group_roles_whatever_app_without_duplicates(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        bound = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        direct_ids = await _ids(tx, owner, "orders", "read", "write")
        group_ids = await _ids(tx, owner, "billing", "pay")
        app_ids = await _ids(tx, owner, "ship", "send")
        unrelated_ids = await _ids(tx, owner, "other", "secret")
        member = await builders.user(tx, owner)
        direct = await builders.role(tx, owner, *direct_ids)
        # Overlaps the direct role: each (service, code) once.
        through_group = await builders.role(tx, owner, group_ids[0], direct_ids[0])
        app_role = await builders.role(tx, owner, *app_ids, app=bound)
        unrelated = await builders.role(tx, owner, *unrelated_ids)
        await tx.users.assign_role(member.id, direct.id)
        # A group bound to another app still counts: grants ignore the binding.
        member_group = await builders.group(
            tx,
            owner,
            all_apps=False,
            apps=(AppRef(elsewhere.id, elsewhere.slug),),
            roles=(
                RoleRef(through_group.id, through_group.code),
                RoleRef(app_role.id, app_role.code),
            ),
        )
        await tx.groups.add_member(member_group.id, member.id)
        await builders.group(tx, owner, roles=(RoleRef(unrelated.id, unrelated.code),))
        grants = await tx.users.grants(member.id)
        nobody = await tx.users.grants(builders.new_id())
    assert sorted(grants) == [
        ("billing", "pay"),
        ("orders", "read"),
        ("orders", "write"),
        ("ship", "send"),
    ]
    assert len(grants) == len(set(grants))
    assert nobody == []


async def test_grants_are_empty_for_a_user_without_roles(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        group = await builders.group(tx, owner)
        await tx.groups.add_member(group.id, member.id)
        assert await tx.users.grants(member.id) == []
