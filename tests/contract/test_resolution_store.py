"""Contract of ResolutionStore (services.registry.resolution.store): the reads behind the
token service's resolution calls, on every backend."""

from __future__ import annotations

from typing import Any

from services.common.vocabulary import MembershipStatus, UserStatus
from services.registry.apps.models import App, AppRef
from services.registry.kernel.models import Tenant
from services.registry.resolution.models import UserRecord
from services.registry.roles.models import Role, RoleRef
from tests.contract import builders
from tests.contract.conftest import NOW, unique


def _ref(app: App) -> AppRef:
    return AppRef(app.id, app.slug)


def _role_ref(role: Role) -> RoleRef:
    return RoleRef(role.id, role.code)


async def _ids(tx: Any, owner: Tenant, service: str, *codes: str) -> list[str]:
    return [entry.id for entry in await builders.entries(tx, owner, service, *codes)]


# -- user ---------------------------------------------------------------------------------


async def test_user_returns_the_record_tokens_carry(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(
            tx, owner, first_name="Ada", last_name="Lovelace", token_version=7
        )
    async with uow.read() as tx:
        found = await tx.resolution.user(owner.id, member.id)
    assert found == UserRecord(
        id=member.id,
        email=member.email,
        first_name="Ada",
        last_name="Lovelace",
        status="active",
        token_version=7,
    )


async def test_user_reports_a_disabled_user_with_absent_names(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        member = await builders.user(tx, owner, status=UserStatus.DISABLED)
        found = await tx.resolution.user(owner.id, member.id)
    assert found is not None
    assert (found.status, found.first_name, found.last_name) == ("disabled", None, None)
    assert found.token_version == 1


async def test_user_is_none_when_unknown_or_of_another_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        member = await builders.user(tx, owner)
        assert await tx.resolution.user(other.id, member.id) is None
        assert await tx.resolution.user(owner.id, builders.new_id()) is None


# -- membership_status --------------------------------------------------------------------


async def test_membership_status_is_the_stored_status_or_none(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first = await builders.app(tx, owner)
        second = await builders.app(tx, owner)
        third = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        await builders.membership(tx, member, first)
        await builders.membership(
            tx, member, second, status=MembershipStatus.REVOKED, revoked_at=NOW
        )
        resolution = tx.resolution
        assert await resolution.membership_status(member.id, first.id) == "active"
        assert await resolution.membership_status(member.id, second.id) == "revoked"
        assert await resolution.membership_status(member.id, third.id) is None
        assert await resolution.membership_status(builders.new_id(), first.id) is None


# -- client_roles_and_permissions ---------------------------------------------------------


async def test_client_roles_are_tenant_wide_and_this_apps_with_permissions_in_its_services(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        service = target.service_codes[0]
        read, write, admin = await _ids(tx, owner, service, "items.read", "items.write", "admin")
        (foreign,) = await _ids(tx, owner, elsewhere.service_codes[0], "items.read")
        (core,) = await _ids(tx, owner, "core", "profile.read")
        wide = await builders.role(tx, owner, read, write, foreign, core)
        local = await builders.role(tx, owner, write, app=target)
        other = await builders.role(tx, owner, admin, app=elsewhere)
        client = await builders.client(tx, owner, target, elsewhere)
        await tx.clients.set_roles(client.id, [wide.id, local.id, other.id])
        roles, permissions = await tx.resolution.client_roles_and_permissions(
            client.id, target.id, list(target.service_codes)
        )
    assert roles == sorted([wide.code, local.code])
    # Within the app's service codes only, once each; no core catalog for clients.
    assert permissions == ["items.read", "items.write"]


async def test_client_permissions_span_every_service_code_of_the_app_once_each(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first, second = unique("svc"), unique("svc")
        target = await builders.app(tx, owner, service_codes=(first, second))
        shared_a, only_a = await _ids(tx, owner, first, "orders.read", "orders.write")
        (shared_b,) = await _ids(tx, owner, second, "orders.read")
        role = await builders.role(tx, owner, shared_a, only_a, shared_b)
        client = await builders.client(tx, owner, target)
        await tx.clients.set_roles(client.id, [role.id])
        roles, permissions = await tx.resolution.client_roles_and_permissions(
            client.id, target.id, [first, second]
        )
    assert roles == [role.code]
    assert permissions == ["orders.read", "orders.write"]


async def test_client_without_roles_for_the_app_gets_nothing(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        (entry,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        other = await builders.role(tx, owner, entry, app=elsewhere)
        bare = await builders.client(tx, owner, target)
        bound_elsewhere = await builders.client(tx, owner, target)
        await tx.clients.set_roles(bound_elsewhere.id, [other.id])
        resolution = tx.resolution
        codes = list(target.service_codes)
        assert await resolution.client_roles_and_permissions(bare.id, target.id, codes) == ([], [])
        assert await resolution.client_roles_and_permissions(
            bound_elsewhere.id, target.id, codes
        ) == ([], [])


async def test_client_roles_are_listed_even_without_permissions_in_the_services(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        (entry,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        empty = await builders.role(tx, owner)
        granted = await builders.role(tx, owner, entry)
        client = await builders.client(tx, owner, target)
        await tx.clients.set_roles(client.id, [empty.id, granted.id])
        resolution = tx.resolution
        assert await resolution.client_roles_and_permissions(client.id, target.id, []) == (
            sorted([empty.code, granted.code]),
            [],
        )
        assert await resolution.client_roles_and_permissions(
            client.id, target.id, [unique("svc")]
        ) == (sorted([empty.code, granted.code]), [])


# -- user_roles_and_permissions -----------------------------------------------------------


async def test_user_direct_roles_are_tenant_wide_and_this_apps(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        read, write, delete = await _ids(
            tx, owner, target.service_codes[0], "items.read", "items.write", "items.delete"
        )
        wide = await builders.role(tx, owner, read)
        local = await builders.role(tx, owner, write, app=target)
        other = await builders.role(tx, owner, delete, app=elsewhere)
        member = await builders.user(tx, owner)
        for role in (wide, local, other):
            assert await tx.users.assign_role(member.id, role.id)
        roles, permissions = await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, list(target.service_codes)
        )
    assert roles == sorted([wide.code, local.code])
    assert permissions == ["items.read", "items.write"]


async def test_user_group_roles_count_only_in_groups_bound_to_the_app_or_to_every_app(
    uow: Any,
) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        service = target.service_codes[0]
        a, b, c, d = await _ids(tx, owner, service, "a.read", "b.read", "c.read", "d.read")
        via_all = await builders.role(tx, owner, a)
        via_bound = await builders.role(tx, owner, b)
        via_elsewhere = await builders.role(tx, owner, c)
        via_not_member = await builders.role(tx, owner, d)
        member = await builders.user(tx, owner)
        everywhere = await builders.group(tx, owner, all_apps=True, roles=(_role_ref(via_all),))
        bound = await builders.group(
            tx,
            owner,
            all_apps=False,
            apps=(_ref(target), _ref(elsewhere)),
            roles=(_role_ref(via_bound),),
        )
        bound_elsewhere = await builders.group(
            tx, owner, all_apps=False, apps=(_ref(elsewhere),), roles=(_role_ref(via_elsewhere),)
        )
        await builders.group(tx, owner, all_apps=True, roles=(_role_ref(via_not_member),))
        for group in (everywhere, bound, bound_elsewhere):
            assert await tx.groups.add_member(group.id, member.id)
        roles, permissions = await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, [service]
        )
        elsewhere_roles, _ = await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, elsewhere.id, [service]
        )
    assert roles == sorted([via_all.code, via_bound.code])
    assert permissions == ["a.read", "b.read"]
    assert elsewhere_roles == sorted([via_all.code, via_bound.code, via_elsewhere.code])


async def test_user_group_roles_bound_to_another_app_are_left_out(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        (entry,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        wide = await builders.role(tx, owner, entry)
        local_elsewhere = await builders.role(tx, owner, entry, app=elsewhere)
        group = await builders.group(
            tx, owner, all_apps=True, roles=(_role_ref(wide), _role_ref(local_elsewhere))
        )
        member = await builders.user(tx, owner)
        await tx.groups.add_member(group.id, member.id)
        roles, permissions = await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, list(target.service_codes)
        )
    assert roles == [wide.code]
    assert permissions == ["items.read"]


async def test_user_roles_given_twice_and_shared_permissions_appear_once(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        first, second = unique("svc"), unique("svc")
        target = await builders.app(tx, owner, service_codes=(first, second))
        read_a, write_a = await _ids(tx, owner, first, "items.read", "items.write")
        (read_b,) = await _ids(tx, owner, second, "items.read")
        direct = await builders.role(tx, owner, read_a, write_a)
        also = await builders.role(tx, owner, read_b, write_a, app=target)
        group = await builders.group(
            tx, owner, all_apps=False, apps=(_ref(target),), roles=(_role_ref(direct),)
        )
        member = await builders.user(tx, owner)
        await tx.users.assign_role(member.id, direct.id)
        await tx.users.assign_role(member.id, also.id)
        await tx.groups.add_member(group.id, member.id)
        roles, permissions = await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, [first, second]
        )
    assert roles == sorted([direct.code, also.code])
    assert permissions == ["items.read", "items.write"]


async def test_user_permissions_outside_the_apps_services_are_left_out(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        (inside,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        (outside,) = await _ids(tx, owner, elsewhere.service_codes[0], "items.write")
        role = await builders.role(tx, owner, inside, outside)
        member = await builders.user(tx, owner)
        await tx.users.assign_role(member.id, role.id)
        resolution = tx.resolution
        assert await resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, list(target.service_codes)
        ) == ([role.code], ["items.read"])
        assert await resolution.user_roles_and_permissions(owner.id, member.id, target.id, []) == (
            [role.code],
            [],
        )


async def test_user_always_gets_the_tenants_core_catalog(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        await _ids(tx, owner, "core", "profile.read", "profile.write")
        await _ids(tx, other, "core", "zz.other")
        (entry,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        role = await builders.role(tx, owner, entry)
        without_roles = await builders.user(tx, owner)
        with_role = await builders.user(tx, owner)
        await tx.users.assign_role(with_role.id, role.id)
        resolution = tx.resolution
        codes = list(target.service_codes)
        assert await resolution.user_roles_and_permissions(
            owner.id, without_roles.id, target.id, codes
        ) == ([], ["profile.read", "profile.write"])
        assert await resolution.user_roles_and_permissions(
            owner.id, with_role.id, target.id, codes
        ) == ([role.code], ["items.read", "profile.read", "profile.write"])


async def test_user_core_permissions_granted_by_a_role_appear_once(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner, service_codes=("core",))
        (core,) = await _ids(tx, owner, "core", "profile.read")
        role = await builders.role(tx, owner, core)
        member = await builders.user(tx, owner)
        await tx.users.assign_role(member.id, role.id)
        assert await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, ["core"]
        ) == ([role.code], ["profile.read"])


async def test_user_roles_of_another_tenant_are_never_resolved(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        (entry,) = await _ids(tx, other, target.service_codes[0], "items.read")
        foreign = await builders.role(tx, other, entry)
        member = await builders.user(tx, owner)
        await tx.users.assign_role(member.id, foreign.id)
        assert await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, list(target.service_codes)
        ) == ([], [])


async def test_user_without_anything_gets_empty_lists(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        member = await builders.user(tx, owner)
        assert await tx.resolution.user_roles_and_permissions(
            owner.id, member.id, target.id, list(target.service_codes)
        ) == ([], [])


# -- app_audiences ------------------------------------------------------------------------


async def test_app_audiences_are_the_apps_resource_servers_sorted(uow: Any) -> None:
    tag = unique("aud")
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        bare = await builders.app(tx, owner)
        (entry,) = await _ids(tx, owner, target.service_codes[0], "items.read")
        for name in ("c", "a", "b"):
            await builders.resource_server(
                tx, owner, target, audience=f"https://{name}-{tag}.example.com"
            )
        await builders.resource_server(tx, owner, target, entry, audience=f"urn:{tag}:d")
        await builders.resource_server(
            tx, owner, elsewhere, audience=f"https://0-{tag}.example.com"
        )
    async with uow.read() as tx:
        assert await tx.resolution.app_audiences(target.id) == [
            f"https://a-{tag}.example.com",
            f"https://b-{tag}.example.com",
            f"https://c-{tag}.example.com",
            f"urn:{tag}:d",
        ]
        assert await tx.resolution.app_audiences(bare.id) == []


# -- enabled_app_domains ------------------------------------------------------------------


async def test_enabled_app_domains_are_the_union_over_the_tenants_enabled_apps(
    uow: Any,
) -> None:
    tag = unique("dom")
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        await builders.app(
            tx,
            owner,
            allowed_domains=(f"a.{tag}.example.com", f"b.{tag}.example.com", f"*.{tag}.dev"),
        )
        await builders.app(tx, owner, allowed_domains=(f"b.{tag}.example.com",))
        await builders.app(tx, owner)
        await builders.app(
            tx, owner, enabled=False, allowed_domains=(f"disabled.{tag}.example.com",)
        )
        await builders.app(tx, other, allowed_domains=(f"other.{tag}.example.com",))
        assert await tx.resolution.enabled_app_domains(owner.id) == {
            f"a.{tag}.example.com",
            f"b.{tag}.example.com",
            f"*.{tag}.dev",
        }


async def test_enabled_app_domains_is_empty_without_domains(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        await builders.app(tx, owner)
        await builders.app(tx, owner, enabled=False, allowed_domains=(f"{unique('x')}.io",))
        assert await tx.resolution.enabled_app_domains(owner.id) == set()
        assert await tx.resolution.enabled_app_domains(builders.new_id()) == set()
