"""The group use cases (services.registry.groups.use_cases) over the in-memory stores: who may
call them, what they refuse, what they change, audit and publish (Modgud seed "Groups via
BoundTo", ARCHITECTURE §2 and §7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from services.registry.apps.models import App, AppDraft
from services.registry.features import Features
from services.registry.groups.models import Group, GroupDraft, GroupPatch
from services.registry.groups.use_cases import GroupUseCases
from services.registry.roles.models import PermissionRef, Role, RoleDraft
from services.registry.tenants.models import TenantDraft
from services.registry.users.models import User, UserDraft
from tests.unit.registry import fakes

TENANT = "acme"
ADMIN = fakes.tenant_admin(TENANT)

# -- the world the tests run in ----------------------------------------------------------------


@dataclass
class World(fakes.MemoryWorld):
    @property
    def groups(self) -> GroupUseCases:
        return self.features.groups


@pytest.fixture
async def w() -> World:
    s = await fakes.memory_world(tenant=TENANT)
    return World(s.features, s.db, s.bus, s.seeded)


@pytest.fixture
async def apps(w: World) -> tuple[App, App]:
    billing, _ = await fakes.app(w.seeded, "billing")
    shop, _ = await fakes.app(w.seeded, "shop")
    w.bus.changes.clear()
    return billing, shop


async def new_group(w: World, code: str = "staff", *bound_to: str) -> Group:
    return await w.groups.create(
        ADMIN, TENANT, GroupDraft(code=code, name=code.title(), bound_to=bound_to or ("*",))
    )


async def new_role(w: World, code: str, *admin_permissions: str) -> Role:
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code=code, name=code.title()))
    if not admin_permissions:
        return role
    refs = [PermissionRef("tessera", p) for p in admin_permissions]
    return await w.features.roles.set_permissions(ADMIN, TENANT, role.id, refs, "")


async def new_user(w: World, email: str = "ann@example.com") -> User:
    return await w.features.users.create(ADMIN, TENANT, UserDraft(email))


async def privileged_group(w: World) -> Group:
    """A group whose role carries tessera client:write, which ``fakes.limited()`` lacks."""
    group = await new_group(w, "ops")
    await new_role(w, "client-manager", "client:write")
    return await w.groups.set_roles(ADMIN, TENANT, group.id, ["client-manager"], "")


# -- who may call ---------------------------------------------------------------------------------

WRITES: list[tuple[str, Callable[[Features, Principal], Awaitable[Any]]]] = [
    ("create", lambda f, p: f.groups.create(p, TENANT, GroupDraft("staff", "Staff", ("*",)))),
    ("update", lambda f, p: f.groups.update(p, TENANT, "staff", GroupPatch(name="S"), "")),
    ("set_roles", lambda f, p: f.groups.set_roles(p, TENANT, "staff", ["viewer"], "")),
    ("delete", lambda f, p: f.groups.delete(p, TENANT, "staff", "")),
    ("add_member", lambda f, p: f.groups.add_member(p, TENANT, "staff", "u")),
    ("remove_member", lambda f, p: f.groups.remove_member(p, TENANT, "staff", "u")),
]


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[n for n, _ in WRITES])
async def test_group_writes_need_user_write_before_storage(
    name: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin(TENANT, "user:read", "role:write"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "user:write"},
    )


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[n for n, _ in WRITES])
async def test_group_writes_in_another_tenant_are_tenant_forbidden_before_storage(
    name: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


async def test_set_roles_needs_role_write_as_well_before_storage() -> None:
    with pytest.raises(PermissionDenied) as caught:
        await fakes.untouchable().groups.set_roles(
            fakes.tenant_admin(TENANT, "user:read", "user:write", "role:read"),
            TENANT,
            "staff",
            ["viewer"],
            "",
        )
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "role:write"},
    )


async def test_other_group_writes_do_without_role_write(w: World) -> None:
    caller = fakes.limited("user:write")
    user = await new_user(w)
    group = await w.groups.create(caller, TENANT, GroupDraft("staff", "Staff", ("*",)))
    group = await w.groups.update(caller, TENANT, group.id, GroupPatch(name="Team"), "")
    await w.groups.add_member(caller, TENANT, group.id, user.id)
    await w.groups.remove_member(caller, TENANT, group.id, user.id)
    await w.groups.delete(caller, TENANT, group.id, "")
    assert len(await w.events("group.delete")) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda f, p: f.groups.get(p, TENANT, "staff"),
        lambda f, p: f.groups.search(p, TENANT, 10, 0, ""),
    ],
    ids=["get", "search"],
)
async def test_group_reads_need_user_read_before_storage(
    call: Callable[[Features, Principal], Awaitable[Any]],
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin(TENANT, "user:write", "role:read"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "user:read"},
    )


# -- create -------------------------------------------------------------------------------------


async def test_a_group_bound_to_star_is_bound_to_every_app(w: World) -> None:
    group = await new_group(w, "staff", " * ")
    assert (group.all_apps, group.apps, group.bound_to, group.roles) == (True, (), ("*",), ())
    assert await w.groups.get(ADMIN, TENANT, "staff") == group
    [event] = await w.events("group.create")
    assert (event.target_type, event.target_id, event.actor_id, event.tenant_slug) == (
        "group",
        group.id,
        "tc_admin",
        TENANT,
    )
    assert event.details == {"code": "staff", "bound_to": ["*"]}
    assert w.bus.changes == [Change(TENANT, "group", group.id)]


async def test_apps_are_named_by_id_or_slug_once_each_in_slug_order(
    w: World, apps: tuple[App, App]
) -> None:
    billing, shop = apps
    group = await new_group(w, "staff", "shop", billing.id, " billing ")
    assert (group.all_apps, group.bound_to) == (False, ("billing", "shop"))
    assert {a.id for a in group.apps} == {billing.id, shop.id}
    [event] = await w.events("group.create")
    assert event.details == {"code": "staff", "bound_to": ["billing", "shop"]}


async def test_star_must_stand_alone(w: World, apps: tuple[App, App]) -> None:
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await new_group(w, "staff", "billing", "*")
    assert fakes.reasons(caught.value) == [("bound_to[1]", "BOUND_TO_WILDCARD_NOT_ALONE")]
    assert w.state() == before


async def test_create_reports_every_bad_field_and_each_unknown_app_and_stores_nothing(
    w: World, apps: tuple[App, App]
) -> None:
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.groups.create(
            ADMIN,
            TENANT,
            GroupDraft(code="Staff!", name="", bound_to=("billing", "nope", "shop", "gone")),
        )
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reasons(caught.value) == [
        ("code", "GROUP_CODE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("bound_to[1]", "APP_NOT_FOUND"),
        ("bound_to[3]", "APP_NOT_FOUND"),
    ]
    assert w.state() == before
    assert w.bus.changes == []


async def test_an_app_of_another_tenant_is_not_found(w: World) -> None:
    await w.features.tenants.create(fakes.operator(), TenantDraft("globex", "Globex"))
    other, _ = await w.features.apps.create(
        fakes.tenant_admin("globex"),
        "globex",
        AppDraft(slug="foreign", display_name="Foreign", region="eu"),
    )
    with pytest.raises(InvalidArgument) as caught:
        await new_group(w, "staff", other.id)
    assert fakes.reasons(caught.value) == [("bound_to[0]", "APP_NOT_FOUND")]


async def test_create_refuses_a_taken_code(w: World) -> None:
    await new_group(w)
    before = w.state()
    with pytest.raises(AlreadyExists) as caught:
        await new_group(w)
    assert caught.value.reason == "GROUP_CODE_TAKEN"
    assert w.state() == before


async def test_an_unknown_group_is_group_not_found(w: World) -> None:
    with pytest.raises(NotFound) as caught:
        await w.groups.get(ADMIN, TENANT, "nope")
    assert caught.value.reason == "GROUP_NOT_FOUND"


# -- update ---------------------------------------------------------------------------------------


async def test_update_renames_and_rebinds_audited_with_the_changed_fields(
    w: World, apps: tuple[App, App]
) -> None:
    group = await new_group(w)
    updated = await w.groups.update(
        ADMIN, TENANT, group.code, GroupPatch(name="Team", bound_to=("shop",)), group.etag
    )
    assert (updated.name, updated.all_apps, updated.bound_to) == ("Team", False, ("shop",))
    assert updated.etag != group.etag
    assert await w.groups.get(ADMIN, TENANT, group.id) == updated
    [event] = await w.events("group.update")
    assert (event.target_id, event.details) == (
        group.id,
        {"fields": ["name", "bound_to"], "bound_to": ["shop"]},
    )
    assert w.bus.changes[-1] == Change(TENANT, "group", group.id)


async def test_an_update_that_changes_nothing_is_not_audited(
    w: World, apps: tuple[App, App]
) -> None:
    billing, _ = apps
    group = await new_group(w, "staff", "billing")
    published = list(w.bus.changes)
    same = await w.groups.update(
        ADMIN, TENANT, group.id, GroupPatch(name=" Staff ", bound_to=(billing.id,)), group.etag
    )
    assert same == group
    assert await w.events("group.update") == []
    assert w.bus.changes == published


async def test_resending_the_same_apps_in_another_order_changes_nothing(
    w: World, apps: tuple[App, App]
) -> None:
    group = await new_group(w, "staff", "billing", "shop")
    published = list(w.bus.changes)
    same = await w.groups.update(
        ADMIN, TENANT, group.id, GroupPatch(bound_to=("shop", "billing")), group.etag
    )
    assert (same.bound_to, same.etag) == (("billing", "shop"), group.etag)
    assert await w.events("group.update") == []
    assert w.bus.changes == published


async def test_update_reports_a_bad_name_and_each_unknown_app_and_stores_nothing(
    w: World, apps: tuple[App, App]
) -> None:
    group = await new_group(w)
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.groups.update(
            ADMIN, TENANT, group.id, GroupPatch(name=" ", bound_to=("nope", "shop")), ""
        )
    assert fakes.reasons(caught.value) == [
        ("name", "DISPLAY_NAME_EMPTY"),
        ("bound_to[0]", "APP_NOT_FOUND"),
    ]
    with pytest.raises(InvalidArgument) as caught:
        await w.groups.update(ADMIN, TENANT, group.id, GroupPatch(bound_to=("*", "shop")), "")
    assert fakes.reasons(caught.value) == [("bound_to[0]", "BOUND_TO_WILDCARD_NOT_ALONE")]
    assert w.state() == before


# -- ETags and not-found -------------------------------------------------------------------------

ETAGGED: list[tuple[str, Callable[[Features, str, str], Awaitable[Any]]]] = [
    ("update", lambda f, g, e: f.groups.update(ADMIN, TENANT, g, GroupPatch(name="New"), e)),
    ("set_roles", lambda f, g, e: f.groups.set_roles(ADMIN, TENANT, g, ["viewer"], e)),
    ("delete", lambda f, g, e: f.groups.delete(ADMIN, TENANT, g, e)),
]


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_a_stale_etag_is_version_mismatch_and_changes_nothing(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    await new_role(w, "viewer")
    group = await new_group(w)
    stale = group.etag
    current = await w.groups.update(ADMIN, TENANT, group.id, GroupPatch(name="Renamed"), stale)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(StaleVersion) as caught:
        await call(w.features, group.id, stale)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_etag": current.etag}
    assert w.state() == before
    assert w.bus.changes == published


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_an_empty_etag_writes_unconditionally(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    await new_role(w, "viewer")
    group = await new_group(w)
    await w.groups.update(ADMIN, TENANT, group.id, GroupPatch(name="Renamed"), "")
    w.bus.changes.clear()
    await call(w.features, group.id, "")
    assert w.bus.changes == [Change(TENANT, "group", group.id)]


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_writes_on_an_unknown_group_are_group_not_found(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    await new_role(w, "viewer")
    with pytest.raises(NotFound) as caught:
        await call(w.features, "nope", "")
    assert caught.value.reason == "GROUP_NOT_FOUND"


# -- roles ----------------------------------------------------------------------------------------


async def test_set_roles_replaces_the_roles_audited_and_published(w: World) -> None:
    viewer = await new_role(w, "viewer")
    await new_role(w, "editor")
    group = await new_group(w)
    first = await w.groups.set_roles(ADMIN, TENANT, group.id, [viewer.id, " viewer "], group.etag)
    assert [r.code for r in first.roles] == ["viewer"]
    assert first.etag != group.etag
    second = await w.groups.set_roles(ADMIN, TENANT, group.id, ["editor"], first.etag)
    assert [r.code for r in second.roles] == ["editor"]
    assert await w.groups.get(ADMIN, TENANT, group.id) == second
    events = await w.events("group.roles.set")
    assert sorted(tuple(e.details["roles"]) for e in events) == [("editor",), ("viewer",)]
    assert {(e.target_type, e.target_id) for e in events} == {("group", group.id)}
    assert w.bus.changes[-2:] == [Change(TENANT, "group", group.id)] * 2


async def test_setting_the_roles_a_group_has_changes_nothing(w: World) -> None:
    viewer = await new_role(w, "viewer")
    group = await new_group(w)
    first = await w.groups.set_roles(ADMIN, TENANT, group.id, ["viewer"], "")
    published = list(w.bus.changes)
    again = await w.groups.set_roles(ADMIN, TENANT, group.id, [viewer.id], first.etag)
    assert again == first
    assert len(await w.events("group.roles.set")) == 1
    assert w.bus.changes == published


async def test_set_roles_reports_each_unknown_role_and_stores_nothing(w: World) -> None:
    await new_role(w, "viewer")
    group = await new_group(w)
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.groups.set_roles(ADMIN, TENANT, group.id, ["nope", "viewer", "gone"], "")
    assert fakes.reasons(caught.value) == [
        ("roles[0]", "ROLE_NOT_FOUND"),
        ("roles[2]", "ROLE_NOT_FOUND"),
    ]
    assert w.state() == before


async def test_adding_a_role_with_admin_permissions_the_caller_lacks_is_escalation(
    w: World,
) -> None:
    await new_role(w, "client-manager", "client:write", "user:read")
    group = await new_group(w)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await w.groups.set_roles(fakes.limited(), TENANT, group.id, ["client-manager"], "")
    assert caught.value.reason == "ESCALATION"
    assert caught.value.metadata == {"permissions": "client:write"}
    [denied] = await w.events("escalation.denied")
    assert (denied.actor_id, denied.tenant_slug, denied.target_type, denied.target_id) == (
        "tc_limited",
        TENANT,
        "group",
        group.id,
    )
    assert denied.details == {
        "operation": "group.roles.set",
        "reason": "ESCALATION",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


async def test_a_caller_gives_a_group_roles_with_what_it_holds(w: World) -> None:
    await new_role(w, "reader", "user:read")
    group = await new_group(w)
    done = await w.groups.set_roles(fakes.limited(), TENANT, group.id, ["reader"], "")
    assert [r.code for r in done.roles] == ["reader"]


# -- delete ---------------------------------------------------------------------------------------


async def test_delete_removes_the_group_with_its_members_audited_and_published(
    w: World,
) -> None:
    user = await new_user(w)
    group = await new_group(w)
    await w.groups.add_member(ADMIN, TENANT, group.id, user.id)
    await w.groups.delete(ADMIN, TENANT, group.code, "")
    with pytest.raises(NotFound):
        await w.groups.get(ADMIN, TENANT, group.id)
    assert (await w.features.users.get(ADMIN, TENANT, user.id)).groups == ()
    [event] = await w.events("group.delete")
    assert (event.target_type, event.target_id, event.details) == (
        "group",
        group.id,
        {"code": "staff"},
    )
    assert w.bus.changes[-1] == Change(TENANT, "group", group.id)


# -- members --------------------------------------------------------------------------------------


async def test_add_member_is_audited_once_and_idempotent(w: World) -> None:
    user = await new_user(w)
    group = await new_group(w)
    await w.groups.add_member(ADMIN, TENANT, group.code, user.email)
    assert (await w.features.users.get(ADMIN, TENANT, user.id)).groups == ("staff",)
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)
    published = list(w.bus.changes)
    await w.groups.add_member(ADMIN, TENANT, group.id, user.id)
    [event] = await w.events("group.member.add")
    assert (event.target_type, event.target_id, event.details) == (
        "group",
        group.id,
        {"user_id": user.id, "email": "ann@example.com"},
    )
    assert w.bus.changes == published


async def test_remove_member_is_audited_once_and_idempotent(w: World) -> None:
    user = await new_user(w)
    group = await new_group(w)
    await w.groups.add_member(ADMIN, TENANT, group.id, user.id)
    await w.groups.remove_member(ADMIN, TENANT, group.id, user.id)
    assert (await w.features.users.get(ADMIN, TENANT, user.id)).groups == ()
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)
    published = list(w.bus.changes)
    await w.groups.remove_member(ADMIN, TENANT, group.id, user.id)
    [event] = await w.events("group.member.remove")
    assert (event.target_id, event.details) == (
        group.id,
        {"user_id": user.id, "email": "ann@example.com"},
    )
    assert w.bus.changes == published


@pytest.mark.parametrize("add", [True, False], ids=["add", "remove"])
async def test_an_unknown_member_or_group_is_not_found(w: World, add: bool) -> None:
    user = await new_user(w)
    await new_group(w)
    call = w.groups.add_member if add else w.groups.remove_member
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, "staff", "nobody@example.com")
    assert caught.value.reason == "USER_NOT_FOUND"
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, "nope", user.id)
    assert caught.value.reason == "GROUP_NOT_FOUND"


async def test_joining_a_group_whose_roles_the_caller_lacks_is_escalation(w: World) -> None:
    group = await privileged_group(w)
    user = await new_user(w)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await w.groups.add_member(fakes.limited(), TENANT, group.id, user.id)
    assert caught.value.reason == "ESCALATION"
    [denied] = await w.events("escalation.denied")
    assert (denied.target_type, denied.target_id) == ("group", group.id)
    assert denied.details == {
        "operation": "group.member.add",
        "reason": "ESCALATION",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


@pytest.mark.parametrize("add", [True, False], ids=["add", "remove"])
async def test_a_member_holding_more_than_the_caller_outranks_it(w: World, add: bool) -> None:
    user = await new_user(w)
    await new_role(w, "client-manager", "client:write")
    await w.features.users.assign_role(ADMIN, TENANT, user.id, "client-manager")
    group = await new_group(w)
    if not add:
        await w.groups.add_member(ADMIN, TENANT, group.id, user.id)
    before = w.state()
    call = w.groups.add_member if add else w.groups.remove_member
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.limited(), TENANT, group.id, user.id)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    [denied] = await w.events("escalation.denied")
    assert (denied.target_type, denied.target_id) == ("user", user.id)
    assert denied.details == {
        "operation": "group.member.add" if add else "group.member.remove",
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before


OUTRANKED: list[tuple[str, str, Callable[[Features, Principal, str], Awaitable[Any]]]] = [
    ("update", "group.update", lambda f, p, g: f.groups.update(p, TENANT, g, GroupPatch("X"), "")),
    ("set_roles", "group.roles.set", lambda f, p, g: f.groups.set_roles(p, TENANT, g, [], "")),
    ("delete", "group.delete", lambda f, p, g: f.groups.delete(p, TENANT, g, "")),
    (
        "remove_member",
        "group.member.remove",
        lambda f, p, g: f.groups.remove_member(p, TENANT, g, "bob@example.com"),
    ),
]


@pytest.mark.parametrize(("name", "operation", "call"), OUTRANKED, ids=[n for n, _, _ in OUTRANKED])
async def test_a_group_giving_more_than_the_caller_holds_outranks_it(
    w: World,
    name: str,
    operation: str,
    call: Callable[[Features, Principal, str], Awaitable[Any]],
) -> None:
    group = await privileged_group(w)
    await new_user(w, "bob@example.com")  # holds nothing himself
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await call(w.features, fakes.limited(), group.id)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert caught.value.metadata == {"permissions": "client:write"}
    [denied] = await w.events("escalation.denied")
    assert (denied.target_type, denied.target_id, denied.actor_id) == (
        "group",
        group.id,
        "tc_limited",
    )
    assert denied.details == {
        "operation": operation,
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


async def test_a_caller_holding_what_the_group_gives_may_act_on_it(w: World) -> None:
    group = await privileged_group(w)
    user = await new_user(w)
    caller = fakes.limited("user:write", "client:write")
    await w.groups.add_member(caller, TENANT, group.id, user.id)
    await w.groups.remove_member(caller, TENANT, group.id, user.id)
    await w.groups.delete(caller, TENANT, group.id, "")
    assert await w.events("escalation.denied") == []
