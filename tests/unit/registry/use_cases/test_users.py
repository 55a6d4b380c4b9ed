"""The user use cases (services.registry.users.use_cases) over the in-memory stores: who may
call them, what they refuse, what they change, audit and publish (ARCHITECTURE §2 "Roles,
groups, users, memberships", §7 no escalation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
from services.common.vocabulary import UserStatus
from services.registry.catalog.models import PermissionDeclaration
from services.registry.features import Features
from services.registry.groups.models import GroupDraft
from services.registry.kernel.models import Tenant
from services.registry.roles.models import PermissionRef, Role, RoleDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from services.registry.users.models import User, UserDraft, UserPatch
from services.registry.users.use_cases import UserUseCases
from tests.unit.registry import fakes

TENANT = "acme"
ADMIN = fakes.tenant_admin(TENANT)
PASSWORD = "correct horse battery staple"

# -- the world the tests run in ----------------------------------------------------------------


@dataclass
class SpyPasswords:
    """Stands in for argon2id and remembers every password it was asked to hash."""

    hashed: list[str] = field(default_factory=list)

    def hash(self, password: str) -> str:
        self.hashed.append(password)
        return f"hashed${password[::-1]}"


@dataclass
class World(fakes.MemoryWorld):
    passwords: SpyPasswords

    @property
    def tenant(self) -> Tenant:
        return self.seeded.tenant

    @property
    def users(self) -> UserUseCases:
        return self.features.users

    def row(self, user_id: str) -> dict[str, Any]:
        return dict(self.db.state.rows["users"][user_id])


async def world() -> World:
    passwords = SpyPasswords()
    s = await fakes.memory_world(tenant=TENANT, password_hasher=passwords)
    return World(s.features, s.db, s.bus, s.seeded, passwords)


def untouchable() -> tuple[Features, SpyPasswords]:
    """Features whose storage fails the test when touched; and their password hasher."""
    passwords = SpyPasswords()
    return fakes.features(fakes.UntouchableUnitOfWork(), password_hasher=passwords), passwords


@pytest.fixture
async def w() -> World:
    return await world()


async def new_user(w: World, email: str = "ann@example.com", **draft: Any) -> User:
    return await w.users.create(ADMIN, TENANT, UserDraft(email=email, **draft))


async def admin_role(w: World, code: str, *permissions: str) -> Role:
    """A tenant-wide role carrying ``permissions`` of the admin catalog (``tessera``)."""
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code=code, name=code.title()))
    refs = [PermissionRef("tessera", p) for p in permissions]
    return await w.features.roles.set_permissions(ADMIN, TENANT, role.id, refs, "")


async def privileged_user(w: World, email: str = "root@example.com") -> User:
    """A user holding tessera client:write, which the limited callers below lack."""
    user = await new_user(w, email)
    role = await admin_role(w, "client-manager", "client:write")
    return await w.users.assign_role(ADMIN, TENANT, user.id, role.id)


# -- who may call ---------------------------------------------------------------------------------

# Every write on an existing user, as (name, call) with any user reference and version.
WRITES: list[tuple[str, Callable[[Features, Principal, str], Awaitable[Any]]]] = [
    ("update", lambda f, p, t: f.users.update(p, t, "u", UserPatch(first_name="A"), 1)),
    ("set_password", lambda f, p, t: f.users.set_password(p, t, "u", PASSWORD, 1)),
    ("clear_password", lambda f, p, t: f.users.clear_password(p, t, "u", 1)),
    ("disable", lambda f, p, t: f.users.disable(p, t, "u", 1)),
    ("enable", lambda f, p, t: f.users.enable(p, t, "u", 1)),
    ("logout_everywhere", lambda f, p, t: f.users.logout_everywhere(p, t, "u", 1)),
    ("delete", lambda f, p, t: f.users.delete(p, t, "u", 1)),
    ("unassign_role", lambda f, p, t: f.users.unassign_role(p, t, "u", "r")),
    ("assign_role", lambda f, p, t: f.users.assign_role(p, t, "u", "r")),
]


async def test_create_without_user_write_is_refused_before_hashing_or_storage() -> None:
    features, passwords = untouchable()
    caller = fakes.tenant_admin(TENANT, "user:read", "role:write")
    with pytest.raises(PermissionDenied) as caught:
        await features.users.create(caller, TENANT, UserDraft("ann@example.com", password=PASSWORD))
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "user:write"}
    assert passwords.hashed == []


async def test_create_in_another_tenant_is_refused_before_hashing_or_storage() -> None:
    features, passwords = untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await features.users.create(
            fakes.tenant_admin("globex"), TENANT, UserDraft("ann@example.com", password=PASSWORD)
        )
    assert caught.value.reason == "TENANT_FORBIDDEN"
    assert passwords.hashed == []


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
async def test_writes_on_a_user_need_user_write_before_storage(
    name: str, call: Callable[[Features, Principal, str], Awaitable[Any]]
) -> None:
    features, passwords = untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await call(features, fakes.tenant_admin(TENANT, "user:read", "role:write"), TENANT)
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "user:write"},
    )
    assert passwords.hashed == []


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[name for name, _ in WRITES])
async def test_writes_on_a_user_of_another_tenant_are_tenant_forbidden_before_storage(
    name: str, call: Callable[[Features, Principal, str], Awaitable[Any]]
) -> None:
    features, _ = untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await call(features, fakes.tenant_admin("globex"), TENANT)
    assert caught.value.reason == "TENANT_FORBIDDEN"


async def test_assigning_a_role_needs_role_write_as_well_before_storage() -> None:
    features, _ = untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await features.users.assign_role(
            fakes.tenant_admin(TENANT, "user:read", "user:write"), TENANT, "u", "r"
        )
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "role:write"},
    )


async def test_unassigning_a_role_needs_user_write_only(w: World) -> None:
    user = await new_user(w)
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    await w.users.assign_role(ADMIN, TENANT, user.id, role.id)
    updated = await w.users.unassign_role(fakes.limited("user:write"), TENANT, user.id, role.id)
    assert updated.roles == ()


@pytest.mark.parametrize(
    "call",
    [
        lambda f, p: f.users.get(p, TENANT, "u"),
        lambda f, p: f.users.search(p, TENANT, 10, 0, "", ""),
    ],
    ids=["get", "search"],
)
async def test_reads_need_user_read_before_storage(
    call: Callable[[Features, Principal], Awaitable[Any]],
) -> None:
    features, _ = untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await call(features, fakes.tenant_admin(TENANT, "user:write"))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "user:read"},
    )


async def test_an_operator_creates_users_in_any_tenant_and_is_the_audited_actor(w: World) -> None:
    user = await w.users.create(fakes.operator(), TENANT, UserDraft("ann@example.com"))
    [event] = await w.events("user.create")
    assert (event.actor_type, event.actor_id, event.actor_tenant, event.tenant_slug) == (
        "client",
        "tc_operator",
        "control-plane",
        TENANT,
    )
    assert event.target_id == user.id


# -- create -----------------------------------------------------------------------------------


async def test_create_reports_every_bad_field_with_its_path_and_stores_nothing(w: World) -> None:
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.users.create(
            ADMIN,
            TENANT,
            UserDraft(
                email="not-an-email",
                first_name="x" * 101,
                last_name="Lee\x00",
                username="No Spaces",
                password="short",
            ),
        )
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reasons(caught.value) == [
        ("email", "EMAIL_INVALID"),
        ("first_name", "NAME_TOO_LONG"),
        ("last_name", "NAME_CONTROL_CHARACTER"),
        ("username", "USERNAME_INVALID"),
        ("password", "PASSWORD_TOO_SHORT"),
    ]
    assert w.passwords.hashed == []
    assert w.state() == before
    assert w.bus.changes == []


async def test_create_refuses_a_password_equal_to_the_email_without_hashing(w: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await new_user(w, "ann.lee.long@example.com", password="Ann.Lee.Long@example.com")
    assert fakes.reasons(caught.value) == [("password", "PASSWORD_EQUALS_EMAIL")]
    assert w.passwords.hashed == []


async def test_a_new_user_is_active_at_token_version_one_and_passwordless_by_default(
    w: World,
) -> None:
    user = await new_user(w, " Ann@Example.COM ", first_name=" Ann ", username="ann")
    assert (user.status, user.token_version, user.version) == (UserStatus.ACTIVE, 1, 1)
    assert (user.email, user.first_name, user.last_name, user.username) == (
        "Ann@example.com",
        "Ann",
        None,
        "ann",
    )
    assert user.has_password is False
    assert w.row(user.id)["password_hash"] is None
    assert w.passwords.hashed == []
    assert await w.users.get(ADMIN, TENANT, "ann@example.com") == user


async def test_a_password_is_stored_only_as_its_hash(w: World) -> None:
    user = await new_user(w, password=PASSWORD)
    assert user.has_password is True
    assert w.passwords.hashed == [PASSWORD]
    assert w.row(user.id)["password_hash"] == f"hashed${PASSWORD[::-1]}"
    [event] = await w.events("user.create")
    assert PASSWORD not in repr(event.details)


async def test_create_is_audited_with_its_actor_and_published_after_commit(w: World) -> None:
    seen_at_publish: list[User | None] = []

    async def look(change: Change) -> None:  # what a subscriber reading storage would find
        async with memory_unit_of_work(w.db).read() as tx:
            seen_at_publish.append(await tx.users.get(w.tenant.id, change.target_id))

    w.bus.on_publish = look
    user = await new_user(w, password=PASSWORD)
    [event] = await w.events("user.create")
    assert (event.action, event.target_type, event.target_id) == ("user.create", "user", user.id)
    assert (event.actor_type, event.actor_id, event.tenant_slug) == ("client", "tc_admin", TENANT)
    assert event.details == {"email": "ann@example.com", "passwordless": False}
    assert w.bus.changes == [Change(TENANT, "user", user.id)]
    assert seen_at_publish == [user]


async def test_a_passwordless_user_is_audited_as_such(w: World) -> None:
    await new_user(w)
    [event] = await w.events("user.create")
    assert event.details == {"email": "ann@example.com", "passwordless": True}


async def test_create_refuses_a_taken_username(w: World) -> None:
    await new_user(w, username="ann")
    before = w.state()
    with pytest.raises(AlreadyExists) as caught:
        await new_user(w, "other@example.com", username="ann")
    assert caught.value.reason == "USERNAME_TAKEN"
    assert w.state() == before
    assert len(await w.events("user.create")) == 1


async def test_create_refuses_a_taken_email_whatever_its_case(w: World) -> None:
    await new_user(w, "ann@example.com")
    published = list(w.bus.changes)
    with pytest.raises(AlreadyExists) as caught:
        await new_user(w, "ANN@Example.com")
    assert caught.value.reason == "EMAIL_TAKEN"
    assert len(await w.events("user.create")) == 1
    assert w.bus.changes == published


async def test_the_same_email_in_another_tenant_is_another_user(w: World) -> None:
    await new_user(w)
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    other = await w.users.create(
        fakes.tenant_admin("globex"), "globex", UserDraft("ann@example.com")
    )
    assert other.tenant_slug == "globex"


# -- reads --------------------------------------------------------------------------------------


async def test_get_finds_a_user_by_id_or_email_in_any_case(w: World) -> None:
    user = await new_user(w, "Ann@example.com")
    assert await w.users.get(ADMIN, TENANT, user.id) == user
    assert await w.users.get(ADMIN, TENANT, " ANN@EXAMPLE.COM ") == user


async def test_an_unknown_user_is_user_not_found(w: World) -> None:
    with pytest.raises(NotFound) as caught:
        await w.users.get(ADMIN, TENANT, "nobody@example.com")
    assert caught.value.reason == "USER_NOT_FOUND"


async def test_search_filters_on_status_and_refuses_an_unknown_one(w: World) -> None:
    ann = await new_user(w, "ann@example.com")
    bob = await new_user(w, "bob@example.com")
    await w.users.disable(ADMIN, TENANT, bob.id, 0)
    active = await w.users.search(ADMIN, TENANT, 10, 0, "", "active")
    assert [u.id for u in active.items] == [ann.id]
    with pytest.raises(InvalidArgument) as caught:
        await w.users.search(ADMIN, TENANT, 10, 0, "", "gone")
    assert caught.value.reason == "STATUS_INVALID"


# -- update -----------------------------------------------------------------------------------


async def test_update_validates_every_field_before_storage() -> None:
    features, _ = untouchable()
    with pytest.raises(InvalidArgument) as caught:
        await features.users.update(
            ADMIN,
            TENANT,
            "u",
            UserPatch(email="nope", first_name="\x07", last_name="y" * 101, username="A B"),
            1,
        )
    assert fakes.reasons(caught.value) == [
        ("email", "EMAIL_INVALID"),
        ("first_name", "NAME_CONTROL_CHARACTER"),
        ("last_name", "NAME_TOO_LONG"),
        ("username", "USERNAME_INVALID"),
    ]


async def test_a_new_email_resets_email_verified(w: World) -> None:
    user = await new_user(w, email_verified=True)
    updated = await w.users.update(
        ADMIN, TENANT, user.id, UserPatch(email="ann.lee@example.com"), user.version
    )
    assert (updated.email, updated.email_verified, updated.version) == (
        "ann.lee@example.com",
        False,
        2,
    )
    [event] = await w.events("user.update")
    assert event.details == {"fields": ["email", "email_verified"]}
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)


async def test_a_new_email_keeps_email_verified_when_the_patch_sets_it(w: World) -> None:
    user = await new_user(w)
    updated = await w.users.update(
        ADMIN, TENANT, user.id, UserPatch(email="ann.lee@example.com", email_verified=True), 1
    )
    assert updated.email_verified is True


async def test_resending_the_current_email_keeps_email_verified(w: World) -> None:
    user = await new_user(w, email_verified=True)
    updated = await w.users.update(
        ADMIN, TENANT, user.id, UserPatch(email=" ann@EXAMPLE.com", last_name="Lee"), 1
    )
    assert (updated.email_verified, updated.last_name) == (True, "Lee")
    [event] = await w.events("user.update")
    assert event.details == {"fields": ["last_name"]}


async def test_a_case_only_change_of_the_local_part_keeps_email_verified(w: World) -> None:
    user = await new_user(w, "Ann.Lee@example.com", email_verified=True)
    updated = await w.users.update(
        ADMIN, TENANT, user.id, UserPatch(email="ann.lee@example.com"), 1
    )
    assert (updated.email, updated.email_verified) == ("ann.lee@example.com", True)


async def test_update_refuses_an_email_another_user_has(w: World) -> None:
    await new_user(w, "bob@example.com")
    ann = await new_user(w)
    before = w.state()
    with pytest.raises(AlreadyExists) as caught:
        await w.users.update(ADMIN, TENANT, ann.id, UserPatch(email="Bob@example.com"), 1)
    assert caught.value.reason == "EMAIL_TAKEN"
    assert w.state() == before


async def test_update_refuses_a_username_another_user_has(w: World) -> None:
    await new_user(w, "bob@example.com", username="bob")
    ann = await new_user(w)
    before = w.state()
    with pytest.raises(AlreadyExists) as caught:
        await w.users.update(ADMIN, TENANT, ann.id, UserPatch(username="bob"), 1)
    assert caught.value.reason == "USERNAME_TAKEN"
    assert w.state() == before


async def test_an_empty_username_or_name_clears_it(w: World) -> None:
    user = await new_user(w, username="ann", first_name="Ann")
    updated = await w.users.update(
        ADMIN, TENANT, user.id, UserPatch(username="", first_name=" "), 1
    )
    assert (updated.username, updated.first_name) == (None, None)


async def test_an_update_that_changes_nothing_writes_audits_and_publishes_nothing(
    w: World,
) -> None:
    user = await new_user(w, username="ann", first_name="Ann")
    published = list(w.bus.changes)
    same = await w.users.update(
        ADMIN,
        TENANT,
        user.id,
        UserPatch(email="ann@example.com", username="ann", first_name="Ann"),
        1,
    )
    assert same.version == 1
    assert await w.events("user.update") == []
    assert w.bus.changes == published


# -- versions and not-found ----------------------------------------------------------------------

VERSIONED: list[tuple[str, Callable[[Features, str, int], Awaitable[Any]]]] = [
    ("update", lambda f, u, v: f.users.update(ADMIN, TENANT, u, UserPatch(first_name="B"), v)),
    ("set_password", lambda f, u, v: f.users.set_password(ADMIN, TENANT, u, PASSWORD, v)),
    ("clear_password", lambda f, u, v: f.users.clear_password(ADMIN, TENANT, u, v)),
    ("disable", lambda f, u, v: f.users.disable(ADMIN, TENANT, u, v)),
    ("logout_everywhere", lambda f, u, v: f.users.logout_everywhere(ADMIN, TENANT, u, v)),
    ("delete", lambda f, u, v: f.users.delete(ADMIN, TENANT, u, v)),
]


@pytest.mark.parametrize(("name", "call"), VERSIONED, ids=[name for name, _ in VERSIONED])
async def test_a_stale_version_is_version_mismatch_and_changes_nothing(
    w: World, name: str, call: Callable[[Features, str, int], Awaitable[Any]]
) -> None:
    user = await new_user(w, password=PASSWORD)
    user = await w.users.update(ADMIN, TENANT, user.id, UserPatch(first_name="Ann"), 1)
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(StaleVersion) as caught:
        await call(w.features, user.id, 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_version": "2"}
    assert w.state() == before
    assert w.bus.changes == published


@pytest.mark.parametrize(("name", "call"), VERSIONED, ids=[name for name, _ in VERSIONED])
async def test_version_zero_writes_unconditionally(
    w: World, name: str, call: Callable[[Features, str, int], Awaitable[Any]]
) -> None:
    user = await new_user(w, password=PASSWORD)
    await w.users.update(ADMIN, TENANT, user.id, UserPatch(first_name="Ann"), 1)
    await call(w.features, user.id, 0)
    assert len(w.bus.changes) == 3  # create, update, this write


@pytest.mark.parametrize(("name", "call"), VERSIONED, ids=[name for name, _ in VERSIONED])
async def test_writes_on_an_unknown_user_are_user_not_found(
    w: World, name: str, call: Callable[[Features, str, int], Awaitable[Any]]
) -> None:
    with pytest.raises(NotFound) as caught:
        await call(w.features, "nobody@example.com", 0)
    assert caught.value.reason == "USER_NOT_FOUND"


# -- passwords ----------------------------------------------------------------------------------


async def test_set_password_stores_the_new_hash_and_leaves_sessions_alone(w: World) -> None:
    user = await new_user(w)
    updated = await w.users.set_password(ADMIN, TENANT, user.email, PASSWORD, 1)
    assert (updated.has_password, updated.version, updated.token_version) == (True, 2, 1)
    assert w.row(user.id)["password_hash"] == f"hashed${PASSWORD[::-1]}"
    [event] = await w.events("user.password.set")
    assert (event.target_type, event.target_id, event.details) == ("user", user.id, {})
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)


async def test_set_password_checks_it_against_the_users_email_before_hashing(w: World) -> None:
    user = await new_user(w, "ann.lee.long@example.com")
    before = w.state()
    with pytest.raises(InvalidArgument) as caught:
        await w.users.set_password(ADMIN, TENANT, user.id, "ANN.lee.long@example.com", 1)
    assert fakes.reasons(caught.value) == [("password", "PASSWORD_EQUALS_EMAIL")]
    with pytest.raises(InvalidArgument) as caught:
        await w.users.set_password(ADMIN, TENANT, user.id, "too short", 1)
    assert fakes.reasons(caught.value) == [("password", "PASSWORD_TOO_SHORT")]
    assert w.passwords.hashed == []
    assert w.state() == before


async def test_set_password_hashes_nothing_for_an_outranked_caller_or_a_stale_version(
    w: World,
) -> None:
    target = await privileged_user(w)
    with pytest.raises(PermissionDenied) as caught:
        await w.users.set_password(fakes.limited(), TENANT, target.id, PASSWORD, 0)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    [denied] = await w.events("escalation.denied")
    assert denied.details["operation"] == "user.password.set"
    with pytest.raises(StaleVersion):
        await w.users.set_password(ADMIN, TENANT, target.id, PASSWORD, 99)
    assert w.passwords.hashed == []


async def test_clear_password_makes_the_user_passwordless(w: World) -> None:
    user = await new_user(w, password=PASSWORD)
    updated = await w.users.clear_password(ADMIN, TENANT, user.id, 1)
    assert (updated.has_password, updated.version) == (False, 2)
    assert w.row(user.id)["password_hash"] is None
    [event] = await w.events("user.password.clear")
    assert event.target_id == user.id


async def test_clearing_no_password_is_a_no_op(w: World) -> None:
    user = await new_user(w)
    published = list(w.bus.changes)
    same = await w.users.clear_password(ADMIN, TENANT, user.id, 1)
    assert same.version == 1
    assert await w.events("user.password.clear") == []
    assert w.bus.changes == published


# -- token version: disable, enable, log out everywhere -------------------------------------------


async def test_disable_bumps_the_token_version_by_one(w: World) -> None:
    user = await new_user(w)
    disabled = await w.users.disable(ADMIN, TENANT, user.id, 1)
    assert (disabled.status, disabled.token_version, disabled.version) == (
        UserStatus.DISABLED,
        2,
        2,
    )
    [event] = await w.events("user.disable")
    assert (event.target_id, event.details) == (user.id, {"token_version": 2})
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)


async def test_disabling_a_disabled_user_bumps_nothing_and_audits_nothing(w: World) -> None:
    user = await new_user(w)
    await w.users.disable(ADMIN, TENANT, user.id, 1)
    published = list(w.bus.changes)
    again = await w.users.disable(ADMIN, TENANT, user.id, 2)
    assert (again.token_version, again.version) == (2, 2)
    assert len(await w.events("user.disable")) == 1
    assert w.bus.changes == published


async def test_enable_does_not_roll_the_token_version_back(w: World) -> None:
    user = await new_user(w)
    await w.users.disable(ADMIN, TENANT, user.id, 1)
    enabled = await w.users.enable(ADMIN, TENANT, user.id, 2)
    assert (enabled.status, enabled.token_version, enabled.version) == (UserStatus.ACTIVE, 2, 3)
    [event] = await w.events("user.enable")
    assert (event.target_id, event.details) == (user.id, {})


async def test_enabling_an_active_user_is_a_no_op(w: World) -> None:
    user = await new_user(w)
    published = list(w.bus.changes)
    same = await w.users.enable(ADMIN, TENANT, user.id, 1)
    assert (same.version, same.token_version) == (1, 1)
    assert await w.events("user.enable") == []
    assert w.bus.changes == published


async def test_each_logout_everywhere_bumps_the_token_version_by_one(w: World) -> None:
    user = await new_user(w)
    first = await w.users.logout_everywhere(ADMIN, TENANT, user.id, 1)
    second = await w.users.logout_everywhere(ADMIN, TENANT, user.id, 2)
    assert (first.token_version, second.token_version, second.version) == (2, 3, 3)
    assert second.status is UserStatus.ACTIVE
    events = await w.events("user.logout_everywhere")
    assert sorted(e.details["token_version"] for e in events) == [2, 3]
    assert w.bus.changes[-2:] == [Change(TENANT, "user", user.id)] * 2


async def test_no_other_user_write_touches_the_token_version(w: World) -> None:
    user = await new_user(w)
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    await w.users.update(ADMIN, TENANT, user.id, UserPatch(email="ann2@example.com"), 0)
    await w.users.set_password(ADMIN, TENANT, user.id, PASSWORD, 0)
    await w.users.clear_password(ADMIN, TENANT, user.id, 0)
    await w.users.assign_role(ADMIN, TENANT, user.id, role.id)
    after = await w.users.unassign_role(ADMIN, TENANT, user.id, role.id)
    assert after.token_version == 1


# -- delete -------------------------------------------------------------------------------------


async def test_delete_removes_the_user_with_roles_groups_and_memberships(w: World) -> None:
    app, _ = await fakes.app(w.seeded, "billing")
    user = await new_user(w)
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    group = await w.features.groups.create(ADMIN, TENANT, GroupDraft("staff", "Staff", ("*",)))
    await w.users.assign_role(ADMIN, TENANT, user.id, role.id)
    await w.features.groups.add_member(ADMIN, TENANT, group.id, user.id)
    await w.features.memberships.grant(ADMIN, TENANT, user.id, app.id)
    links = ("user_roles", "group_members", "memberships")

    def linked() -> list[int]:
        rows = w.db.state.rows
        return [sum(r["user_id"] == user.id for r in rows[table].values()) for table in links]

    assert linked() == [1, 1, 1]
    await w.users.delete(ADMIN, TENANT, user.id, 1)
    with pytest.raises(NotFound):
        await w.users.get(ADMIN, TENANT, user.id)
    assert linked() == [0, 0, 0]
    [event] = await w.events("user.delete")
    assert (event.target_type, event.target_id, event.details) == (
        "user",
        user.id,
        {"email": "ann@example.com"},
    )
    assert w.bus.changes[-1] == Change(TENANT, "user", user.id)


# -- roles --------------------------------------------------------------------------------------


async def test_assign_role_is_audited_once_and_idempotent(w: World) -> None:
    user = await new_user(w)
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    assigned = await w.users.assign_role(ADMIN, TENANT, user.email, "viewer")
    assert assigned.roles == ("viewer",)
    published = list(w.bus.changes)
    assert published[-1] == Change(TENANT, "user", user.id)
    again = await w.users.assign_role(ADMIN, TENANT, user.id, role.id)
    assert again.roles == ("viewer",)
    [event] = await w.events("user.role.assign")
    assert (event.target_type, event.target_id, event.details) == (
        "user",
        user.id,
        {"role": "viewer"},
    )
    assert w.bus.changes == published


async def test_unassign_role_is_audited_once_and_idempotent(w: World) -> None:
    user = await new_user(w)
    await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    await w.users.assign_role(ADMIN, TENANT, user.id, "viewer")
    removed = await w.users.unassign_role(ADMIN, TENANT, user.id, "viewer")
    assert removed.roles == ()
    published = list(w.bus.changes)
    again = await w.users.unassign_role(ADMIN, TENANT, user.id, "viewer")
    assert again.roles == ()
    [event] = await w.events("user.role.unassign")
    assert (event.target_id, event.details) == (user.id, {"role": "viewer"})
    assert w.bus.changes == published


async def test_unassign_keeps_roles_the_user_has_through_a_group(w: World) -> None:
    user = await new_user(w)
    await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    group = await w.features.groups.create(ADMIN, TENANT, GroupDraft("staff", "Staff", ("*",)))
    await w.features.groups.set_roles(ADMIN, TENANT, group.id, ["viewer"], "")
    await w.features.groups.add_member(ADMIN, TENANT, group.id, user.id)
    after = await w.users.unassign_role(ADMIN, TENANT, user.id, "viewer")
    assert (after.roles, after.groups) == ((), ("staff",))
    assert await w.events("user.role.unassign") == []


@pytest.mark.parametrize("assign", [True, False], ids=["assign", "unassign"])
async def test_an_unknown_role_or_user_is_not_found(w: World, assign: bool) -> None:
    user = await new_user(w)
    await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    call = w.users.assign_role if assign else w.users.unassign_role
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, user.id, "nope")
    assert caught.value.reason == "ROLE_NOT_FOUND"
    with pytest.raises(NotFound) as caught:
        await call(ADMIN, TENANT, "nobody@example.com", "viewer")
    assert caught.value.reason == "USER_NOT_FOUND"


# -- no escalation --------------------------------------------------------------------------------


async def test_assigning_a_role_with_admin_permissions_the_caller_lacks_is_escalation(
    w: World,
) -> None:
    user = await new_user(w)
    role = await admin_role(w, "client-manager", "client:write", "user:read")
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await w.users.assign_role(fakes.limited(), TENANT, user.id, role.id)
    assert caught.value.reason == "ESCALATION"
    assert caught.value.metadata == {"permissions": "client:write"}
    assert w.bus.changes == published
    assert (await w.users.get(ADMIN, TENANT, user.id)).roles == ()
    [denied] = await w.events("escalation.denied")
    assert (denied.actor_id, denied.tenant_slug, denied.target_type, denied.target_id) == (
        "tc_limited",
        TENANT,
        "user",
        user.id,
    )
    assert denied.details == {
        "operation": "user.role.assign",
        "reason": "ESCALATION",
        "missing": ["client:write"],
    }
    assert await w.events("user.role.assign") == []
    # Only the refusal was recorded: everything else is as it was.
    after = w.state()
    after["audit_events"] = {k: v for k, v in after["audit_events"].items() if k != denied.id}
    assert after == before


async def test_a_role_carrying_only_app_permissions_is_no_escalation(w: World) -> None:
    await fakes.app(w.seeded, "billing")
    await w.features.catalog.register(
        ADMIN, TENANT, "billing", [PermissionDeclaration("user:write")]
    )
    user = await new_user(w)
    role = await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="biller", name="Biller"))
    await w.features.roles.set_permissions(
        ADMIN, TENANT, role.id, [PermissionRef("billing", "user:write")], ""
    )
    caller = fakes.limited("user:write", "role:write")
    assigned = await w.users.assign_role(caller, TENANT, user.id, role.id)
    assert assigned.roles == ("biller",)
    disabled = await w.users.disable(caller, TENANT, user.id, 0)
    assert disabled.status is UserStatus.DISABLED


OUTRANKED: list[tuple[str, str, Callable[[Features, Principal, str], Awaitable[Any]]]] = [
    (
        "update",
        "user.update",
        lambda f, p, u: f.users.update(p, TENANT, u, UserPatch(first_name="X"), 0),
    ),
    (
        "set_password",
        "user.password.set",
        lambda f, p, u: f.users.set_password(p, TENANT, u, PASSWORD, 0),
    ),
    (
        "clear_password",
        "user.password.clear",
        lambda f, p, u: f.users.clear_password(p, TENANT, u, 0),
    ),
    ("disable", "user.disable", lambda f, p, u: f.users.disable(p, TENANT, u, 0)),
    ("enable", "user.enable", lambda f, p, u: f.users.enable(p, TENANT, u, 0)),
    (
        "logout_everywhere",
        "user.logout_everywhere",
        lambda f, p, u: f.users.logout_everywhere(p, TENANT, u, 0),
    ),
    ("delete", "user.delete", lambda f, p, u: f.users.delete(p, TENANT, u, 0)),
    (
        "assign_role",
        "user.role.assign",
        lambda f, p, u: f.users.assign_role(p, TENANT, u, "viewer"),
    ),
    (
        "unassign_role",
        "user.role.unassign",
        lambda f, p, u: f.users.unassign_role(p, TENANT, u, "client-manager"),
    ),
]


@pytest.mark.parametrize(
    ("name", "operation", "call"), OUTRANKED, ids=[name for name, _, _ in OUTRANKED]
)
async def test_a_user_holding_more_than_the_caller_outranks_it(
    w: World,
    name: str,
    operation: str,
    call: Callable[[Features, Principal, str], Awaitable[Any]],
) -> None:
    target = await privileged_user(w)
    await w.features.roles.create(ADMIN, TENANT, RoleDraft(code="viewer", name="Viewer"))
    before, published = w.state(), list(w.bus.changes)
    with pytest.raises(PermissionDenied) as caught:
        await call(w.features, fakes.limited(), target.id)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert caught.value.metadata == {"permissions": "client:write"}
    assert w.bus.changes == published
    [denied] = await w.events("escalation.denied")
    assert (denied.target_type, denied.target_id, denied.actor_id) == (
        "user",
        target.id,
        "tc_limited",
    )
    assert denied.details == {
        "operation": operation,
        "reason": "TARGET_OUTRANKS_CALLER",
        "missing": ["client:write"],
    }
    after = w.state()
    after["audit_events"] = {k: v for k, v in after["audit_events"].items() if k != denied.id}
    assert after == before


async def test_admin_permissions_held_through_a_group_count_too(w: World) -> None:
    user = await new_user(w)
    await admin_role(w, "client-manager", "client:write")
    group = await w.features.groups.create(ADMIN, TENANT, GroupDraft("ops", "Ops", ("*",)))
    await w.features.groups.set_roles(ADMIN, TENANT, group.id, ["client-manager"], "")
    await w.features.groups.add_member(ADMIN, TENANT, group.id, user.id)
    with pytest.raises(PermissionDenied) as caught:
        await w.users.logout_everywhere(fakes.limited(), TENANT, user.id, 0)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert (await w.users.get(ADMIN, TENANT, user.id)).token_version == 1


async def test_a_caller_holding_what_the_user_holds_may_act_on_it(w: World) -> None:
    target = await privileged_user(w)
    caller = fakes.limited("user:write", "client:write")
    disabled = await w.users.disable(caller, TENANT, target.id, 0)
    assert disabled.status is UserStatus.DISABLED
    assert await w.events("escalation.denied") == []
