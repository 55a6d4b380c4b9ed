"""The membership use cases (services.registry.memberships.use_cases) over the in-memory
stores: granting and revoking app memberships, listing them, and admitting a user to an app at
login (Vendidit seed §1 and §6, ARCHITECTURE §2 and §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.vocabulary import MembershipStatus, UserStatus
from services.registry.apps.models import App, AppDraft, AppPatch
from services.registry.features import Features
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryDatabase, MemoryTables
from services.registry.memberships.models import AUTO_GRANT_ACTOR, Membership
from services.registry.memberships.use_cases import MembershipUseCases
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.stores import MemoryStores, memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from services.registry.users.models import User, UserDraft
from tests.unit.registry import fakes

TENANT = "acme"
ADMIN = fakes.tenant_admin(TENANT)
TOKEN = fakes.service("token")

# -- the world the tests run in ----------------------------------------------------------------


@dataclass
class World(fakes.MemoryWorld):
    billing: App  # no auto-grant
    shop: App  # auto-grant on signup
    ann: User

    @property
    def memberships(self) -> MembershipUseCases:
        return self.features.memberships

    async def user(self, user_id: str) -> User:
        return await self.features.users.get(ADMIN, TENANT, user_id)


async def world(uow: Callable[[MemoryDatabase[MemoryTables]], Any] = memory_unit_of_work) -> World:
    s = await fakes.memory_world(tenant=TENANT, uow=uow)
    billing, _ = await fakes.app(s.seeded, "billing")
    shop, _ = await fakes.app(s.seeded, "shop", auto_grant_on_signup=True)
    ann = await s.features.users.create(ADMIN, TENANT, UserDraft("ann@example.com"))
    s.bus.changes.clear()
    return World(s.features, s.db, s.bus, s.seeded, billing, shop, ann)


@pytest.fixture
async def w() -> World:
    return await world()


def limited(*permissions: str) -> Principal:
    """A caller of the tenant managing users but holding no other admin permission."""
    return fakes.limited(*(permissions or ("user:read", "user:write")))


async def privileged(w: World) -> User:
    """Bob, holding tessera client:write, which ``limited()`` lacks."""
    bob = await w.features.users.create(ADMIN, TENANT, UserDraft("bob@example.com"))
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft("client-manager", "CM"))
    await w.features.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("tessera", "client:write")], ""
    )
    return await w.features.users.assign_role(ADMIN, TENANT, bob.id, role.id)


# -- who may call ---------------------------------------------------------------------------------

CALLS: list[tuple[str, str, Callable[[Features, Principal], Awaitable[Any]]]] = [
    ("grant", "user:write", lambda f, p: f.memberships.grant(p, TENANT, "u", "billing")),
    ("revoke", "user:write", lambda f, p: f.memberships.revoke(p, TENANT, "u", "billing")),
    ("of_user", "user:read", lambda f, p: f.memberships.of_user(p, TENANT, "u", 10, 0, "")),
    ("of_app", "user:read", lambda f, p: f.memberships.of_app(p, TENANT, "billing", 10, 0, "")),
]


@pytest.mark.parametrize(("name", "permission", "call"), CALLS, ids=[n for n, _, _ in CALLS])
async def test_membership_calls_need_their_permission_before_storage(
    name: str, permission: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    other = "user:read" if permission == "user:write" else "user:write"
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin(TENANT, other, "role:write", "app:read"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": permission},
    )


@pytest.mark.parametrize(("name", "permission", "call"), CALLS, ids=[n for n, _, _ in CALLS])
async def test_membership_calls_on_another_tenant_are_tenant_forbidden_before_storage(
    name: str, permission: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


@pytest.mark.parametrize(
    "caller",
    [ADMIN, fakes.operator(), fakes.service("invites")],
    ids=["tenant-admin", "operator", "another-service"],
)
async def test_admit_is_for_the_token_service_only_before_storage(caller: Principal) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await fakes.untouchable().memberships.admit(caller, TENANT, "u", "billing")
    assert caught.value.reason == "SERVICE_ONLY"


# -- grant ----------------------------------------------------------------------------------------


async def test_grant_creates_an_active_membership_audited_and_published(w: World) -> None:
    membership, created = await w.memberships.grant(ADMIN, TENANT, "Ann@Example.com", "billing")
    assert created is True
    assert membership == Membership(
        user_id=w.ann.id,
        user_email="ann@example.com",
        app_id=w.billing.id,
        app_slug="billing",
        status=MembershipStatus.ACTIVE,
        granted_at=fakes.NOW,
        granted_by="acme/tc_admin",
        revoked_at=None,
    )
    listed = await w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "")
    assert listed.items == [membership]
    [event] = await w.events("membership.grant")
    assert (event.target_type, event.target_id, event.actor_id, event.tenant_slug) == (
        "user",
        w.ann.id,
        "tc_admin",
        TENANT,
    )
    assert event.details == {"app": "billing", "reactivated": False}
    assert w.bus.changes == [Change(TENANT, "user", w.ann.id)]
    assert (await w.user(w.ann.id)).token_version == 1


async def test_granting_an_active_membership_again_changes_nothing(w: World) -> None:
    first, _ = await w.memberships.grant(ADMIN, TENANT, w.ann.id, w.billing.id)
    published = list(w.bus.changes)
    again, created = await w.memberships.grant(
        fakes.tenant_admin(TENANT, subject="tc_other"), TENANT, w.ann.id, "billing"
    )
    assert (again, created) == (first, False)
    assert len(await w.events("membership.grant")) == 1
    assert w.bus.changes == published


async def test_granting_a_revoked_membership_reactivates_it_by_this_caller(w: World) -> None:
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    await w.memberships.revoke(ADMIN, TENANT, w.ann.id, "billing")
    membership, created = await w.memberships.grant(
        fakes.tenant_admin(TENANT, subject="tc_other"), TENANT, w.ann.id, "billing"
    )
    assert created is False
    assert (membership.status, membership.granted_by, membership.revoked_at) == (
        MembershipStatus.ACTIVE,
        "acme/tc_other",
        None,
    )
    events = await w.events("membership.grant")
    assert sorted(e.details["reactivated"] for e in events) == [False, True]
    [stored] = (await w.memberships.of_app(ADMIN, TENANT, "billing", 10, 0, "")).items
    assert stored == membership


@pytest.mark.parametrize("revoke", [False, True], ids=["grant", "revoke"])
async def test_an_unknown_user_or_app_is_not_found_and_nothing_is_stored(
    w: World, revoke: bool
) -> None:
    call = w.memberships.revoke if revoke else w.memberships.grant
    before = w.state()
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, "nobody@example.com", "billing")
    assert caught.value.reason == "USER_NOT_FOUND"
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, w.ann.id, "nope")
    assert caught.value.reason == "APP_NOT_FOUND"
    assert w.state() == before


# -- revoke ---------------------------------------------------------------------------------------


async def test_revoke_keeps_the_row_revoked_and_bumps_the_token_version_once(w: World) -> None:
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    revoked = await w.memberships.revoke(ADMIN, TENANT, "ann@example.com", w.billing.id)
    assert (revoked.status, revoked.revoked_at, revoked.granted_by) == (
        MembershipStatus.REVOKED,
        fakes.NOW,
        "acme/tc_admin",
    )
    ann = await w.user(w.ann.id)
    assert (ann.token_version, ann.version, ann.status) == (2, 2, UserStatus.ACTIVE)
    [event] = await w.events("membership.revoke")
    assert (event.target_type, event.target_id, event.details) == (
        "user",
        w.ann.id,
        {"app": "billing", "token_version": 2},
    )
    assert w.bus.changes[-1] == Change(TENANT, "user", w.ann.id)


async def test_revoking_a_revoked_membership_bumps_and_audits_nothing(w: World) -> None:
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    first = await w.memberships.revoke(ADMIN, TENANT, w.ann.id, "billing")
    published = list(w.bus.changes)
    again = await w.memberships.revoke(ADMIN, TENANT, w.ann.id, "billing")
    assert again == first
    assert (await w.user(w.ann.id)).token_version == 2
    assert len(await w.events("membership.revoke")) == 1
    assert w.bus.changes == published


async def test_revoke_without_a_membership_is_membership_not_found(w: World) -> None:
    before = w.state()
    with pytest.raises(NotFound) as caught:
        await w.memberships.revoke(ADMIN, TENANT, w.ann.id, "billing")
    assert caught.value.reason == "MEMBERSHIP_NOT_FOUND"
    assert w.state() == before


async def test_revoking_one_app_leaves_the_other_memberships_active(w: World) -> None:
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "shop")
    await w.memberships.revoke(ADMIN, TENANT, w.ann.id, "billing")
    page = await w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "")
    assert [(m.app_slug, m.status) for m in page.items] == [
        ("billing", MembershipStatus.REVOKED),
        ("shop", MembershipStatus.ACTIVE),
    ]


# -- no escalation --------------------------------------------------------------------------------


@pytest.mark.parametrize("revoke", [False, True], ids=["grant", "revoke"])
async def test_a_user_holding_more_than_the_caller_outranks_it(w: World, revoke: bool) -> None:
    bob = await privileged(w)
    if revoke:
        await w.memberships.grant(ADMIN, TENANT, bob.id, "billing")
    before, published = w.state(), list(w.bus.changes)
    call = w.memberships.revoke if revoke else w.memberships.grant
    with pytest.raises(PermissionDenied) as caught:
        await call(limited(), TENANT, bob.id, "billing")
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    [denied] = await w.events("escalation.denied")
    assert (denied.actor_id, denied.tenant_slug, denied.target_type, denied.target_id) == (
        "tc_limited",
        TENANT,
        "user",
        bob.id,
    )
    assert denied.details == {
        "operation": "membership.revoke" if revoke else "membership.grant",
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


async def test_a_caller_manages_memberships_of_users_holding_no_more_than_it(w: World) -> None:
    _, created = await w.memberships.grant(limited(), TENANT, w.ann.id, "billing")
    revoked = await w.memberships.revoke(limited(), TENANT, w.ann.id, "billing")
    assert (created, revoked.status) == (True, MembershipStatus.REVOKED)


# -- lists ----------------------------------------------------------------------------------------


async def test_lists_filter_on_status(w: World) -> None:
    bob = await w.features.users.create(ADMIN, TENANT, UserDraft("bob@example.com"))
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, "shop")
    await w.memberships.grant(ADMIN, TENANT, bob.id, "billing")
    await w.memberships.revoke(ADMIN, TENANT, bob.id, "billing")

    def apps_and_users(items: list[Membership]) -> list[tuple[str, str]]:
        return [(m.app_slug, m.user_email) for m in items]

    of_app = await w.memberships.of_app(ADMIN, TENANT, w.billing.id, 10, 0, "")
    assert apps_and_users(of_app.items) == [
        ("billing", "ann@example.com"),
        ("billing", "bob@example.com"),
    ]
    revoked = await w.memberships.of_app(ADMIN, TENANT, "billing", 10, 0, "revoked")
    assert apps_and_users(revoked.items) == [("billing", "bob@example.com")]
    active = await w.memberships.of_user(ADMIN, TENANT, "bob@example.com", 10, 0, "active")
    assert active.items == []
    mine = await w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "active")
    assert apps_and_users(mine.items) == [
        ("billing", "ann@example.com"),
        ("shop", "ann@example.com"),
    ]


@pytest.mark.parametrize("of", ["user", "app"])
async def test_an_unknown_status_filter_is_status_invalid(w: World, of: str) -> None:
    listing = (
        w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "pending")
        if of == "user"
        else w.memberships.of_app(ADMIN, TENANT, "billing", 10, 0, "pending")
    )
    with pytest.raises(InvalidArgument) as caught:
        await listing
    assert caught.value.reason == "STATUS_INVALID"


async def test_lists_of_unknown_users_or_apps_are_not_found(w: World) -> None:
    with pytest.raises(NotFound) as caught:
        await w.memberships.of_user(ADMIN, TENANT, "nobody@example.com", 10, 0, "")
    assert caught.value.reason == "USER_NOT_FOUND"
    with pytest.raises(NotFound) as caught:
        await w.memberships.of_app(ADMIN, TENANT, "nope", 10, 0, "")
    assert caught.value.reason == "APP_NOT_FOUND"


# -- admit ----------------------------------------------------------------------------------------


def refs(w: World, by: str) -> tuple[str, str, str]:
    """(tenant, billing, shop) as ids or slugs."""
    if by == "id":
        return w.seeded.tenant.id, w.billing.id, w.shop.id
    return TENANT, "billing", "shop"


@pytest.mark.parametrize("by", ["slug", "id"])
async def test_an_active_member_is_admitted_at_their_token_version(w: World, by: str) -> None:
    tenant, billing, _ = refs(w, by)
    granted, _ = await w.memberships.grant(ADMIN, TENANT, w.ann.id, "billing")
    await w.features.users.logout_everywhere(ADMIN, TENANT, w.ann.id, 0)
    before, published = w.state(), list(w.bus.changes)
    admission = await w.memberships.admit(TOKEN, tenant, w.ann.id, billing)
    assert (admission.membership, admission.token_version, admission.created) == (
        granted,
        2,
        False,
    )
    assert w.state() == before
    assert w.bus.changes == published


@pytest.mark.parametrize("by", ["slug", "id"])
async def test_first_login_to_an_auto_grant_app_creates_the_membership(w: World, by: str) -> None:
    tenant, _, shop = refs(w, by)
    admission = await w.memberships.admit(TOKEN, tenant, w.ann.id, shop)
    assert (admission.created, admission.token_version) == (True, 1)
    assert admission.membership == Membership(
        user_id=w.ann.id,
        user_email="ann@example.com",
        app_id=w.shop.id,
        app_slug="shop",
        status=MembershipStatus.ACTIVE,
        granted_at=fakes.NOW,
        granted_by=AUTO_GRANT_ACTOR,
        revoked_at=None,
    )
    [stored] = (await w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "")).items
    assert stored == admission.membership
    [event] = await w.events("membership.auto_grant")
    assert (event.actor_type, event.actor_id, event.actor_tenant) == (
        "service",
        "service:token",
        "control-plane",
    )
    assert (event.tenant_slug, event.target_type, event.target_id, event.details) == (
        TENANT,
        "user",
        w.ann.id,
        {"app": "shop"},
    )
    assert w.bus.changes == [Change(TENANT, "user", w.ann.id)]


async def test_the_next_login_finds_the_auto_granted_membership(w: World) -> None:
    first = await w.memberships.admit(TOKEN, TENANT, w.ann.id, "shop")
    published = list(w.bus.changes)
    second = await w.memberships.admit(TOKEN, TENANT, w.ann.id, "shop")
    assert (second.created, second.membership) == (False, first.membership)
    assert len(await w.events("membership.auto_grant")) == 1
    assert w.bus.changes == published


async def test_no_membership_without_auto_grant_is_not_a_member(w: World) -> None:
    before = w.state()
    with pytest.raises(PermissionDenied) as caught:
        await w.memberships.admit(TOKEN, TENANT, w.ann.id, "billing")
    assert caught.value.reason == "NOT_A_MEMBER"
    assert w.state() == before
    assert w.bus.changes == []


@pytest.mark.parametrize("app", ["billing", "shop"], ids=["manual", "auto-grant"])
async def test_a_revoked_membership_is_never_re_granted_automatically(w: World, app: str) -> None:
    await w.memberships.grant(ADMIN, TENANT, w.ann.id, app)
    revoked = await w.memberships.revoke(ADMIN, TENANT, w.ann.id, app)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await w.memberships.admit(TOKEN, TENANT, w.ann.id, app)
    assert caught.value.reason == "NOT_A_MEMBER"
    assert "revoked" in caught.value.message
    assert w.state() == before
    assert w.bus.changes == published
    assert await w.events("membership.auto_grant") == []
    [stored] = (await w.memberships.of_user(ADMIN, TENANT, w.ann.id, 10, 0, "")).items
    assert stored == revoked


@pytest.mark.parametrize("app", ["billing", "shop"], ids=["member", "auto-grant"])
async def test_a_disabled_user_is_user_disabled(w: World, app: str) -> None:
    if app == "billing":
        await w.memberships.grant(ADMIN, TENANT, w.ann.id, app)
    await w.features.users.disable(ADMIN, TENANT, w.ann.id, 0)
    before = w.state()
    with pytest.raises(PermissionDenied) as caught:
        await w.memberships.admit(TOKEN, TENANT, w.ann.id, app)
    assert caught.value.reason == "USER_DISABLED"
    assert w.state() == before


@pytest.mark.parametrize("app", ["billing", "shop"], ids=["member", "auto-grant"])
async def test_a_disabled_app_is_app_disabled(w: World, app: str) -> None:
    if app == "billing":
        await w.memberships.grant(ADMIN, TENANT, w.ann.id, app)
    await w.features.apps.update(ADMIN, TENANT, app, AppPatch(enabled=False), 0)
    before = w.state()
    with pytest.raises(PermissionDenied) as caught:
        await w.memberships.admit(TOKEN, TENANT, w.ann.id, app)
    assert caught.value.reason == "APP_DISABLED"
    assert w.state() == before


async def test_admit_reports_an_unknown_tenant_user_or_app(w: World) -> None:
    for tenant, user, app, reason in [
        ("globex", w.ann.id, "shop", "TENANT_NOT_FOUND"),
        (TENANT, "00000000-0000-0000-0000-000000000000", "shop", "USER_NOT_FOUND"),
        (TENANT, w.ann.id, "nope", "APP_NOT_FOUND"),
    ]:
        with pytest.raises(NotFound) as caught:
            await w.memberships.admit(TOKEN, tenant, user, app)
        assert caught.value.reason == reason
    assert await w.events("membership.auto_grant") == []


async def test_admit_never_crosses_tenants(w: World) -> None:
    await w.features.tenants.create(fakes.operator(), TenantDraft("globex", "Globex"))
    globex = fakes.tenant_admin("globex")
    zed = await w.features.users.create(globex, "globex", UserDraft("zed@example.com"))
    foreign, _ = await w.features.apps.create(
        globex,
        "globex",
        AppDraft(slug="portal", display_name="Portal", region="eu", auto_grant_on_signup=True),
    )
    with pytest.raises(NotFound) as caught:
        await w.memberships.admit(TOKEN, TENANT, zed.id, "shop")
    assert caught.value.reason == "USER_NOT_FOUND"
    with pytest.raises(NotFound) as caught:
        await w.memberships.admit(TOKEN, TENANT, w.ann.id, foreign.id)
    assert caught.value.reason == "APP_NOT_FOUND"
    assert await w.events("membership.auto_grant") == []


async def test_two_first_logins_racing_to_auto_grant_both_get_in() -> None:
    """The other login commits the membership while this one is about to insert it: this one
    meets MEMBERSHIP_EXISTS and admits the user on a second pass."""

    class RacedMemberships:
        def __init__(self, inner: Any, db: MemoryDatabase[MemoryTables]) -> None:
            self._inner, self._db = inner, db

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        async def insert(self, membership: Membership) -> None:
            raced.append(membership)
            # The other login's transaction commits the same membership meanwhile.
            await MemoryStores(self._db.state).memberships.insert(membership)
            raise unique_violation("memberships", "user_id", "app_id")

    class RacedStores:
        def __init__(self, inner: MemoryStores, db: MemoryDatabase[MemoryTables]) -> None:
            self._inner, self._db = inner, db

        def __getattr__(self, name: str) -> Any:
            if name == "memberships":
                return RacedMemberships(self._inner.memberships, self._db)
            return getattr(self._inner, name)

    class RacedUnitOfWork:
        def __init__(self, db: MemoryDatabase[MemoryTables]) -> None:
            self._inner, self._db = memory_unit_of_work(db), db
            self.racing = False

        @asynccontextmanager
        async def transaction(self) -> AsyncIterator[Any]:
            async with self._inner.transaction() as tx:
                yield RacedStores(tx, self._db) if self.racing else tx

        def read(self) -> Any:
            return self._inner.read()

    holder: list[RacedUnitOfWork] = []
    raced: list[Membership] = []

    def uow(db: MemoryDatabase[MemoryTables]) -> RacedUnitOfWork:
        holder.append(RacedUnitOfWork(db))
        return holder[0]

    w = await world(uow)
    holder[0].racing = True
    admission = await w.memberships.admit(TOKEN, TENANT, w.ann.id, "shop")
    assert (admission.created, admission.membership.status) == (False, MembershipStatus.ACTIVE)
    assert admission.membership.app_id == w.shop.id
    assert [m.app_id for m in raced] == [w.shop.id]  # the race did happen
    assert await w.events("membership.auto_grant") == []  # the other login's to record
