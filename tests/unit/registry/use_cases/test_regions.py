"""License-region use cases over the in-memory stores: operators manage regions and their
databases; tenant admins only read them to pick one for an app (TrueParser seed, "Choose A
Region"); a region in use cannot be deleted, and apps keep the db_code they were created with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from services.registry.features import Features
from services.registry.regions.models import RegionDraft, RegionPatch
from services.registry.stores import memory_unit_of_work
from tests.unit.registry import fakes

EU = RegionDraft(code="eu", name="Europe", databases=(("db-1", True), ("db-2", True)))


async def platform() -> tuple[Features, Any]:
    """A bootstrapped platform with no region yet, and its unit of work."""
    uow = memory_unit_of_work()
    features = fakes.features(uow)
    await features.tenants.bootstrap("tc_operator", None)
    return features, uow


# -- who may call -------------------------------------------------------------------------------

WRITES: dict[str, Callable[[Features, Principal], Awaitable[Any]]] = {
    "create": lambda f, p: f.regions.create(p, EU),
    "update": lambda f, p: f.regions.update(p, "eu", RegionPatch(active=False), 0),
    "add_database": lambda f, p: f.regions.add_database(p, "eu", "db-3", True),
    "set_database_active": lambda f, p: f.regions.set_database_active(p, "eu", "db-1", False),
    "delete": lambda f, p: f.regions.delete(p, "eu", 0),
}


@pytest.mark.parametrize("operation", WRITES)
async def test_region_writes_are_for_operators_only_refused_before_storage(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await WRITES[operation](untouchable, fakes.tenant_admin("acme"))
    assert caught.value.reason == "OPERATOR_ONLY"


@pytest.mark.parametrize("operation", WRITES)
async def test_region_writes_need_region_write(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await WRITES[operation](untouchable, fakes.operator("region:read"))
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "region:write"}


@pytest.mark.parametrize("permission", ["app:read", "app:write"])
async def test_tenant_admins_who_manage_apps_may_read_regions(permission: str) -> None:
    s = await fakes.seeded()
    admin = fakes.tenant_admin("acme", permission)
    assert (await s.features.regions.get(admin, "eu")).id == s.region.id
    listed = await s.features.regions.search(admin, 0, 0, None)
    assert [r.code for r in listed.items] == ["eu"]


async def test_other_tenant_callers_may_not_read_regions() -> None:
    untouchable = fakes.untouchable()
    reader = fakes.tenant_admin("acme", "audit:read")
    with pytest.raises(PermissionDenied) as by_get:
        await untouchable.regions.get(reader, "eu")
    with pytest.raises(PermissionDenied) as by_search:
        await untouchable.regions.search(reader, 0, 0, None)
    assert by_get.value.reason == by_search.value.reason == "OPERATOR_ONLY"


async def test_an_operator_reads_regions_with_region_read() -> None:
    s = await fakes.seeded()
    assert (await s.features.regions.get(fakes.operator("region:read"), "eu")).code == "eu"


async def test_an_unknown_region_is_not_found() -> None:
    s = await fakes.seeded()
    with pytest.raises(NotFound) as caught:
        await s.features.regions.get(fakes.operator(), "us")
    assert caught.value.reason == "REGION_NOT_FOUND"


# -- creating -----------------------------------------------------------------------------------


async def test_a_region_keeps_its_databases_in_the_operators_order() -> None:
    features, _ = await platform()
    region = await features.regions.create(
        fakes.operator(),
        RegionDraft(code="eu-west", name="EU West", databases=(("db-b", False), ("db-a", True))),
    )
    assert (region.code, region.name, region.active, region.version) == (
        "eu-west",
        "EU West",
        True,
        1,
    )
    assert [(d.db_code, d.active) for d in region.databases] == [("db-b", False), ("db-a", True)]
    assert await features.regions.get(fakes.operator(), region.id) == region


async def test_every_bad_field_of_a_new_region_is_reported_and_nothing_is_stored() -> None:
    features, uow = await platform()
    draft = RegionDraft(
        code="EU",
        name=" ",
        databases=(("db-1", True), ("DB 2", True), ("db-1", False)),
    )
    with pytest.raises(InvalidArgument) as caught:
        await features.regions.create(fakes.operator(), draft)
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reason_set(caught.value) == {
        ("code", "REGION_CODE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("databases[1].db_code", "DB_CODE_INVALID"),
        ("databases[2].db_code", "DB_CODE_DUPLICATE"),
    }
    assert (await features.regions.search(fakes.operator(), 0, 0, None)).items == []
    assert await fakes.audit_events(uow) == []


async def test_a_taken_region_code_is_refused() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    with pytest.raises(AlreadyExists) as caught:
        await features.regions.create(fakes.operator(), RegionDraft(code="eu", name="Again"))
    assert caught.value.reason == "REGION_CODE_TAKEN"
    assert (await features.regions.get(fakes.operator(), "eu")).name == "Europe"
    assert len(await fakes.audit_events(uow, "region.create")) == 1


async def test_creating_a_region_is_audited_as_a_platform_write_by_the_operator() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    (event,) = await fakes.audit_events(uow)
    assert (event.action, event.target_type, event.target_id) == ("region.create", "region", "eu")
    assert (event.actor_type, event.actor_id, event.actor_tenant) == (
        "client",
        "tc_operator",
        "control-plane",
    )
    assert event.tenant_slug == "control-plane"  # operators read platform writes there


# -- changing -----------------------------------------------------------------------------------


async def test_a_region_can_be_renamed_and_deactivated() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    updated = await features.regions.update(
        fakes.operator(), "eu", RegionPatch(name="Europe (old)", active=False), 1
    )
    assert (updated.name, updated.active, updated.version) == ("Europe (old)", False, 2)
    (event,) = await fakes.audit_events(uow, "region.update")
    assert (event.target_id, event.details) == ("eu", {"active": False})


async def test_fields_left_out_of_a_region_patch_keep_their_values() -> None:
    features, _ = await platform()
    await features.regions.create(fakes.operator(), EU)
    await features.regions.update(fakes.operator(), "eu", RegionPatch(active=False), 0)
    renamed = await features.regions.update(fakes.operator(), "eu", RegionPatch(name="EU"), 0)
    assert (renamed.name, renamed.active) == ("EU", False)


async def test_a_bad_region_name_is_refused_and_nothing_changes() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    with pytest.raises(InvalidArgument) as caught:
        await features.regions.update(fakes.operator(), "eu", RegionPatch(name="x" * 101), 1)
    assert fakes.reason_set(caught.value) == {("name", "DISPLAY_NAME_TOO_LONG")}
    assert (await features.regions.get(fakes.operator(), "eu")).version == 1
    assert await fakes.audit_events(uow, "region.update") == []


async def test_a_stale_region_version_is_refused() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    await features.regions.update(fakes.operator(), "eu", RegionPatch(name="EU"), 1)
    with pytest.raises(StaleVersion) as caught:
        await features.regions.update(fakes.operator(), "eu", RegionPatch(active=False), 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_version": "2"}
    assert (await features.regions.get(fakes.operator(), "eu")).active is True
    assert len(await fakes.audit_events(uow, "region.update")) == 1


async def test_changing_an_unknown_region_is_not_found() -> None:
    features, _ = await platform()
    with pytest.raises(NotFound) as caught:
        await features.regions.update(fakes.operator(), "us", RegionPatch(active=False), 0)
    assert caught.value.reason == "REGION_NOT_FOUND"


# -- databases ----------------------------------------------------------------------------------


async def test_an_added_database_goes_last_and_is_audited() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    region = await features.regions.add_database(fakes.operator(), "eu", "db-0", False)
    assert [(d.db_code, d.active) for d in region.databases] == [
        ("db-1", True),
        ("db-2", True),
        ("db-0", False),
    ]
    (event,) = await fakes.audit_events(uow, "region.database.add")
    assert (event.target_type, event.target_id) == ("region", "eu")
    assert event.details == {"db_code": "db-0", "active": False}


async def test_a_database_code_is_unique_within_its_region() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    with pytest.raises(AlreadyExists) as caught:
        await features.regions.add_database(fakes.operator(), "eu", "db-2", True)
    assert caught.value.reason == "DB_CODE_TAKEN"
    assert len((await features.regions.get(fakes.operator(), "eu")).databases) == 2
    assert await fakes.audit_events(uow, "region.database.add") == []


async def test_a_bad_database_code_is_refused_with_its_field() -> None:
    features, _ = await platform()
    await features.regions.create(fakes.operator(), EU)
    with pytest.raises(InvalidArgument) as caught:
        await features.regions.add_database(fakes.operator(), "eu", "DB_3", True)
    assert fakes.reason_set(caught.value) == {("db_code", "DB_CODE_INVALID")}


async def test_adding_a_database_to_an_unknown_region_is_not_found() -> None:
    features, _ = await platform()
    with pytest.raises(NotFound) as caught:
        await features.regions.add_database(fakes.operator(), "us", "db-1", True)
    assert caught.value.reason == "REGION_NOT_FOUND"


async def test_a_database_can_be_deactivated_and_it_is_audited() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    region = await features.regions.set_database_active(fakes.operator(), "eu", "db-1", False)
    assert [(d.db_code, d.active) for d in region.databases] == [("db-1", False), ("db-2", True)]
    (event,) = await fakes.audit_events(uow, "region.database.update")
    assert event.details == {"db_code": "db-1", "active": False}


async def test_switching_an_unknown_database_is_not_found_and_not_audited() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    with pytest.raises(NotFound) as caught:
        await features.regions.set_database_active(fakes.operator(), "eu", "db-9", False)
    assert caught.value.reason == "DB_CODE_NOT_FOUND"
    assert await fakes.audit_events(uow, "region.database.update") == []


async def test_apps_keep_the_db_code_they_were_created_with_when_it_is_deactivated() -> None:
    s = await fakes.seeded()
    before, _ = await fakes.app(s, "billing")
    await s.features.regions.set_database_active(fakes.operator(), "eu", "db-1", False)
    kept = await s.features.apps.get(fakes.tenant_admin("acme"), "acme", "billing")
    later, _ = await fakes.app(s, "shipping")
    assert (before.db_code, kept.db_code) == ("db-1", "db-1")
    assert later.db_code == "db-2"  # the first database still active


# -- deleting -----------------------------------------------------------------------------------


async def test_a_region_used_by_an_app_cannot_be_deleted_and_names_its_apps() -> None:
    s = await fakes.seeded()
    await fakes.app(s, "billing")
    await fakes.app(s, "shipping")
    with pytest.raises(FailedPrecondition) as caught:
        await s.features.regions.delete(fakes.operator(), "eu", 0)
    assert caught.value.reason == "REGION_IN_USE"
    assert caught.value.blockers == ["app:acme/billing", "app:acme/shipping"]
    assert (await s.features.regions.get(fakes.operator(), "eu")).id == s.region.id


async def test_an_unused_region_is_deleted_with_its_databases_and_audited() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    await features.regions.delete(fakes.operator(), "eu", 1)
    with pytest.raises(NotFound):
        await features.regions.get(fakes.operator(), "eu")
    (event,) = await fakes.audit_events(uow, "region.delete")
    assert (event.target_type, event.target_id, event.actor_id) == ("region", "eu", "tc_operator")
    recreated = await features.regions.create(fakes.operator(), RegionDraft(code="eu", name="EU"))
    assert recreated.databases == ()


async def test_deleting_a_region_checks_its_version() -> None:
    features, uow = await platform()
    await features.regions.create(fakes.operator(), EU)
    await features.regions.update(fakes.operator(), "eu", RegionPatch(name="EU"), 0)
    with pytest.raises(StaleVersion) as caught:
        await features.regions.delete(fakes.operator(), "eu", 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert (await features.regions.get(fakes.operator(), "eu")).name == "EU"
    assert await fakes.audit_events(uow, "region.delete") == []


async def test_deleting_an_unknown_region_is_not_found() -> None:
    features, _ = await platform()
    with pytest.raises(NotFound) as caught:
        await features.regions.delete(fakes.operator(), "us", 0)
    assert caught.value.reason == "REGION_NOT_FOUND"
