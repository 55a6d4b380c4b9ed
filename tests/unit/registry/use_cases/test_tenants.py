"""Tenant use cases over the in-memory stores: who may create, read and change tenants, what a
new tenant is seeded with (its system app, the ``tenant-admin`` role, its admin client), the
merge-patch settings, and the platform's own bootstrap (idempotent, audited only when it
configures an admin secret)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from services.common.changes import Change
from services.common.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from services.common.hashing import PepperRing, SecretHasher
from services.common.vocabulary import (
    CONTROL_PLANE_PERMISSIONS,
    CORE_PERMISSIONS,
    TESSERA_PERMISSIONS,
)
from services.registry.features import Features
from services.registry.kernel.models import DEFAULT_TENANT_SETTINGS, PageRequest
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft, TenantPatch
from tests.unit.registry import fakes

HASHER = SecretHasher(PepperRing.parse(fakes.PEPPERS))


@dataclass
class World:
    features: Features
    uow: Any
    bus: fakes.RecordingBus


def world(*, app_limit: int = 25) -> World:
    uow, bus = memory_unit_of_work(), fakes.RecordingBus()
    features = fakes.features(uow, changes=bus, app_limit=app_limit)
    return World(features, uow, bus)


async def booted(**kwargs: Any) -> World:
    w = world(**kwargs)
    await w.features.tenants.bootstrap("tc_operator", None)
    return w


DRAFT = TenantDraft(slug="acme", display_name="Acme")


# -- who may call -------------------------------------------------------------------------------


async def test_a_tenant_admin_cannot_create_tenants_and_is_refused_before_storage() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.create(fakes.tenant_admin("acme"), DRAFT)
    assert caught.value.reason == "OPERATOR_ONLY"


async def test_an_operator_needs_tenant_write_to_create_a_tenant() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.create(fakes.operator("tenant:read"), DRAFT)
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "tenant:write"}


async def test_a_tenant_admin_cannot_change_even_its_own_tenant() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.update(
            fakes.tenant_admin("acme"), "acme", TenantPatch(app_limit=1000), 0
        )
    assert caught.value.reason == "OPERATOR_ONLY"


async def test_an_operator_needs_tenant_write_to_change_a_tenant() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.update(
            fakes.operator("tenant:read"), "acme", TenantPatch(display_name="X"), 0
        )
    assert caught.value.reason == "PERMISSION_MISSING"


async def test_listing_tenants_is_for_operators_with_tenant_read() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as by_admin:
        await untouchable.tenants.search(fakes.tenant_admin("acme"), 0, 0, "", "")
    with pytest.raises(PermissionDenied) as without_read:
        await untouchable.tenants.search(fakes.operator("tenant:write"), 0, 0, "", "")
    assert by_admin.value.reason == "OPERATOR_ONLY"
    assert without_read.value.reason == "PERMISSION_MISSING"


async def test_a_tenant_admin_reads_its_own_tenant_with_app_read() -> None:
    s = await fakes.seeded()
    found = await s.features.tenants.get(fakes.tenant_admin("acme", "app:read"), "acme")
    assert (found.id, found.slug) == (s.tenant.id, "acme")


async def test_reading_its_own_tenant_needs_app_read() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.get(fakes.tenant_admin("acme", "audit:read"), "acme")
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "app:read"}


async def test_another_tenant_is_readable_by_operators_only() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.tenants.get(fakes.tenant_admin("beta"), "acme")
    assert caught.value.reason == "OPERATOR_ONLY"
    s = await fakes.seeded()
    found = await s.features.tenants.get(fakes.operator("tenant:read"), "acme")
    assert found.id == s.tenant.id


async def test_an_unknown_tenant_is_not_found() -> None:
    s = await fakes.seeded()
    with pytest.raises(NotFound) as caught:
        await s.features.tenants.get(fakes.operator(), "nobody")
    assert caught.value.reason == "TENANT_NOT_FOUND"


async def test_tenants_can_be_ordered_only_by_known_fields() -> None:
    s = await fakes.seeded()
    listed = await s.features.tenants.search(fakes.operator(), 0, 0, "", "-slug")
    assert [t.slug for t in listed.items] == ["control-plane", "acme"]
    with pytest.raises(InvalidArgument) as caught:
        await s.features.tenants.search(fakes.operator(), 0, 0, "", "app_limit")
    assert caught.value.reason == "ORDER_BY_INVALID"


# -- creating: validation -----------------------------------------------------------------------


async def test_every_bad_field_of_a_new_tenant_is_reported_and_nothing_is_stored() -> None:
    w = await booted()
    draft = TenantDraft(
        slug="Acme!",
        display_name="   ",
        app_limit=0,
        settings={"branding.primary_color": "red", "theme": "dark"},
    )
    with pytest.raises(InvalidArgument) as caught:
        await w.features.tenants.create(fakes.operator(), draft)
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reason_set(caught.value) == {
        ("slug", "SLUG_INVALID"),
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("app_limit", "APP_LIMIT_INVALID"),
        ("settings.branding.primary_color", "COLOR_INVALID"),
        ("settings.theme", "SETTING_UNKNOWN"),
    }
    listed = await w.features.tenants.search(fakes.operator(), 0, 0, "", "")
    assert [t.slug for t in listed.items] == ["control-plane"]
    assert await fakes.audit_events(w.uow) == []


@pytest.mark.parametrize("slug", ["control-plane", "api", "admin"])
async def test_reserved_tenant_slugs_can_never_be_created_through_the_api(slug: str) -> None:
    w = await booted()
    with pytest.raises(InvalidArgument) as caught:
        await w.features.tenants.create(fakes.operator(), TenantDraft(slug, "Reserved"))
    assert fakes.reason_set(caught.value) == {("slug", "SLUG_RESERVED")}


async def test_an_app_limit_above_the_maximum_is_refused() -> None:
    w = await booted()
    with pytest.raises(InvalidArgument) as caught:
        await w.features.tenants.create(
            fakes.operator(), TenantDraft("acme", "Acme", app_limit=100_001)
        )
    assert fakes.reason_set(caught.value) == {("app_limit", "APP_LIMIT_INVALID")}


async def test_a_taken_slug_is_refused_and_the_second_attempt_leaves_nothing_behind() -> None:
    w = await booted()
    await w.features.tenants.create(fakes.operator(), DRAFT)
    with pytest.raises(AlreadyExists) as caught:
        await w.features.tenants.create(fakes.operator(), TenantDraft("acme", "Acme again"))
    assert caught.value.reason == "TENANT_SLUG_TAKEN"
    assert len(await fakes.audit_events(w.uow, "tenant.create")) == 1
    kept = await w.features.tenants.get(fakes.operator(), "acme")
    assert (kept.display_name, kept.version) == ("Acme", 1)


# -- creating: what a tenant starts with --------------------------------------------------------


async def test_a_new_tenant_gets_the_configured_default_app_limit() -> None:
    w = await booted(app_limit=7)
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    assert tenant.app_limit == 7
    explicit, _ = await w.features.tenants.create(
        fakes.operator(), TenantDraft("beta", "Beta", app_limit=3)
    )
    assert explicit.app_limit == 3


async def test_a_new_tenants_settings_are_its_own_over_the_platform_defaults() -> None:
    w = await booted()
    tenant, _ = await w.features.tenants.create(
        fakes.operator(),
        TenantDraft("acme", "Acme", settings={"registration_posture": "off"}),
    )
    assert tenant.settings.values == {
        **DEFAULT_TENANT_SETTINGS.values,
        "registration_posture": "off",
    }
    assert (tenant.version, tenant.control_plane) == (1, False)


async def test_a_new_tenant_gets_its_system_app_with_the_admin_and_core_catalogs() -> None:
    w = await booted()
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    async with w.uow.read() as tx:
        system = await tx.apps.get(tenant.id, "tessera")
        control_plane = await tx.apps.get(tenant.id, "control-plane")
        catalog = await tx.catalog.search(tenant.id, None, False, PageRequest(200, 0))
    assert system is not None
    assert (system.is_system, system.service_codes) == (True, ("tessera",))
    assert control_plane is None  # only the control-plane tenant has that one
    assert {(e.service_code, e.code) for e in catalog.items} == {
        *(("tessera", code) for code in TESSERA_PERMISSIONS),
        *(("core", code) for code in CORE_PERMISSIONS),
    }


async def test_the_tenant_admin_role_carries_every_tessera_permission_and_nothing_more() -> None:
    w = await booted()
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    async with w.uow.read() as tx:
        role = await tx.roles.get(tenant.id, "tenant-admin")
        assert role is not None
        grants = await tx.roles.grants([role.id])
    assert role.app_id is None  # tenant-wide
    assert set(grants) == {("tessera", code) for code in TESSERA_PERMISSIONS}


async def test_the_admin_client_holds_the_tenant_admin_role_for_the_system_app() -> None:
    w = await booted()
    tenant, credentials = await w.features.tenants.create(fakes.operator(), DRAFT)
    async with w.uow.read() as tx:
        client = await tx.clients.get(credentials.client_id)
        system = await tx.apps.get(tenant.id, "tessera")
        assert client is not None
        assert system is not None
        roles = await tx.clients.roles(client.id)
    assert client.tenant_id == tenant.id
    assert (client.confidential, client.enabled) == (True, True)
    assert client.app_ids == (system.id,)
    assert client.grant_types == ("client_credentials",)
    assert [r.name for r in roles] == ["tenant-admin"]


async def test_the_admin_clients_secret_is_returned_once_and_stored_only_as_a_hash() -> None:
    w = await booted()
    _, credentials = await w.features.tenants.create(fakes.operator(), DRAFT)
    assert credentials.client_secret.startswith("tsk_")
    async with w.uow.read() as tx:
        client = await tx.clients.get(credentials.client_id)
        assert client is not None
        (stored,) = await tx.clients.secrets(client.id)
    assert stored.secret_hash != credentials.client_secret
    assert credentials.client_secret not in stored.secret_hash
    assert HASHER.verify(credentials.client_secret, stored.secret_hash)


async def test_creating_a_tenant_is_audited_in_that_tenant_with_the_operator_as_actor() -> None:
    w = await booted()
    tenant, credentials = await w.features.tenants.create(fakes.operator(), DRAFT)
    page = await w.features.audit.search(fakes.operator(), "acme", 0, 0, "", "")
    (event,) = page.items
    assert (event.action, event.target_type, event.target_id) == ("tenant.create", "tenant", "acme")
    assert (event.actor_type, event.actor_id, event.actor_tenant) == (
        "client",
        "tc_operator",
        "control-plane",
    )
    assert event.tenant_id == tenant.id
    assert event.details == {"admin_client_id": credentials.client_id}


# -- changing -----------------------------------------------------------------------------------


async def test_tenant_settings_are_a_merge_patch_null_resets_to_the_default() -> None:
    w = await booted()
    await w.features.tenants.create(
        fakes.operator(),
        TenantDraft(
            "acme",
            "Acme",
            settings={"registration_posture": "off", "branding.product_name": "Acme"},
        ),
    )
    updated = await w.features.tenants.update(
        fakes.operator(),
        "acme",
        TenantPatch(settings={"registration_posture": None, "branding.primary_color": "#1A73E8"}),
        1,
    )
    assert updated.settings.values == {
        **DEFAULT_TENANT_SETTINGS.values,  # registration_posture back to jit_on_otp
        "branding.product_name": "Acme",  # absent from the patch: kept
        "branding.primary_color": "#1a73e8",
    }
    assert updated.version == 2


async def test_fields_left_out_of_a_tenant_patch_keep_their_values() -> None:
    w = await booted()
    await w.features.tenants.create(
        fakes.operator(),
        TenantDraft("acme", "Acme", app_limit=3, settings={"registration_posture": "off"}),
    )
    updated = await w.features.tenants.update(
        fakes.operator(), "acme", TenantPatch(display_name="Acme Corp"), 0
    )
    assert (updated.display_name, updated.app_limit) == ("Acme Corp", 3)
    assert updated.settings.values["registration_posture"] == "off"
    read = await w.features.tenants.get(fakes.operator(), "acme")
    assert (read.display_name, read.version) == ("Acme Corp", 2)


async def test_every_bad_field_of_a_tenant_patch_is_reported_and_nothing_changes() -> None:
    w = await booted()
    await w.features.tenants.create(fakes.operator(), DRAFT)
    w.bus.changes.clear()  # the creation's own publication
    with pytest.raises(InvalidArgument) as caught:
        await w.features.tenants.update(
            fakes.operator(),
            "acme",
            TenantPatch(
                display_name="",
                app_limit=0,
                settings={"token_lifetimes.access_token_seconds": 5},
            ),
            1,
        )
    assert fakes.reason_set(caught.value) == {
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("app_limit", "APP_LIMIT_INVALID"),
        ("settings.token_lifetimes.access_token_seconds", "LIFETIME_OUT_OF_RANGE"),
    }
    read = await w.features.tenants.get(fakes.operator(), "acme")
    assert (read.version, read.app_limit) == (1, 25)
    assert await fakes.audit_events(w.uow, "tenant.update") == []
    assert w.bus.changes == []


async def test_a_stale_tenant_version_is_refused_and_changes_nothing() -> None:
    w = await booted()
    await w.features.tenants.create(fakes.operator(), DRAFT)
    w.bus.changes.clear()  # the creation's own publication
    await w.features.tenants.update(fakes.operator(), "acme", TenantPatch(app_limit=30), 1)
    with pytest.raises(StaleVersion) as caught:
        await w.features.tenants.update(fakes.operator(), "acme", TenantPatch(app_limit=40), 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_version": "2"}
    read = await w.features.tenants.get(fakes.operator(), "acme")
    assert (read.app_limit, read.version) == (30, 2)
    assert len(await fakes.audit_events(w.uow, "tenant.update")) == 1
    assert len(w.bus.changes) == 1


async def test_changing_an_unknown_tenant_is_not_found() -> None:
    w = await booted()
    with pytest.raises(NotFound) as caught:
        await w.features.tenants.update(fakes.operator(), "nobody", TenantPatch(app_limit=3), 0)
    assert caught.value.reason == "TENANT_NOT_FOUND"


async def test_a_tenant_change_is_audited_naming_the_fields_sent() -> None:
    w = await booted()
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    await w.features.tenants.update(
        fakes.operator(), "acme", TenantPatch(display_name="Acme Corp", app_limit=30), 1
    )
    (event,) = await fakes.audit_events(w.uow, "tenant.update")
    assert (event.target_type, event.target_id, event.tenant_id) == ("tenant", "acme", tenant.id)
    assert (event.actor_id, event.actor_tenant) == ("tc_operator", "control-plane")
    assert event.details == {"fields": ["display_name", "app_limit"]}


async def test_creating_a_tenant_is_published() -> None:
    w = await booted()
    w.bus.changes.clear()
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    assert w.bus.changes == [Change("acme", "tenant", tenant.id)]


async def test_a_tenant_change_is_published_after_it_is_committed() -> None:
    w = await booted()
    tenant, _ = await w.features.tenants.create(fakes.operator(), DRAFT)
    w.bus.changes.clear()  # the creation's own publication
    seen_versions: list[int] = []

    async def look(change: Change) -> None:
        async with w.uow.read() as tx:
            stored = await tx.tenants.get(change.tenant)
            assert stored is not None
            seen_versions.append(stored.version)

    w.bus.on_publish = look
    await w.features.tenants.update(fakes.operator(), "acme", TenantPatch(app_limit=30), 1)
    assert w.bus.changes == [Change("acme", "tenant", tenant.id)]
    assert seen_versions == [2]


# -- bootstrap ----------------------------------------------------------------------------------


async def test_bootstrap_seeds_the_control_plane_tenant_with_both_system_apps() -> None:
    w = world()
    assert await w.features.tenants.bootstrap("tc_operator", None) is True
    async with w.uow.read() as tx:
        tenant = await tx.tenants.get("control-plane")
        assert tenant is not None
        system = await tx.apps.get(tenant.id, "tessera")
        control_plane = await tx.apps.get(tenant.id, "control-plane")
    assert tenant.control_plane is True
    assert system is not None
    assert control_plane is not None
    assert (system.is_system, system.service_codes) == (True, ("tessera", "control-plane"))
    assert (control_plane.is_system, control_plane.service_codes) == (True, ("control-plane",))


async def test_the_platform_admin_role_carries_the_admin_and_control_plane_catalogs() -> None:
    w = await booted()
    async with w.uow.read() as tx:
        tenant = await tx.tenants.get("control-plane")
        assert tenant is not None
        role = await tx.roles.get(tenant.id, "platform-admin")
        assert role is not None
        grants = await tx.roles.grants([role.id])
    assert set(grants) == {
        *(("tessera", code) for code in TESSERA_PERMISSIONS),
        *(("control-plane", code) for code in CONTROL_PLANE_PERMISSIONS),
    }


async def test_seeding_the_platform_is_not_an_audited_admin_write() -> None:
    w = await booted()
    assert await fakes.audit_events(w.uow) == []


async def test_bootstrap_is_idempotent() -> None:
    w = await booted()
    async with w.uow.read() as tx:
        before = await tx.tenants.get("control-plane")
        apps_before = await tx.apps.search(before.id, PageRequest(50, 0), None, "", "")
    assert await w.features.tenants.bootstrap("tc_operator", None) is False
    async with w.uow.read() as tx:
        after = await tx.tenants.get("control-plane")
        apps_after = await tx.apps.search(after.id, PageRequest(50, 0), None, "", "")
    assert after == before
    assert apps_after.items == apps_before.items
    assert await fakes.audit_events(w.uow) == []


async def test_a_configured_admin_secret_creates_the_bootstrap_admin_and_is_audited() -> None:
    w = world()
    secret = "tsk_" + "s" * 43
    assert await w.features.tenants.bootstrap("tessera-admin", secret) is True
    async with w.uow.read() as tx:
        client = await tx.clients.get("tessera-admin")
        assert client is not None
        roles = await tx.clients.roles(client.id)
        (stored,) = await tx.clients.secrets(client.id)
    assert [r.name for r in roles] == ["platform-admin"]
    assert HASHER.verify(secret, stored.secret_hash)
    (event,) = await fakes.audit_events(w.uow)
    assert (event.action, event.target_type, event.target_id) == (
        "client.secret.configure",
        "client",
        "tessera-admin",
    )
    assert (event.actor_type, event.actor_id, event.actor_tenant) == (
        "service",
        "service:registry",
        "control-plane",
    )
    assert event.details == {"source": "TESSERA_BOOTSTRAP_ADMIN_SECRET"}


async def test_bootstrapping_again_with_the_same_secret_changes_and_audits_nothing() -> None:
    w = world()
    secret = "tsk_" + "s" * 43
    await w.features.tenants.bootstrap("tessera-admin", secret)
    assert await w.features.tenants.bootstrap("tessera-admin", secret) is False
    assert len(await fakes.audit_events(w.uow)) == 1


async def test_a_changed_configured_secret_replaces_the_stored_one() -> None:
    w = world()
    old, new = "tsk_" + "o" * 43, "tsk_" + "n" * 43
    await w.features.tenants.bootstrap("tessera-admin", old)
    assert await w.features.tenants.bootstrap("tessera-admin", new) is True
    async with w.uow.read() as tx:
        client = await tx.clients.get("tessera-admin")
        assert client is not None
        secrets = await tx.clients.secrets(client.id)
    assert [HASHER.verify(new, s.secret_hash) for s in secrets] == [True]
    assert not any(HASHER.verify(old, s.secret_hash) for s in secrets)
    assert [e.action for e in await fakes.audit_events(w.uow)] == ["client.secret.configure"] * 2


async def test_bootstrap_without_a_secret_leaves_an_existing_admin_client_alone() -> None:
    w = world()
    secret = "tsk_" + "s" * 43
    await w.features.tenants.bootstrap("tessera-admin", secret)
    assert await w.features.tenants.bootstrap("tessera-admin", None) is False
    async with w.uow.read() as tx:
        client = await tx.clients.get("tessera-admin")
        assert client is not None
        (stored,) = await tx.clients.secrets(client.id)
    assert HASHER.verify(secret, stored.secret_hash)
    assert len(await fakes.audit_events(w.uow)) == 1
