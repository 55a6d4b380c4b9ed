"""New platform permissions reach existing tenants (services.registry.tenants.provisioning
``reseed``, run by the bootstrap at every start): a release that adds an entry to the admin
catalog (as ``key:read`` / ``key:write`` were) gives it to every tenant's catalog and
``tenant-admin`` role, announces each changed tenant so cached snapshots are read again, and
an up-to-date platform costs no write at all."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.common.vocabulary import CORE_PERMISSIONS, TESSERA_PERMISSIONS
from services.registry.kernel.models import PageRequest
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from tests.unit.registry import fakes


async def world() -> tuple[fakes.MemoryWorld, fakes.Clock, str]:
    """Tenants ``acme`` and ``initech`` on a clock the test moves; the id of initech's admin
    client."""
    clock = fakes.Clock()
    w = await fakes.memory_world(now=clock)
    _, credentials = await w.features.tenants.create(
        fakes.operator(), TenantDraft(slug="initech", display_name="Initech")
    )
    w.bus.changes.clear()
    return w, clock, credentials.client_id


async def admin_grants(w: fakes.MemoryWorld, slug: str) -> set[tuple[str, str]]:
    async with memory_unit_of_work(w.db).read() as tx:
        tenant = await tx.tenants.get(slug)
        role = await tx.roles.get(tenant.id, "tenant-admin")
        return set(await tx.roles.grants([role.id]))


async def catalog(w: fakes.MemoryWorld, slug: str) -> dict[tuple[str, str], Any]:
    async with memory_unit_of_work(w.db).read() as tx:
        tenant = await tx.tenants.get(slug)
        page = await tx.catalog.search(tenant.id, None, True, PageRequest(1000, 0))
        return {(e.service_code, e.code): e for e in page.items}


async def test_a_new_platform_permission_reaches_every_tenant_and_its_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, clock, admin_client = await world()
    monkeypatch.setitem(TESSERA_PERMISSIONS, "report:read", "Read reports")
    clock.advance(60)
    assert await w.features.tenants.bootstrap("tc_operator", None) is True
    for slug in ("acme", "initech"):
        entry = (await catalog(w, slug))[("tessera", "report:read")]
        assert (entry.name, entry.deprecated_at) == ("Read reports", None)
        assert ("tessera", "report:read") in await admin_grants(w, slug)
    snapshot = await w.features.resolution.client_snapshot(
        fakes.service("token"), "initech", admin_client
    )
    [system] = snapshot.apps
    assert "report:read" in system.permissions
    assert sorted((c.tenant, c.kind) for c in w.bus.changes) == [
        ("acme", "role"),
        ("control-plane", "role"),
        ("initech", "role"),
    ]


async def test_a_renamed_or_deprecated_platform_entry_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, clock, _ = await world()
    entry = (await catalog(w, "acme"))[("tessera", "key:read")]
    async with memory_unit_of_work(w.db).transaction() as tx:
        await tx.catalog.update(replace(entry, deprecated_at=clock()))
    monkeypatch.setitem(TESSERA_PERMISSIONS, "key:write", "Rotate signing keys (renamed)")
    assert await w.features.tenants.bootstrap("tc_operator", None) is True
    entries = await catalog(w, "acme")
    assert entries[("tessera", "key:read")].deprecated_at is None
    assert entries[("tessera", "key:write")].name == "Rotate signing keys (renamed)"


async def test_an_up_to_date_platform_is_left_untouched_and_announces_nothing() -> None:
    w, clock, _ = await world()
    before = w.state()
    clock.advance(3600)  # anything written now would carry a new time
    assert await w.features.tenants.bootstrap("tc_operator", None) is False
    assert w.state() == before
    assert w.bus.changes == []


async def test_every_tenant_starts_with_the_whole_admin_and_core_catalogs() -> None:
    w, _, _ = await world()
    entries = await catalog(w, "initech")
    assert {("tessera", code) for code in TESSERA_PERMISSIONS} <= set(entries)
    assert {("core", code) for code in CORE_PERMISSIONS} <= set(entries)
    assert {("tessera", "key:read"), ("tessera", "key:write")} <= await admin_grants(w, "initech")


async def test_reseeding_reaches_tenants_beyond_the_first_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, _, _ = await world()
    for n in range(3):
        await w.features.tenants.create(
            fakes.operator(), TenantDraft(slug=f"tenant-{n}", display_name=f"Tenant {n}")
        )
    monkeypatch.setattr("services.registry.tenants.use_cases.MAX_PAGE_SIZE", 2)
    monkeypatch.setitem(TESSERA_PERMISSIONS, "report:read", "Read reports")
    assert await w.features.tenants.bootstrap("tc_operator", None) is True
    for slug in ("acme", "initech", "tenant-0", "tenant-1", "tenant-2"):
        assert ("tessera", "report:read") in await admin_grants(w, slug), slug
