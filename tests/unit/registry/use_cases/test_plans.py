"""Plan use cases over the in-memory stores: operators manage the platform-wide plans (limits in
Document Units, active or retired; TrueParser seed), tenant admins may read them, a change is
published to every tenant, and a plan an app is on cannot be deleted."""

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
from services.common.vocabulary import PlanStatus
from services.registry.apps.models import AppPatch
from services.registry.features import Features
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.stores import memory_unit_of_work
from tests.unit.registry import fakes

# The seed's example: limits in Document Units.
STARTER = PlanDraft(
    code="starter", name="Starter", limits={"monthly-document-units": 5000, "max-pages": 300}
)


@dataclass
class World:
    features: Features
    uow: Any
    bus: fakes.RecordingBus
    seeded: fakes.Seeded


async def world() -> World:
    """A bootstrapped platform with region ``eu`` and tenant ``acme``, no plan yet."""
    uow, bus = memory_unit_of_work(), fakes.RecordingBus()
    features = fakes.features(uow, changes=bus)
    seeded = await fakes.seeded(features)
    bus.changes.clear()
    return World(features, uow, bus, seeded)


# -- who may call -------------------------------------------------------------------------------

WRITES: dict[str, Callable[[Features, Principal], Awaitable[Any]]] = {
    "create": lambda f, p: f.plans.create(p, STARTER),
    "update": lambda f, p: f.plans.update(p, "starter", PlanPatch(status="retired"), 0),
    "delete": lambda f, p: f.plans.delete(p, "starter", 0),
}


@pytest.mark.parametrize("operation", WRITES)
async def test_plan_writes_are_for_operators_only_refused_before_storage(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await WRITES[operation](untouchable, fakes.tenant_admin("acme"))
    assert caught.value.reason == "OPERATOR_ONLY"


@pytest.mark.parametrize("operation", WRITES)
async def test_plan_writes_need_plan_write(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await WRITES[operation](untouchable, fakes.operator("plan:read"))
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "plan:write"}


async def test_a_tenant_admin_with_app_read_may_read_plans() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), STARTER)
    admin = fakes.tenant_admin("acme", "app:read")
    assert await w.features.plans.get(admin, "starter") == plan
    assert (await w.features.plans.search(admin, 0, 0, "")).items == [plan]


async def test_reading_plans_otherwise_needs_an_operator_with_plan_read() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.plans.get(fakes.tenant_admin("acme", "audit:read"), "starter")
    assert caught.value.reason == "OPERATOR_ONLY"
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    assert (await w.features.plans.get(fakes.operator("plan:read"), "starter")).code == "starter"


async def test_an_unknown_plan_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.plans.get(fakes.operator(), "gold")
    assert caught.value.reason == "PLAN_NOT_FOUND"


async def test_plans_are_listed_by_status_and_an_unknown_status_is_refused() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    await w.features.plans.create(fakes.operator(), PlanDraft("legacy", "Legacy"))
    await w.features.plans.update(fakes.operator(), "legacy", PlanPatch(status="retired"), 1)
    retired = await w.features.plans.search(fakes.operator(), 0, 0, "retired")
    assert [p.code for p in retired.items] == ["legacy"]
    with pytest.raises(InvalidArgument) as caught:
        await w.features.plans.search(fakes.operator(), 0, 0, "archived")
    assert caught.value.reason == "PLAN_STATUS_INVALID"


# -- creating -----------------------------------------------------------------------------------


async def test_a_new_plan_is_active_with_its_limits_in_document_units() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), STARTER)
    assert (plan.code, plan.name, plan.status, plan.version) == (
        "starter",
        "Starter",
        PlanStatus.ACTIVE,
        1,
    )
    assert plan.limits == {"monthly-document-units": 5000, "max-pages": 300}
    assert await w.features.plans.get(fakes.operator(), plan.id) == plan


async def test_every_bad_field_of_a_new_plan_is_reported_and_nothing_is_stored() -> None:
    w = await world()
    draft = PlanDraft(
        code="Gold!",
        name="",
        limits={"Monthly Units": 1, "max-pages": -1, "seats": 2.5, "api": True},  # type: ignore[dict-item]
    )
    with pytest.raises(InvalidArgument) as caught:
        await w.features.plans.create(fakes.operator(), draft)
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reason_set(caught.value) == {
        ("code", "PLAN_CODE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("limits.Monthly Units", "LIMIT_NAME_INVALID"),
        ("limits.max-pages", "LIMIT_VALUE_INVALID"),
        ("limits.seats", "LIMIT_VALUE_INVALID"),
        ("limits.api", "LIMIT_VALUE_INVALID"),
    }
    assert (await w.features.plans.search(fakes.operator(), 0, 0, "")).items == []
    assert await fakes.audit_events(w.uow, "plan.create") == []


async def test_a_taken_plan_code_is_refused() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    with pytest.raises(AlreadyExists) as caught:
        await w.features.plans.create(fakes.operator(), PlanDraft("starter", "Other"))
    assert caught.value.reason == "PLAN_CODE_TAKEN"
    assert (await w.features.plans.get(fakes.operator(), "starter")).name == "Starter"
    assert len(await fakes.audit_events(w.uow, "plan.create")) == 1


async def test_creating_a_plan_is_audited_as_a_platform_write_with_its_limits() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    (event,) = await fakes.audit_events(w.uow, "plan.create")
    assert (event.target_type, event.target_id, event.tenant_slug) == (
        "plan",
        "starter",
        "control-plane",
    )
    assert (event.actor_id, event.actor_tenant) == ("tc_operator", "control-plane")
    assert event.details == {"limits": {"monthly-document-units": 5000, "max-pages": 300}}


# -- changing -----------------------------------------------------------------------------------


async def test_retiring_a_plan_is_audited_and_published_to_every_tenant_after_commit() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), STARTER)
    seen: list[PlanStatus] = []

    async def look(change: Change) -> None:
        async with w.uow.read() as tx:
            stored = await tx.plans.get(change.target_id)
            assert stored is not None
            seen.append(stored.status)

    w.bus.on_publish = look
    retired = await w.features.plans.update(
        fakes.operator(), "starter", PlanPatch(status="retired"), 1
    )
    assert (retired.status, retired.version) == (PlanStatus.RETIRED, 2)
    assert w.bus.changes == [Change("*", "plan", plan.id)]
    assert seen == [PlanStatus.RETIRED]
    (event,) = await fakes.audit_events(w.uow, "plan.update")
    assert (event.target_id, event.details) == ("starter", {"status": "retired"})


async def test_a_retired_plan_can_be_reactivated() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    await w.features.plans.update(fakes.operator(), "starter", PlanPatch(status="retired"), 1)
    active = await w.features.plans.update(
        fakes.operator(), "starter", PlanPatch(status="active"), 2
    )
    assert active.status is PlanStatus.ACTIVE


async def test_limits_given_in_a_patch_replace_all_the_limits() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    renamed = await w.features.plans.update(
        fakes.operator(), "starter", PlanPatch(name="Starter 2024"), 1
    )
    assert renamed.limits == STARTER.limits  # limits not given: kept
    relimited = await w.features.plans.update(
        fakes.operator(), "starter", PlanPatch(limits={"monthly-document-units": 10_000}), 2
    )
    assert relimited.limits == {"monthly-document-units": 10_000}
    assert (relimited.name, relimited.status) == ("Starter 2024", PlanStatus.ACTIVE)
    cleared = await w.features.plans.update(fakes.operator(), "starter", PlanPatch(limits={}), 3)
    assert cleared.limits == {}


async def test_every_bad_field_of_a_plan_patch_is_reported_and_nothing_changes() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    with pytest.raises(InvalidArgument) as caught:
        await w.features.plans.update(
            fakes.operator(),
            "starter",
            PlanPatch(name=" ", status="archived", limits={"max-pages": -5}),
            1,
        )
    assert fakes.reason_set(caught.value) == {
        ("name", "DISPLAY_NAME_EMPTY"),
        ("status", "PLAN_STATUS_INVALID"),
        ("limits.max-pages", "LIMIT_VALUE_INVALID"),
    }
    assert (await w.features.plans.get(fakes.operator(), "starter")).version == 1
    assert await fakes.audit_events(w.uow, "plan.update") == []
    assert w.bus.changes == []


async def test_a_stale_plan_version_is_refused_and_nothing_is_published() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    await w.features.plans.update(fakes.operator(), "starter", PlanPatch(name="S"), 1)
    with pytest.raises(StaleVersion) as caught:
        await w.features.plans.update(fakes.operator(), "starter", PlanPatch(status="retired"), 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_version": "2"}
    assert (await w.features.plans.get(fakes.operator(), "starter")).status is PlanStatus.ACTIVE
    assert len(w.bus.changes) == 1


async def test_changing_an_unknown_plan_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.plans.update(fakes.operator(), "gold", PlanPatch(status="retired"), 0)
    assert caught.value.reason == "PLAN_NOT_FOUND"
    assert w.bus.changes == []


# -- deleting -----------------------------------------------------------------------------------


async def test_a_plan_an_app_is_on_cannot_be_deleted_and_names_the_app() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), STARTER)
    app, _ = await fakes.app(w.seeded, "billing")
    await w.features.apps.update(fakes.operator(), "acme", app.id, AppPatch(plan="starter"), 0)
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.plans.delete(fakes.operator(), "starter", 0)
    assert caught.value.reason == "PLAN_IN_USE"
    assert caught.value.blockers == ["app:acme/billing"]
    assert (await w.features.plans.get(fakes.operator(), "starter")).id == plan.id
    assert await fakes.audit_events(w.uow, "plan.delete") == []


async def test_a_plan_no_app_is_on_is_deleted_and_audited() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    await w.features.plans.delete(fakes.operator(), "starter", 1)
    with pytest.raises(NotFound):
        await w.features.plans.get(fakes.operator(), "starter")
    (event,) = await fakes.audit_events(w.uow, "plan.delete")
    assert (event.target_type, event.target_id, event.tenant_slug) == (
        "plan",
        "starter",
        "control-plane",
    )


async def test_deleting_a_plan_checks_its_version() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), STARTER)
    await w.features.plans.update(fakes.operator(), "starter", PlanPatch(name="S"), 1)
    with pytest.raises(StaleVersion) as caught:
        await w.features.plans.delete(fakes.operator(), "starter", 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert (await w.features.plans.get(fakes.operator(), "starter")).name == "S"


async def test_deleting_an_unknown_plan_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.plans.delete(fakes.operator(), "gold", 0)
    assert caught.value.reason == "PLAN_NOT_FOUND"
