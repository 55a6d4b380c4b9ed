"""Catalog registration driven directly over the in-memory stores (Vendidit seed §5;
ARCHITECTURE §2 "Permission catalog"): the reconcile as a service's boot sees it — revisions,
dry runs, idempotent repeats, renames that keep role grants, prunes blocked by what still
references an entry (or forced), the platform's own catalogs, and the audit event and change
notification a changing registration leaves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import pytest

from services.common.changes import Change
from services.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.common.vocabulary import TESSERA_PERMISSIONS
from services.registry.catalog.models import (
    CatalogEntry,
    PermissionDeclaration,
    ReconcileReport,
    ReferencedEntry,
    Rename,
)
from services.registry.features import Features
from services.registry.kernel.models import AuditEvent
from services.registry.resource_servers.models import ResourceServerDraft
from services.registry.roles.models import PermissionRef, RoleDraft, RolePermission
from services.registry.tenants.models import TenantDraft
from tests.unit.registry import fakes

ADMIN = fakes.tenant_admin("acme")
SERVICE = fakes.tenant_admin("acme", "permission:write", subject="tc_billing_service")
NOW = fakes.NOW


@dataclass
class World:
    features: Features
    bus: fakes.RecordingBus


async def world() -> World:
    """Tenant ``acme`` with app ``billing`` (service code ``billing``), no catalog yet."""
    bus = fakes.RecordingBus()
    features = fakes.features(changes=bus)
    seeded = await fakes.seeded(features)
    await fakes.app(seeded, "billing")
    bus.changes.clear()
    return World(features, bus)


def declared(*entries: str | PermissionDeclaration) -> list[PermissionDeclaration]:
    return [
        e if isinstance(e, PermissionDeclaration) else PermissionDeclaration(e) for e in entries
    ]


async def register(
    w: World, *entries: str | PermissionDeclaration, dry_run: bool = False, force: bool = False
) -> ReconcileReport:
    return await w.features.catalog.register(
        SERVICE, "acme", "billing", declared(*entries), dry_run=dry_run, force=force
    )


async def stored(w: World, *, include_deprecated: bool = False) -> list[CatalogEntry]:
    page = await w.features.catalog.search(ADMIN, "acme", "billing", include_deprecated, 200, 0)
    return page.items


async def codes(w: World, *, include_deprecated: bool = False) -> list[str]:
    return [e.code for e in await stored(w, include_deprecated=include_deprecated)]


async def reconciles(w: World) -> list[AuditEvent]:
    """``catalog.reconcile`` events, oldest revision first (events of one instant have no
    order of their own)."""
    page = await w.features.audit.search(ADMIN, "acme", 200, 0, "catalog.reconcile", "")
    return sorted(page.items, key=lambda e: int(e.details["revision"]))


async def clerk(w: World, *codes: str) -> None:
    """Role ``clerk`` granting ``codes`` of the billing catalog."""
    role = await w.features.roles.create(ADMIN, "acme", RoleDraft(code="clerk", name="Clerk"))
    refs = [PermissionRef("billing", c) for c in codes]
    await w.features.roles.set_permissions(ADMIN, "acme", role.id, refs, "")


async def clerk_grants(w: World) -> tuple[RolePermission, ...]:
    return (await w.features.roles.get(ADMIN, "acme", "clerk")).permissions


async def test_a_first_registration_creates_every_entry_at_revision_one() -> None:
    w = await world()
    report = await register(
        w, PermissionDeclaration("invoice:read", name="Read invoices"), "invoice:write"
    )
    assert report == ReconcileReport(
        service="billing",
        revision=1,
        dry_run=False,
        created=("invoice:read", "invoice:write"),
        changed=True,
    )
    entries = await stored(w)
    assert [(e.code, e.name, e.service_code) for e in entries] == [
        ("invoice:read", "Read invoices", "billing"),
        ("invoice:write", "invoice:write", "billing"),
    ]


async def test_a_changing_registration_is_audited_with_its_counts_and_published() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    [event] = await reconciles(w)
    assert (event.target_type, event.target_id, event.actor_id, event.tenant_slug) == (
        "catalog",
        "billing",
        "tc_billing_service",
        "acme",
    )
    assert event.details == {
        "service": "billing",
        "revision": 1,
        "force": False,
        "created": 2,
        "updated": 0,
        "renamed": 0,
        "unchanged": 0,
        "pruned": 0,
        "blocked": 0,
        "pruned_with_grants": 0,
    }
    assert w.bus.changes == [Change("acme", "catalog", "billing")]


async def test_an_identical_registration_changes_nothing_and_keeps_the_revision() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    w.bus.changes.clear()
    again = await register(w, "invoice:read", "invoice:write")
    assert again == ReconcileReport(
        service="billing",
        revision=1,
        dry_run=False,
        unchanged=("invoice:read", "invoice:write"),
    )
    assert len(await reconciles(w)) == 1
    assert w.bus.changes == []


async def test_changed_entries_are_updated_undeclared_ones_pruned_and_the_revision_bumped() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write", "invoice:void")
    report = await register(
        w, PermissionDeclaration("invoice:read", name="Read invoices"), "invoice:write"
    )
    assert (report.revision, report.updated, report.unchanged, report.pruned) == (
        2,
        ("invoice:read",),
        ("invoice:write",),
        ("invoice:void",),
    )
    assert await codes(w, include_deprecated=True) == ["invoice:read", "invoice:write"]
    assert [e.details["revision"] for e in await reconciles(w)] == [1, 2]


async def test_an_empty_declaration_prunes_the_whole_catalog() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    report = await register(w)
    assert (report.pruned, report.revision) == (("invoice:read", "invoice:write"), 2)
    assert await codes(w, include_deprecated=True) == []


async def test_a_dry_run_reports_what_the_real_call_does_and_writes_nothing() -> None:
    w = await world()
    preview = await register(w, "invoice:read", "invoice:write", dry_run=True)
    assert await codes(w, include_deprecated=True) == []
    assert await reconciles(w) == []
    assert w.bus.changes == []
    real = await register(w, "invoice:read", "invoice:write")
    assert preview == replace(real, dry_run=True)
    assert real.revision == 1


async def test_a_dry_run_of_an_unchanged_catalog_keeps_the_revision() -> None:
    w = await world()
    await register(w, "invoice:read")
    preview = await register(w, "invoice:read", dry_run=True)
    assert (preview.revision, preview.changed, preview.unchanged) == (1, False, ("invoice:read",))


async def test_pruning_an_entry_a_role_grants_is_blocked_deprecated_once_and_kept() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    await clerk(w, "invoice:read")
    report = await register(w, "invoice:write")
    assert report.pruned == ()
    assert report.blocked == (ReferencedEntry("invoice:read", ("clerk",), (), NOW),)
    assert report.revision == 2
    assert await codes(w) == ["invoice:write"]
    [deprecated] = [e for e in await stored(w, include_deprecated=True) if e.deprecated_at]
    assert (deprecated.code, deprecated.deprecated_at) == ("invoice:read", NOW)
    [grant] = await clerk_grants(w)
    assert (grant.code, grant.deprecated) == ("invoice:read", True)
    # Declaring the same again reports the block but changes nothing more.
    again = await register(w, "invoice:write")
    assert (again.blocked, again.changed, again.revision) == (report.blocked, False, 2)
    assert len(await reconciles(w)) == 2


async def test_declaring_a_deprecated_entry_again_restores_it() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    await clerk(w, "invoice:read")
    await register(w, "invoice:write")
    report = await register(w, "invoice:read", "invoice:write")
    assert (report.updated, report.unchanged) == (("invoice:read",), ("invoice:write",))
    assert await codes(w) == ["invoice:read", "invoice:write"]
    [grant] = await clerk_grants(w)
    assert not grant.deprecated


async def test_force_prunes_a_granted_entry_with_its_grants_and_reports_them() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    await clerk(w, "invoice:read", "invoice:write")
    report = await register(w, "invoice:write", force=True)
    assert report.pruned_with_grants == (ReferencedEntry("invoice:read", ("clerk",), ()),)
    assert report.blocked == ()
    assert await codes(w, include_deprecated=True) == ["invoice:write"]
    assert [g.code for g in await clerk_grants(w)] == ["invoice:write"]
    event = (await reconciles(w))[-1]
    assert (event.details["force"], event.details["pruned_with_grants"]) == (True, 1)


async def test_a_forced_dry_run_reports_the_prune_and_keeps_the_grants() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    await clerk(w, "invoice:read")
    preview = await register(w, "invoice:write", force=True, dry_run=True)
    assert preview.pruned_with_grants == (ReferencedEntry("invoice:read", ("clerk",), ()),)
    assert [g.code for g in await clerk_grants(w)] == ["invoice:read"]
    assert await codes(w) == ["invoice:read", "invoice:write"]


async def test_an_entry_a_resource_server_gates_on_is_blocked_too() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:write")
    await w.features.resource_servers.create(
        ADMIN,
        "acme",
        ResourceServerDraft(
            app="billing", audience="billing-api", name="API", permissions=("invoice:read",)
        ),
    )
    report = await register(w, "invoice:write")
    assert report.blocked == (ReferencedEntry("invoice:read", (), ("billing-api",), NOW),)
    server = await w.features.resource_servers.get(ADMIN, "acme", "billing-api")
    assert server.permissions == ("invoice:read",)


async def test_a_rename_keeps_the_entry_and_its_role_grants_and_is_idempotent() -> None:
    w = await world()
    await register(w, "invoice:read")
    await clerk(w, "invoice:read")
    [before] = await clerk_grants(w)
    rename = PermissionDeclaration("invoice:view", renamed_from="invoice:read")
    report = await register(w, rename)
    assert (report.renamed, report.created, report.pruned) == (
        (Rename("invoice:read", "invoice:view"),),
        (),
        (),
    )
    [after] = await clerk_grants(w)
    assert (after.id, after.code) == (before.id, "invoice:view")
    again = await register(w, rename)
    assert (again.changed, again.unchanged, again.revision) == (False, ("invoice:view",), 2)


async def test_renaming_onto_an_existing_code_is_refused_and_nothing_changes() -> None:
    w = await world()
    await register(w, "invoice:read", "invoice:view")
    with pytest.raises(FailedPrecondition) as caught:
        await register(w, PermissionDeclaration("invoice:view", renamed_from="invoice:read"))
    assert (caught.value.reason, caught.value.metadata) == (
        "RENAME_TARGET_EXISTS",
        {"from": "invoice:read", "to": "invoice:view"},
    )
    assert await codes(w) == ["invoice:read", "invoice:view"]
    assert len(await reconciles(w)) == 1
    assert (await register(w, "invoice:read", "invoice:view")).revision == 1


async def test_two_replicas_registering_the_same_catalog_at_once_end_with_one_catalog() -> None:
    w = await world()
    first, second = await asyncio.gather(
        register(w, "invoice:read", "invoice:write"), register(w, "invoice:read", "invoice:write")
    )
    assert {first.revision, second.revision} == {1}
    assert sorted([first.created, second.created]) == [(), ("invoice:read", "invoice:write")]
    assert await codes(w) == ["invoice:read", "invoice:write"]
    assert len(await reconciles(w)) == 1


@pytest.mark.parametrize("service", ["tessera", "control-plane", "core"])
async def test_the_platform_catalogs_cannot_be_redeclared_even_by_the_tenant_admin(
    service: str,
) -> None:
    w = await world()
    before = await w.features.catalog.search(ADMIN, "acme", "", True, 200, 0)
    with pytest.raises(PermissionDenied) as caught:
        await w.features.catalog.register(ADMIN, "acme", service, [])
    assert (caught.value.reason, caught.value.metadata) == (
        "SERVICE_RESERVED",
        {"service": service},
    )
    assert await w.features.catalog.search(ADMIN, "acme", "", True, 200, 0) == before
    tessera = await w.features.catalog.search(ADMIN, "acme", "tessera", False, 200, 0)
    assert sorted(e.code for e in tessera.items) == sorted(TESSERA_PERMISSIONS)


async def test_catalogs_and_revisions_are_per_tenant() -> None:
    w = await world()
    await register(w, "invoice:read")
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    theirs = await w.features.catalog.register(
        fakes.tenant_admin("globex"), "globex", "billing", declared("order:read")
    )
    assert (theirs.revision, theirs.created, theirs.pruned) == (1, ("order:read",), ())
    assert await codes(w) == ["invoice:read"]


async def test_search_filters_by_service_and_validates_the_service_code() -> None:
    w = await world()
    await register(w, "invoice:read")
    reader = fakes.tenant_admin("acme", "app:read", subject="tc_reader")
    page = await w.features.catalog.search(reader, "acme", "billing", False, 0, 0)
    assert [(e.service_code, e.code) for e in page.items] == [("billing", "invoice:read")]
    everything = await w.features.catalog.search(reader, "acme", "", False, 200, 0)
    assert {e.service_code for e in everything.items} == {"billing", "tessera", "core"}
    with pytest.raises(InvalidArgument) as caught:
        await w.features.catalog.search(reader, "acme", "Not A Code", False, 0, 0)
    assert caught.value.violations[0].field == "service"
