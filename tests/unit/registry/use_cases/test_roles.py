"""The role use cases (services.registry.roles.use_cases) over the in-memory stores: who may
call them, what they refuse, what they change, audit and publish (Modgud seed "Roles with
AppId", ARCHITECTURE §2 and §7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from services.common.vocabulary import TESSERA_PERMISSIONS
from services.registry.apps.models import App
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientDraft
from services.registry.features import Features
from services.registry.groups.models import GroupDraft
from services.registry.roles.models import PermissionRef, Role, RoleDraft, RolePatch
from services.registry.roles.use_cases import RoleUseCases
from services.registry.users.models import UserDraft
from tests.unit.registry import fakes

TENANT = "acme"
ADMIN = fakes.tenant_admin(TENANT)

# -- the world the tests run in ----------------------------------------------------------------


@dataclass
class World(fakes.MemoryWorld):
    @property
    def roles(self) -> RoleUseCases:
        return self.features.roles


@pytest.fixture
async def w() -> World:
    s = await fakes.memory_world(tenant=TENANT)
    return World(s.features, s.db, s.bus, s.seeded)


def limited(*permissions: str) -> Principal:
    """A caller of the tenant managing roles but holding no other admin permission."""
    return fakes.limited(*(permissions or ("role:read", "role:write")))


def granted(role: Role) -> list[str]:
    return [f"{p.service}/{p.code}" for p in role.permissions]


async def register(w: World, service: str, *codes: str) -> None:
    """Declare ``service``'s catalog (as the service itself would, with permission:write)."""
    await w.features.catalog.register(
        fakes.tenant_admin(TENANT, "permission:write"),
        TENANT,
        service,
        [PermissionDeclaration(code) for code in codes],
    )


@pytest.fixture
async def apps(w: World) -> tuple[App, App]:
    """Apps ``billing`` and ``shop``, each with a catalog of its own service."""
    billing, _ = await fakes.app(w.seeded, "billing", service_codes=("billing",))
    shop, _ = await fakes.app(w.seeded, "shop", service_codes=("shop",))
    await register(w, "billing", "invoice:read", "invoice:write", "invoice:void")
    await register(w, "shop", "cart:read")
    w.bus.changes.clear()
    return billing, shop


async def new_role(w: World, code: str = "billing-clerk", app: str = "") -> Role:
    return await w.roles.create(ADMIN, TENANT, RoleDraft(code=code, name=code.title(), app=app))


async def admin_role(w: World, code: str, *permissions: str) -> Role:
    role = await new_role(w, code)
    refs = [PermissionRef("tessera", p) for p in permissions]
    return await w.roles.set_permissions(ADMIN, TENANT, role.id, refs, role.etag)


# -- who may call ---------------------------------------------------------------------------------

WRITES: list[tuple[str, Callable[[Features, Principal], Awaitable[Any]]]] = [
    ("create", lambda f, p: f.roles.create(p, TENANT, RoleDraft(code="clerk", name="Clerk"))),
    ("update", lambda f, p: f.roles.update(p, TENANT, "clerk", RolePatch(name="C"), "")),
    ("delete", lambda f, p: f.roles.delete(p, TENANT, "clerk", "")),
    (
        "set_permissions",
        lambda f, p: f.roles.set_permissions(p, TENANT, "clerk", [PermissionRef("a", "b:c")], ""),
    ),
]


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
async def test_role_writes_need_role_write_before_storage(
    name: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin(TENANT, "role:read", "user:write"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "role:write"},
    )


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
async def test_role_writes_in_another_tenant_are_tenant_forbidden_before_storage(
    name: str, call: Callable[[Features, Principal], Awaitable[Any]]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


@pytest.mark.parametrize(
    "call",
    [
        lambda f, p: f.roles.get(p, TENANT, "clerk"),
        lambda f, p: f.roles.search(p, TENANT, 10, 0, ""),
    ],
    ids=["get", "search"],
)
async def test_role_reads_need_role_read_before_storage(
    call: Callable[[Features, Principal], Awaitable[Any]],
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable(), fakes.tenant_admin(TENANT, "role:write"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "role:read"},
    )


# -- create -------------------------------------------------------------------------------------


async def test_create_reports_every_bad_field_with_its_path_and_stores_nothing(w: World) -> None:
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.roles.create(
            ADMIN,
            TENANT,
            RoleDraft(code="Billing Admin", name=" ", description="d" * 501, app="nope"),
        )
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reasons(caught.value) == [
        ("code", "ROLE_CODE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("description", "DESCRIPTION_TOO_LONG"),
        ("app", "APP_NOT_FOUND"),
    ]
    assert w.state() == before
    assert w.bus.changes == []


@pytest.mark.parametrize("code", ["tenant-admin", "platform-admin"])
async def test_create_refuses_a_system_roles_code(w: World, code: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await new_role(w, code)
    assert fakes.reasons(caught.value) == [("code", "ROLE_CODE_RESERVED")]


async def test_a_tenant_wide_role_starts_without_permissions_audited_and_published(
    w: World,
) -> None:
    role = await w.roles.create(
        ADMIN, TENANT, RoleDraft(code=" clerk ", name=" Clerk ", description=" Files. ")
    )
    assert (role.code, role.name, role.description) == ("clerk", "Clerk", "Files.")
    assert (role.app_id, role.app_slug, role.permissions, role.system) == (None, None, (), False)
    assert await w.roles.get(ADMIN, TENANT, "clerk") == role
    [event] = await w.events("role.create")
    assert (event.target_type, event.target_id, event.actor_id, event.tenant_slug) == (
        "role",
        role.id,
        "tc_admin",
        TENANT,
    )
    assert event.details == {"code": "clerk", "app": None}
    assert w.bus.changes == [Change(TENANT, "role", role.id)]


@pytest.mark.parametrize("by", ["slug", "id"])
async def test_a_role_is_bound_to_the_app_named_by_slug_or_id(
    w: World, apps: tuple[App, App], by: str
) -> None:
    billing, _ = apps
    role = await new_role(w, app=billing.slug if by == "slug" else billing.id)
    assert (role.app_id, role.app_slug) == (billing.id, "billing")
    [event] = await w.events("role.create")
    assert event.details == {"code": "billing-clerk", "app": "billing"}


async def test_create_refuses_a_taken_code(w: World) -> None:
    await new_role(w)
    before = w.state()
    with pytest.raises(AlreadyExists) as caught:
        await new_role(w)
    assert caught.value.reason == "ROLE_CODE_TAKEN"
    assert w.state() == before


# -- reads --------------------------------------------------------------------------------------


async def test_get_finds_a_role_by_id_or_code_and_reports_unknown_ones(w: World) -> None:
    role = await new_role(w)
    assert await w.roles.get(ADMIN, TENANT, role.id) == role
    assert await w.roles.get(ADMIN, TENANT, " billing-clerk ") == role
    with pytest.raises(NotFound) as caught:
        await w.roles.get(ADMIN, TENANT, "nope")
    assert caught.value.reason == "ROLE_NOT_FOUND"


async def test_search_by_app_lists_only_the_roles_bound_to_it(
    w: World, apps: tuple[App, App]
) -> None:
    billing, _ = apps
    bound = await new_role(w, "clerk", app="billing")
    await new_role(w, "seller", app="shop")
    await new_role(w, "auditor")
    page = await w.roles.search(ADMIN, TENANT, 10, 0, billing.id)
    assert [r.id for r in page.items] == [bound.id]
    everything = await w.roles.search(ADMIN, TENANT, 10, 0, "")
    assert [r.code for r in everything.items] == ["auditor", "clerk", "seller", "tenant-admin"]
    with pytest.raises(NotFound) as caught:
        await w.roles.search(ADMIN, TENANT, 10, 0, "nope")
    assert caught.value.reason == "APP_NOT_FOUND"


# -- system roles ----------------------------------------------------------------------------------

SYSTEM_WRITES: list[tuple[str, Callable[[Features, Principal, str], Awaitable[Any]]]] = [
    ("update", lambda f, p, e: f.roles.update(p, TENANT, "tenant-admin", RolePatch(name="X"), e)),
    ("delete", lambda f, p, e: f.roles.delete(p, TENANT, "tenant-admin", e)),
    (
        "set_permissions",
        lambda f, p, e: f.roles.set_permissions(p, TENANT, "tenant-admin", [], e),
    ),
]


@pytest.mark.parametrize(("name", "call"), SYSTEM_WRITES, ids=[n for n, _ in SYSTEM_WRITES])
async def test_a_system_role_cannot_be_changed_even_by_a_tenant_admin(
    w: World, name: str, call: Callable[[Features, Principal, str], Awaitable[Any]]
) -> None:
    system = await w.roles.get(ADMIN, TENANT, "tenant-admin")
    assert sorted(p.code for p in system.permissions) == sorted(TESSERA_PERMISSIONS)
    before = w.state()
    with pytest.raises(FailedPrecondition) as caught:
        await call(w.features, ADMIN, system.etag)
    assert caught.value.reason == "SYSTEM_ROLE"
    assert w.state() == before
    assert w.bus.changes == []


@pytest.mark.parametrize(("name", "call"), SYSTEM_WRITES, ids=[n for n, _ in SYSTEM_WRITES])
async def test_system_role_comes_before_rank_and_etag_checks(
    w: World, name: str, call: Callable[[Features, Principal, str], Awaitable[Any]]
) -> None:
    # The caller is outranked by tenant-admin and sends a stale ETag: SYSTEM_ROLE is the answer
    # (no escalation is recorded: nothing was attempted on a changeable role).
    with pytest.raises(FailedPrecondition) as caught:
        await call(w.features, limited(), "stale")
    assert caught.value.reason == "SYSTEM_ROLE"
    assert await w.events("escalation.denied") == []


# -- update ---------------------------------------------------------------------------------------


async def test_update_validates_its_fields_before_storage() -> None:
    with pytest.raises(InvalidArgument) as caught:
        await fakes.untouchable().roles.update(
            ADMIN, TENANT, "clerk", RolePatch(name="", description="d" * 501), ""
        )
    assert fakes.reasons(caught.value) == [
        ("name", "DISPLAY_NAME_EMPTY"),
        ("description", "DESCRIPTION_TOO_LONG"),
    ]


async def test_update_renames_and_is_audited_with_the_changed_fields(w: World) -> None:
    role = await new_role(w)
    updated = await w.roles.update(
        ADMIN, TENANT, role.code, RolePatch(name="Clerk", description="Files invoices"), role.etag
    )
    assert (updated.code, updated.name, updated.description) == (
        "billing-clerk",
        "Clerk",
        "Files invoices",
    )
    assert updated.etag != role.etag
    assert await w.roles.get(ADMIN, TENANT, role.id) == updated
    [event] = await w.events("role.update")
    assert (event.target_id, event.details) == (role.id, {"fields": ["name", "description"]})
    assert w.bus.changes[-1] == Change(TENANT, "role", role.id)


async def test_an_update_that_changes_nothing_is_not_audited(w: World) -> None:
    role = await new_role(w)
    published = list(w.bus.changes)
    same = await w.roles.update(ADMIN, TENANT, role.id, RolePatch(name=" Billing-Clerk "), "")
    assert same == role
    assert await w.events("role.update") == []
    assert w.bus.changes == published


# -- ETags and not-found -------------------------------------------------------------------------

ETAGGED: list[tuple[str, Callable[[Features, str, str], Awaitable[Any]]]] = [
    ("update", lambda f, r, e: f.roles.update(ADMIN, TENANT, r, RolePatch(name="New"), e)),
    ("delete", lambda f, r, e: f.roles.delete(ADMIN, TENANT, r, e)),
    (
        "set_permissions",
        lambda f, r, e: f.roles.set_permissions(
            ADMIN, TENANT, r, [PermissionRef("tessera", "app:read")], e
        ),
    ),
]


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_a_stale_etag_is_version_mismatch_and_changes_nothing(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    role = await new_role(w)
    stale = role.etag
    current = await w.roles.update(ADMIN, TENANT, role.id, RolePatch(name="Renamed"), stale)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(StaleVersion) as caught:
        await call(w.features, role.id, stale)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_etag": current.etag}
    assert w.state() == before
    assert w.bus.changes == published


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_an_empty_etag_writes_unconditionally(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    role = await new_role(w)
    await w.roles.update(ADMIN, TENANT, role.id, RolePatch(name="Renamed"), "")
    await call(w.features, role.id, "")
    assert len(w.bus.changes) == 3


@pytest.mark.parametrize(("name", "call"), ETAGGED, ids=[n for n, _ in ETAGGED])
async def test_writes_on_an_unknown_role_are_role_not_found(
    w: World, name: str, call: Callable[[Features, str, str], Awaitable[Any]]
) -> None:
    with pytest.raises(NotFound) as caught:
        await call(w.features, "nope", "")
    assert caught.value.reason == "ROLE_NOT_FOUND"


# -- delete ---------------------------------------------------------------------------------------


async def test_delete_removes_the_role_and_its_grants(w: World, apps: tuple[App, App]) -> None:
    role = await new_role(w)
    role = await w.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "invoice:read")], role.etag
    )
    await w.roles.delete(ADMIN, TENANT, role.code, role.etag)
    with pytest.raises(NotFound):
        await w.roles.get(ADMIN, TENANT, role.id)
    links = w.db.state.rows["role_permissions"].values()
    assert [link for link in links if link["role_id"] == role.id] == []
    [event] = await w.events("role.delete")
    assert (event.target_type, event.target_id, event.details) == (
        "role",
        role.id,
        {"code": "billing-clerk"},
    )
    assert w.bus.changes[-1] == Change(TENANT, "role", role.id)


async def test_a_role_still_held_is_role_in_use_naming_every_holder(
    w: World, apps: tuple[App, App]
) -> None:
    billing, _ = apps
    role = await new_role(w, "clerk")
    ann = await w.features.users.create(ADMIN, TENANT, UserDraft("Ann@example.com"))
    await w.features.users.assign_role(ADMIN, TENANT, ann.id, role.id)
    group = await w.features.groups.create(ADMIN, TENANT, GroupDraft("staff", "Staff", ("*",)))
    await w.features.groups.set_roles(ADMIN, TENANT, group.id, [role.id], "")
    client, _ = await w.features.clients.create(
        ADMIN, TENANT, ClientDraft("Robot", apps=(billing.slug,), roles=("clerk",))
    )
    before = w.state()
    with pytest.raises(FailedPrecondition) as caught:
        await w.roles.delete(ADMIN, TENANT, role.id, role.etag)
    assert caught.value.reason == "ROLE_IN_USE"
    assert caught.value.blockers == [
        "user:Ann@example.com",
        "group:staff",
        f"client:{client.client.client_id}",
    ]
    assert w.state() == before
    assert await w.events("role.delete") == []


# -- set_permissions -------------------------------------------------------------------------------


async def test_setting_the_permissions_a_role_has_changes_nothing(
    w: World, apps: tuple[App, App]
) -> None:
    role = await new_role(w)
    refs = [PermissionRef("billing", "invoice:read")]
    first = await w.roles.set_permissions(ADMIN, TENANT, role.id, refs, role.etag)
    published = list(w.bus.changes)
    again = await w.roles.set_permissions(ADMIN, TENANT, role.id, refs, first.etag)
    assert again == first
    assert len(await w.events("role.permissions.set")) == 1
    assert w.bus.changes == published


async def test_set_permissions_replaces_the_grants_audited_and_published(
    w: World, apps: tuple[App, App]
) -> None:
    role = await new_role(w)
    first = await w.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "invoice:read")], role.etag
    )
    assert first.etag != role.etag
    second = await w.roles.set_permissions(
        ADMIN,
        TENANT,
        role.id,
        [
            PermissionRef(" shop ", " cart:read "),
            PermissionRef("billing", "invoice:write"),
            PermissionRef("shop", "cart:read"),
        ],
        first.etag,
    )
    assert granted(second) == ["billing/invoice:write", "shop/cart:read"]
    assert await w.roles.get(ADMIN, TENANT, role.id) == second
    events = await w.events("role.permissions.set")
    assert sorted(tuple(e.details["permissions"]) for e in events) == [
        ("billing/invoice:read",),
        ("shop/cart:read", "billing/invoice:write"),
    ]
    assert {(e.target_type, e.target_id) for e in events} == {("role", role.id)}
    assert w.bus.changes == [Change(TENANT, "role", role.id)] * 3  # create and two sets


async def test_an_empty_list_takes_every_permission_away(w: World, apps: tuple[App, App]) -> None:
    role = await new_role(w)
    await w.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "invoice:read")], ""
    )
    cleared = await w.roles.set_permissions(ADMIN, TENANT, role.id, [], "")
    assert cleared.permissions == ()


async def test_every_unknown_permission_is_reported_and_nothing_is_stored(
    w: World, apps: tuple[App, App]
) -> None:
    role = await new_role(w)
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.roles.set_permissions(
            ADMIN,
            TENANT,
            role.id,
            [
                PermissionRef("billing", "invoice:read"),
                PermissionRef("billing", "invoice:print"),
                PermissionRef("payroll", "salary:read"),
            ],
            role.etag,
        )
    assert fakes.reasons(caught.value) == [
        ("permissions[1]", "PERMISSION_NOT_FOUND"),
        ("permissions[2]", "PERMISSION_NOT_FOUND"),
    ]
    assert w.state() == before


async def test_an_app_bound_role_takes_only_its_apps_services(
    w: World, apps: tuple[App, App]
) -> None:
    role = await new_role(w, app="billing")
    with pytest.raises(InvalidArgument) as caught:
        await w.roles.set_permissions(
            ADMIN,
            TENANT,
            role.id,
            [PermissionRef("billing", "invoice:read"), PermissionRef("shop", "cart:read")],
            "",
        )
    assert fakes.reasons(caught.value) == [("permissions[1]", "PERMISSION_OUTSIDE_APP")]
    assert "'billing'" in caught.value.violations[0].message
    kept = await w.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "invoice:read")], ""
    )
    assert granted(kept) == ["billing/invoice:read"]


async def test_a_tenant_wide_role_takes_any_catalog_including_the_admin_one(
    w: World, apps: tuple[App, App]
) -> None:
    role = await new_role(w)
    done = await w.roles.set_permissions(
        ADMIN,
        TENANT,
        role.id,
        [PermissionRef("shop", "cart:read"), PermissionRef("tessera", "user:read")],
        "",
    )
    assert granted(done) == ["shop/cart:read", "tessera/user:read"]


async def test_a_deprecated_permission_is_kept_where_granted_but_never_granted_anew(
    w: World, apps: tuple[App, App]
) -> None:
    holder = await new_role(w, "holder")
    await w.roles.set_permissions(
        ADMIN, TENANT, holder.id, [PermissionRef("billing", "invoice:void")], ""
    )
    await register(w, "billing", "invoice:read", "invoice:write")  # invoice:void dropped
    holder = await w.roles.get(ADMIN, TENANT, holder.id)
    assert [(p.code, p.deprecated) for p in holder.permissions] == [("invoice:void", True)]

    newcomer = await new_role(w, "newcomer")
    with pytest.raises(InvalidArgument) as caught:
        await w.roles.set_permissions(
            ADMIN, TENANT, newcomer.id, [PermissionRef("billing", "invoice:void")], ""
        )
    assert fakes.reasons(caught.value) == [("permissions[0]", "PERMISSION_DEPRECATED")]

    kept = await w.roles.set_permissions(
        ADMIN,
        TENANT,
        holder.id,
        [PermissionRef("billing", "invoice:void"), PermissionRef("billing", "invoice:read")],
        holder.etag,
    )
    assert granted(kept) == ["billing/invoice:read", "billing/invoice:void"]


# -- no escalation --------------------------------------------------------------------------------


async def test_granting_an_admin_permission_the_caller_lacks_is_escalation(w: World) -> None:
    role = await new_role(w)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await w.roles.set_permissions(
            limited(),
            TENANT,
            role.id,
            [
                PermissionRef("tessera", "role:read"),
                PermissionRef("tessera", "user:write"),
                PermissionRef("tessera", "client:write"),
            ],
            role.etag,
        )
    assert caught.value.reason == "ESCALATION"
    assert caught.value.metadata == {"permissions": "client:write,user:write"}
    [denied] = await w.events("escalation.denied")
    assert (denied.actor_id, denied.tenant_slug, denied.target_type, denied.target_id) == (
        "tc_limited",
        TENANT,
        "role",
        role.id,
    )
    assert denied.details == {
        "operation": "role.permissions.set",
        "reason": "ESCALATION",
        "missing": ["client:write", "user:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


async def test_a_caller_grants_the_admin_permissions_it_holds(w: World) -> None:
    role = await new_role(w)
    done = await w.roles.set_permissions(
        limited("role:write", "user:read"),
        TENANT,
        role.id,
        [PermissionRef("tessera", "user:read")],
        "",
    )
    assert granted(done) == ["tessera/user:read"]
    assert await w.events("escalation.denied") == []


OUTRANKED: list[tuple[str, str, Callable[[Features, Principal, str], Awaitable[Any]]]] = [
    (
        "update",
        "role.update",
        lambda f, p, r: f.roles.update(p, TENANT, r, RolePatch(name="Mine now"), ""),
    ),
    ("delete", "role.delete", lambda f, p, r: f.roles.delete(p, TENANT, r, "")),
    (
        "set_permissions",
        "role.permissions.set",
        lambda f, p, r: f.roles.set_permissions(p, TENANT, r, [], ""),
    ),
]


@pytest.mark.parametrize(("name", "operation", "call"), OUTRANKED, ids=[n for n, _, _ in OUTRANKED])
async def test_a_role_carrying_more_than_the_caller_outranks_it(
    w: World,
    name: str,
    operation: str,
    call: Callable[[Features, Principal, str], Awaitable[Any]],
) -> None:
    role = await admin_role(w, "client-manager", "client:write", "role:read")
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await call(w.features, limited(), role.id)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert caught.value.metadata == {"permissions": "client:write"}
    [denied] = await w.events("escalation.denied")
    assert (denied.target_type, denied.target_id, denied.actor_id) == (
        "role",
        role.id,
        "tc_limited",
    )
    assert denied.details == {
        "operation": operation,
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["client:write"],
    }
    assert w.state_but(denied) == before
    assert w.bus.changes == published


async def test_app_permissions_never_make_a_role_outrank_anyone(
    w: World, apps: tuple[App, App]
) -> None:
    await register(w, "billing", "invoice:read", "invoice:write", "invoice:void", "user:write")
    role = await new_role(w)
    role = await w.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "user:write")], ""
    )
    await w.roles.update(limited(), TENANT, role.id, RolePatch(name="Biller"), role.etag)
    await w.roles.delete(limited(), TENANT, role.id, "")
    assert await w.events("escalation.denied") == []
