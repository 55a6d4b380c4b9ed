"""Contract of ResolutionStore (services.registry.resolution.store): the reads behind the
token service's resolution calls, on every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.common.vocabulary import MembershipStatus, PlanStatus, UserStatus
from services.registry.apps.models import App, AppRef
from services.registry.kernel.models import Settings, Tenant
from services.registry.resolution.models import (
    AppFacts,
    ClientFacts,
    RoleFacts,
    SnapshotSecret,
    UserRecord,
)
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


# -- client_facts -------------------------------------------------------------------------


async def test_client_facts_are_found_only_in_the_clients_tenant(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        other = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        client = await builders.client(
            tx, owner, target, grant_types=("client_credentials", "refresh_token")
        )
        disabled = await builders.client(tx, owner, target, enabled=False, confidential=False)
    async with uow.read() as tx:
        resolution = tx.resolution
        found = await resolution.client_facts(owner.id, client.client_id)
        assert await resolution.client_facts(other.id, client.client_id) is None
        assert await resolution.client_facts(owner.id, unique("tc")) is None
        assert await resolution.client_facts(builders.new_id(), client.client_id) is None
        off = await resolution.client_facts(owner.id, disabled.client_id)
    assert found == ClientFacts(
        client_pk=client.id,
        client_id=client.client_id,
        enabled=True,
        confidential=True,
        grant_types=("client_credentials", "refresh_token"),
        secrets=(),
        apps=found.apps,
        roles=(),
        scopes=(),
    )
    assert [a.id for a in found.apps] == [target.id]
    assert off is not None
    assert (off.client_pk, off.enabled, off.confidential) == (disabled.id, False, False)


async def test_client_facts_list_the_secrets_newest_first(uow: Any) -> None:
    later = NOW + timedelta(minutes=5)
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        client = await builders.client(tx, owner, target)
        other = await builders.client(tx, owner, target)
        old = builders.secret(
            "hmac-sha256$1$" + "o" * 43,
            created_at=NOW,
            expires_at=later + timedelta(hours=1),
        )
        new = builders.secret("hmac-sha256$1$" + "n" * 43, created_at=later)
        await tx.clients.insert_secret(client.id, old)
        await tx.clients.insert_secret(client.id, new)
        await tx.clients.mark_secret_used(old.id, later)
        await tx.clients.insert_secret(other.id, builders.secret(created_at=later))
        # Two secrets of one instant (regenerations in one tick) come by id.
        twins = sorted(
            (builders.secret(created_at=NOW) for _ in range(2)), key=lambda r: r.id, reverse=True
        )
        tied = await builders.client(tx, owner, target)
        for twin in twins:
            await tx.clients.insert_secret(tied.id, twin)
    async with uow.read() as tx:
        facts = await tx.resolution.client_facts(owner.id, client.client_id)
        tied_facts = await tx.resolution.client_facts(owner.id, tied.client_id)
    assert facts is not None
    assert facts.secrets == (
        SnapshotSecret(new.id, new.secret_hash, later, None, None),
        SnapshotSecret(old.id, old.secret_hash, NOW, later + timedelta(hours=1), later),
    )
    assert tied_facts is not None
    assert [s.id for s in tied_facts.secrets] == sorted(t.id for t in twins)


async def test_client_facts_list_the_served_apps_by_slug_with_what_tokens_carry(
    uow: Any,
) -> None:
    tag = unique("s")
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        where = await builders.region(tx)
        active = await builders.plan(tx, limits={"units": 10, "seats": 3})
        retired = await builders.plan(tx, status=PlanStatus.RETIRED, limits={"units": 1})
        first, second = unique("svc"), unique("svc")
        planned = await builders.app(
            tx,
            owner,
            where,
            slug=f"b-{tag}",
            plan_id=active.id,
            service_codes=(first, second),
            settings=Settings({"token_lifetimes.access_token_seconds": 300}),
        )
        off = await builders.app(tx, owner, slug=f"c-{tag}", plan_id=retired.id, enabled=False)
        bare = await builders.app(tx, owner, where, slug=f"a-{tag}")
        unserved = await builders.app(tx, owner, slug=f"d-{tag}")
        for audience in (f"urn:{tag}:z", f"https://{tag}.example.com"):
            await builders.resource_server(tx, owner, planned, audience=audience)
        await builders.resource_server(tx, owner, unserved, audience=f"urn:{tag}:other")
        client = await builders.client(tx, owner, off, planned, bare)
    async with uow.read() as tx:
        facts = await tx.resolution.client_facts(owner.id, client.client_id)
    assert facts is not None
    assert facts.apps == (
        AppFacts(
            id=bare.id,
            slug=bare.slug,
            enabled=True,
            region=where.code,
            db_code=where.databases[0].db_code,
            plan_code=None,
            plan_retired=False,
            entitlements={},
            service_codes=(bare.slug,),
            settings={},
            audiences=(),
        ),
        AppFacts(
            id=planned.id,
            slug=planned.slug,
            enabled=True,
            region=where.code,
            db_code=where.databases[0].db_code,
            plan_code=active.code,
            plan_retired=False,
            entitlements={"units": 10, "seats": 3},
            service_codes=(first, second),
            settings={"token_lifetimes.access_token_seconds": 300},
            audiences=(f"https://{tag}.example.com", f"urn:{tag}:z"),
        ),
        AppFacts(
            id=off.id,
            slug=off.slug,
            enabled=False,
            region="",
            db_code="",
            plan_code=retired.code,
            plan_retired=True,
            entitlements={"units": 1},
            service_codes=(off.slug,),
            settings={},
            audiences=(),
        ),
    )


async def test_client_facts_list_every_role_with_its_app_and_permissions(uow: Any) -> None:
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        service, other_service = target.service_codes[0], elsewhere.service_codes[0]
        write, read = await _ids(tx, owner, service, "items.write", "items.read")
        (foreign,) = await _ids(tx, owner, other_service, "items.admin")
        (core,) = await _ids(tx, owner, "core", "profile.read")
        wide = await builders.role(tx, owner, write, foreign, read, core, code=unique("b-role"))
        local = await builders.role(tx, owner, write, app=target, code=unique("c-role"))
        away = await builders.role(tx, owner, foreign, app=elsewhere, code=unique("a-role"))
        empty = await builders.role(tx, owner, code=unique("d-role"))
        await builders.role(tx, owner, read)  # held by nobody
        client = await builders.client(tx, owner, target)
        await tx.clients.set_roles(client.id, [wide.id, local.id, away.id, empty.id])
    async with uow.read() as tx:
        facts = await tx.resolution.client_facts(owner.id, client.client_id)
    assert facts is not None
    # Every role the client holds (the token service keeps those of one app), by code, each
    # with its app binding and its (service, code) permissions sorted.
    assert facts.roles == (
        RoleFacts(away.code, elsewhere.id, ((other_service, "items.admin"),)),
        RoleFacts(
            wide.code,
            None,
            tuple(
                sorted(
                    [
                        ("core", "profile.read"),
                        (other_service, "items.admin"),
                        (service, "items.read"),
                        (service, "items.write"),
                    ]
                )
            ),
        ),
        RoleFacts(local.code, target.id, ((service, "items.write"),)),
        RoleFacts(empty.code, None, ()),
    )


async def test_client_facts_list_the_held_scopes_by_name_with_their_app(uow: Any) -> None:
    tag = unique("sc")
    async with uow.transaction() as tx:
        owner = await builders.tenant(tx)
        target = await builders.app(tx, owner)
        elsewhere = await builders.app(tx, owner)
        wide = await builders.scope(tx, owner, name=f"{tag}.c")
        local = await builders.scope(tx, owner, target, name=f"{tag}.a")
        away = await builders.scope(tx, owner, elsewhere, name=f"{tag}.b")
        await builders.scope(tx, owner, name=f"{tag}.unheld")
        client = await builders.client(tx, owner, target)
        await tx.clients.set_scopes(client.id, [wide.id, local.id, away.id])
    async with uow.read() as tx:
        facts = await tx.resolution.client_facts(owner.id, client.client_id)
    assert facts is not None
    assert facts.scopes == ((local.name, target.id), (away.name, elsewhere.id), (wide.name, None))


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
