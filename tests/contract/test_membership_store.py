"""Contract of MembershipStore (services.registry.memberships.store): a user's right to enter
an app (user_apps), on every backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.errors import AlreadyExists
from services.common.vocabulary import MembershipStatus
from services.registry.kernel.models import PageRequest, Tenant
from services.registry.memberships.models import AUTO_GRANT_ACTOR
from tests.contract import builders
from tests.contract.conftest import NOW

LATER = NOW.replace(hour=15)


async def _pairs(
    tx: Any,
    owner: Tenant,
    page: PageRequest,
    *,
    user_id: str | None = None,
    app_id: str | None = None,
    status: MembershipStatus | None = None,
) -> Any:
    found = await tx.memberships.search(
        owner.id, page, user_id=user_id, app_id=app_id, status=status
    )
    return [(m.app_slug, m.user_email) for m in found.items], found.total, found.next_offset


# -- get / insert -------------------------------------------------------------------------


async def test_get_returns_the_membership_with_the_users_email_and_the_apps_slug(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner, email="Member@Example.com")
        stored = await builders.membership(tx, member, target, granted_by=AUTO_GRANT_ACTOR)
    async with uow.read() as tx:
        found = await tx.memberships.get(member.id, target.id)
    assert found == stored
    assert (found.user_email, found.app_slug) == ("Member@Example.com", target.slug)
    assert (found.status, found.granted_at, found.revoked_at) == (
        MembershipStatus.ACTIVE,
        NOW,
        None,
    )


async def test_get_reads_email_and_slug_from_the_user_and_app_as_they_are_now(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        # The membership value's copies are not what gets stored.
        await builders.membership(tx, member, target, user_email="stale", app_slug="stale")
        await tx.users.update(replace(member, email="renamed@example.com", version=2), 1)
        found = await tx.memberships.get(member.id, target.id, for_update=True)
    assert found is not None
    assert (found.user_email, found.app_slug) == ("renamed@example.com", target.slug)


async def test_get_is_none_without_a_membership(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        other = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        await builders.membership(tx, member, other)
        assert await tx.memberships.get(member.id, target.id) is None
        assert await tx.memberships.get(builders.new_id(), other.id) is None


async def test_insert_stores_a_revoked_membership_as_given(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        stored = await builders.membership(
            tx, member, target, status=MembershipStatus.REVOKED, revoked_at=LATER
        )
        assert await tx.memberships.get(member.id, target.id) == stored


async def test_insert_refuses_a_second_membership_of_the_same_app(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        original = await builders.membership(tx, member, target)
    with pytest.raises(AlreadyExists) as raised:
        async with uow.transaction() as tx:
            await builders.membership(
                tx, member, target, status=MembershipStatus.REVOKED, granted_by="someone"
            )
    assert raised.value.reason == "MEMBERSHIP_EXISTS"
    assert raised.value.message == "The user already has a membership of that app."
    async with uow.read() as tx:
        assert await tx.memberships.get(member.id, target.id) == original


# -- update -------------------------------------------------------------------------------


async def test_update_writes_status_grant_and_revocation(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        other = await builders.user(tx, owner)
        original = await builders.membership(tx, member, target)
        untouched = await builders.membership(tx, other, target)
    revoked = replace(original, status=MembershipStatus.REVOKED, revoked_at=LATER)
    async with uow.transaction() as tx:
        await tx.memberships.update(revoked)
    async with uow.read() as tx:
        assert await tx.memberships.get(member.id, target.id) == revoked
        assert await tx.memberships.get(other.id, target.id) == untouched
    regranted = replace(original, granted_at=LATER, granted_by="acme/tc_other", revoked_at=None)
    async with uow.transaction() as tx:
        await tx.memberships.update(regranted)
        # No row: nothing happens.
        await tx.memberships.update(replace(regranted, app_id=builders.new_id()))
        assert await tx.memberships.get(member.id, target.id) == regranted


# -- search -------------------------------------------------------------------------------


async def test_search_orders_by_app_slug_then_user_email_and_pages(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        late = await builders.app(tx, owner, slug="zz-app")
        early = await builders.app(tx, owner, slug="aa-app")
        bob = await builders.user(tx, owner, email="Bob@example.com")
        amy = await builders.user(tx, owner, email="amy@example.com")
        for target in (late, early):
            for member in (bob, amy):
                await builders.membership(tx, member, target)
        foreign_app = await builders.app(tx, other, slug="aa-app")
        await builders.membership(tx, await builders.user(tx, other), foreign_app)
    async with uow.read() as tx:
        first = await _pairs(tx, owner, PageRequest(size=3, offset=0))
        second = await _pairs(tx, owner, PageRequest(size=3, offset=3))
        past = await _pairs(tx, owner, PageRequest(size=3, offset=8))
    assert first == (
        [
            ("aa-app", "amy@example.com"),
            ("aa-app", "Bob@example.com"),
            ("zz-app", "amy@example.com"),
        ],
        4,
        3,
    )
    assert second == ([("zz-app", "Bob@example.com")], 4, None)
    assert past == ([], 4, None)


async def test_search_returns_full_memberships(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        stored = await builders.membership(
            tx, member, target, status=MembershipStatus.REVOKED, revoked_at=LATER
        )
        found = await tx.memberships.search(
            owner.id, PageRequest(), user_id=None, app_id=None, status=None
        )
    assert found.items == [stored]
    assert (found.total, found.next_offset) == (1, None)


async def test_search_filters_by_user_app_and_status(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner, slug="first")
        second = await builders.app(tx, owner, slug="second")
        ann = await builders.user(tx, owner, email="ann@example.com")
        ben = await builders.user(tx, owner, email="ben@example.com")
        await builders.membership(tx, ann, first)
        await builders.membership(tx, ann, second, status=MembershipStatus.REVOKED)
        await builders.membership(tx, ben, first, status=MembershipStatus.REVOKED)
        page = PageRequest()
        by_user = await _pairs(tx, owner, page, user_id=ann.id)
        by_app = await _pairs(tx, owner, page, app_id=first.id)
        revoked = await _pairs(tx, owner, page, status=MembershipStatus.REVOKED)
        active = await _pairs(tx, owner, page, status=MembershipStatus.ACTIVE)
        combined = await _pairs(
            tx, owner, page, user_id=ben.id, app_id=first.id, status=MembershipStatus.ACTIVE
        )
        unknown = await _pairs(tx, owner, page, user_id=builders.new_id())
    assert by_user == ([("first", "ann@example.com"), ("second", "ann@example.com")], 2, None)
    assert by_app == ([("first", "ann@example.com"), ("first", "ben@example.com")], 2, None)
    assert revoked == ([("first", "ben@example.com"), ("second", "ann@example.com")], 2, None)
    assert active == ([("first", "ann@example.com")], 1, None)
    assert combined == ([], 0, None)
    assert unknown == ([], 0, None)


async def test_search_keeps_to_the_users_of_the_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        foreign = await builders.user(tx, other)
        await builders.membership(tx, foreign, target)
        page = PageRequest()
        mine = await _pairs(tx, owner, page)
        theirs = await _pairs(tx, other, page, user_id=foreign.id)
        filtered = await _pairs(tx, owner, page, user_id=foreign.id)
    # The tenant is the user's: a membership shows in the list of its user's tenant.
    assert mine == ([], 0, None)
    assert theirs == ([(target.slug, foreign.email)], 1, None)
    assert filtered == ([], 0, None)
