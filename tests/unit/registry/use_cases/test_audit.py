"""Audit-log reading over the in-memory stores: who may read a tenant's log, that a tenant's log
holds its own events only (each naming its actor, ARCHITECTURE §7), newest first, filtered by
action and target, paged; refused escalations are in it although their write rolled back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.registry.apps.models import AppDraft, AppPatch
from services.registry.clients.models import ClientDraft
from services.registry.features import Features
from services.registry.kernel.escalation import EscalationDenied
from services.registry.plans.models import PlanDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from tests.unit.registry import fakes

ADMIN = fakes.tenant_admin("acme")


def ticking() -> Callable[[], datetime]:
    """A clock one second further at every reading, so events have an order."""
    readings = iter(range(1_000_000))
    return lambda: fakes.NOW + timedelta(seconds=next(readings))


async def platform() -> tuple[fakes.Seeded, Any]:
    """Bootstrap, region ``eu``, tenant ``acme`` (with a ticking clock), and the unit of work."""
    uow = memory_unit_of_work()
    return await fakes.seeded(fakes.features(uow, now=ticking())), uow


async def actions(f: Features, tenant: str = "acme", **filters: str) -> list[str]:
    page = await f.audit.search(
        fakes.operator(), tenant, 0, 0, filters.get("action", ""), filters.get("target_id", "")
    )
    return [e.action for e in page.items]


# -- who may read -------------------------------------------------------------------------------


async def test_reading_the_audit_log_needs_audit_read_refused_before_storage() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.audit.search(fakes.tenant_admin("acme", "app:read"), "acme", 0, 0, "", "")
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "audit:read"}


async def test_another_tenants_audit_log_is_forbidden_before_storage() -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await untouchable.audit.search(fakes.tenant_admin("beta"), "acme", 0, 0, "", "")
    assert caught.value.reason == "TENANT_FORBIDDEN"


async def test_a_tenant_admin_reads_its_own_log_and_an_operator_any_tenants() -> None:
    s, _ = await platform()
    own = await s.features.audit.search(
        fakes.tenant_admin("acme", "audit:read"), "acme", 0, 0, "", ""
    )
    by_operator = await s.features.audit.search(fakes.operator(), "acme", 0, 0, "", "")
    assert [e.action for e in own.items] == ["tenant.create"]
    assert by_operator.items == own.items


async def test_an_unknown_tenant_has_no_audit_log() -> None:
    s, _ = await platform()
    with pytest.raises(NotFound) as caught:
        await s.features.audit.search(fakes.operator(), "nobody", 0, 0, "", "")
    assert caught.value.reason == "TENANT_NOT_FOUND"


# -- what a tenant's log holds ------------------------------------------------------------------


async def test_a_tenants_log_holds_its_own_events_only() -> None:
    s, _ = await platform()
    await s.features.tenants.create(fakes.operator(), TenantDraft("beta", "Beta"))
    await fakes.app(s, "billing")
    await s.features.apps.create(
        fakes.tenant_admin("beta"), "beta", AppDraft(slug="billing", display_name="B", region="eu")
    )
    acme = await s.features.audit.search(fakes.operator(), "acme", 0, 0, "", "")
    beta = await s.features.audit.search(fakes.operator(), "beta", 0, 0, "", "")
    assert [e.action for e in acme.items] == ["app.create", "tenant.create"]
    assert {e.tenant_slug for e in acme.items} == {"acme"}
    assert {e.tenant_slug for e in beta.items} == {"beta"}
    assert not {e.id for e in acme.items} & {e.id for e in beta.items}


async def test_platform_wide_writes_go_to_the_control_planes_log_only() -> None:
    s, _ = await platform()
    await s.features.plans.create(fakes.operator(), PlanDraft("starter", "Starter"))
    control = await s.features.audit.search(fakes.operator(), "control-plane", 0, 0, "", "")
    platform_events = {e.action: e.tenant_slug for e in control.items if e.target_type != "tenant"}
    assert platform_events == {"region.create": "control-plane", "plan.create": "control-plane"}
    assert await actions(s.features) == ["tenant.create"]


async def test_events_are_newest_first_and_name_their_actor() -> None:
    s, _ = await platform()
    app, _ = await fakes.app(s, "billing")
    await s.features.apps.update(ADMIN, "acme", app.id, AppPatch(description="changed"), 1)
    page = await s.features.audit.search(fakes.operator(), "acme", 0, 0, "", "")
    assert [(e.action, e.actor_tenant, e.actor_id, e.actor_type) for e in page.items] == [
        ("app.update", "acme", "tc_admin", "client"),
        ("app.create", "acme", "tc_admin", "client"),
        ("tenant.create", "control-plane", "tc_operator", "client"),
    ]
    times = [e.occurred_at for e in page.items]
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == 3


async def test_events_are_filtered_by_action_and_target() -> None:
    s, _ = await platform()
    billing, _ = await fakes.app(s, "billing")
    shipping, _ = await fakes.app(s, "shipping")
    await s.features.apps.update(ADMIN, "acme", billing.id, AppPatch(description="x"), 1)
    assert await actions(s.features, action="app.create") == ["app.create", "app.create"]
    assert await actions(s.features, target_id=billing.id) == ["app.update", "app.create"]
    assert await actions(s.features, action="app.create", target_id=shipping.id) == ["app.create"]
    assert await actions(s.features, action="app.delete") == []


async def test_the_log_is_read_in_pages() -> None:
    s, _ = await platform()
    for slug in ("alpha", "beta", "gamma"):
        await fakes.app(s, slug)
    first = await s.features.audit.search(fakes.operator(), "acme", 2, 0, "", "")
    rest = await s.features.audit.search(fakes.operator(), "acme", 2, 2, "", "")
    assert (len(first.items), first.total, first.next_offset) == (2, 4, 2)
    assert (len(rest.items), rest.next_offset) == (2, None)
    assert [e.action for e in rest.items] == ["app.create", "tenant.create"]


async def test_a_page_size_over_the_maximum_is_refused() -> None:
    s, _ = await platform()
    with pytest.raises(InvalidArgument) as caught:
        await s.features.audit.search(fakes.operator(), "acme", 201, 0, "", "")
    assert caught.value.reason == "PAGE_SIZE_INVALID"


async def test_a_refused_escalation_is_in_the_log_although_its_write_rolled_back() -> None:
    s, _ = await platform()
    await fakes.app(s, "billing")
    clerk = fakes.tenant_admin("acme", "client:write", "app:read", subject="tc_clerk")
    with pytest.raises(EscalationDenied) as caught:
        await s.features.clients.create(
            clerk, "acme", ClientDraft("Sneaky", apps=("billing",), roles=("tenant-admin",))
        )
    assert caught.value.reason == "ESCALATION"
    page = await s.features.audit.search(fakes.operator(), "acme", 0, 0, "escalation.denied", "")
    (event,) = page.items
    assert (event.actor_id, event.actor_tenant, event.target_type) == ("tc_clerk", "acme", "client")
    assert event.target_id == caught.value.target_id
    assert event.details["operation"] == "client.create"
    assert event.details["reason"] == "ESCALATION"
    assert "user:write" in event.details["missing"]
    assert await actions(s.features, action="client.create") == []
