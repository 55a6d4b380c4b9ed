"""Scope use cases driven directly over the in-memory stores (Modgud seed, "Invite codes": the
app-bound ``invite:write`` scope): tenant-wide or app-bound scopes, names unique per tenant, a
held scope kept, who may call, and the audit events and change notifications they leave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.vocabulary import TESSERA_PERMISSIONS
from services.registry.apps.models import App
from services.registry.clients.models import ClientDraft, ClientPatch
from services.registry.features import Features
from services.registry.kernel.models import AuditEvent
from services.registry.scopes.use_cases import ScopeUseCases
from services.registry.tenants.models import TenantDraft
from tests.unit.registry import fakes

ADMIN = fakes.tenant_admin("acme")


@dataclass
class World:
    features: Features
    bus: fakes.RecordingBus
    billing: App
    shop: App


async def world() -> World:
    """Tenant ``acme`` with apps ``billing`` and ``shop`` and a recording bus."""
    bus = fakes.RecordingBus()
    features = fakes.features(changes=bus)
    seeded = await fakes.seeded(features)
    billing, _ = await fakes.app(seeded, "billing")
    shop, _ = await fakes.app(seeded, "shop")
    bus.changes.clear()
    return World(features, bus, billing, shop)


async def names(w: World, app: str = "") -> list[str]:
    page = await w.features.scopes.search(ADMIN, "acme", app, 0, 0)
    return [s.name for s in page.items]


async def events(w: World, action: str) -> list[AuditEvent]:
    return (await w.features.audit.search(ADMIN, "acme", 200, 0, action, "")).items


# -- who may call ------------------------------------------------------------------------------

Call = Callable[[ScopeUseCases, Principal], Awaitable[object]]
CALLS: dict[str, tuple[str, Call]] = {
    "create": ("app:write", lambda uc, p: uc.create(p, "acme", "invite:write", "", "")),
    "delete": ("app:write", lambda uc, p: uc.delete(p, "acme", "invite:write")),
    "search": ("app:read", lambda uc, p: uc.search(p, "acme", "", 0, 0)),
}


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_a_caller_without_the_permission_is_refused_before_storage(operation: str) -> None:
    needed, call = CALLS[operation]
    others = [p for p in TESSERA_PERMISSIONS if p != needed]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().scopes, fakes.tenant_admin("acme", *others))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": needed},
    )


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_another_tenants_admin_is_refused_before_storage(operation: str) -> None:
    _, call = CALLS[operation]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().scopes, fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


# -- create ------------------------------------------------------------------------------------


async def test_a_tenant_wide_scope_is_created_audited_and_published() -> None:
    w = await world()
    scope = await w.features.scopes.create(ADMIN, "acme", "reports.read", "Read reports", "")
    assert (scope.name, scope.description, scope.app_id, scope.app_slug, scope.tenant_slug) == (
        "reports.read",
        "Read reports",
        None,
        None,
        "acme",
    )
    assert scope.created_at == fakes.NOW
    [event] = await events(w, "scope.create")
    assert (event.target_type, event.target_id, event.actor_id, event.details) == (
        "scope",
        "reports.read",
        "tc_admin",
        {"app": None},
    )
    assert w.bus.changes == [Change("acme", "scope", scope.id)]


@pytest.mark.parametrize("ref", ["slug", "id"])
async def test_an_app_bound_scope_names_its_app_by_slug_or_id(ref: str) -> None:
    w = await world()
    app_ref = w.shop.slug if ref == "slug" else w.shop.id
    scope = await w.features.scopes.create(ADMIN, "acme", "invite:write", "", app_ref)
    assert (scope.app_id, scope.app_slug) == (w.shop.id, "shop")
    [event] = await events(w, "scope.create")
    assert event.details == {"app": "shop"}


async def test_a_scope_for_an_unknown_app_is_refused_and_nothing_is_stored() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "no-such-app")
    assert caught.value.reason == "APP_NOT_FOUND"
    assert await names(w) == []
    assert await events(w, "scope.create") == []


async def test_every_bad_field_is_reported_and_nothing_is_stored() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await w.features.scopes.create(ADMIN, "acme", "openid", "d" * 501, "")
    assert {(v.field, v.reason) for v in caught.value.violations} == {
        ("name", "SCOPE_NAME_RESERVED"),
        ("description", "DESCRIPTION_TOO_LONG"),
    }
    assert await names(w) == []
    assert w.bus.changes == []


async def test_scope_names_are_unique_per_tenant_even_across_apps() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "billing")
    with pytest.raises(AlreadyExists) as caught:
        await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    assert caught.value.reason == "SCOPE_TAKEN"
    [kept] = (await w.features.scopes.search(ADMIN, "acme", "", 0, 0)).items
    assert kept.app_slug == "billing"
    assert len(await events(w, "scope.create")) == 1


async def test_another_tenant_may_use_the_same_scope_name() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    theirs = await w.features.scopes.create(
        fakes.tenant_admin("globex"), "globex", "reports.read", "", ""
    )
    assert theirs.tenant_slug == "globex"
    assert await names(w) == ["reports.read"]


# -- search ------------------------------------------------------------------------------------


async def test_search_lists_by_name_and_keeps_the_scopes_of_the_app_named() -> None:
    w = await world()
    for name, app in (("zeta", ""), ("invite:write", "shop"), ("billing.export", "billing")):
        await w.features.scopes.create(ADMIN, "acme", name, "", app)
    assert await names(w) == ["billing.export", "invite:write", "zeta"]
    assert await names(w, "shop") == ["invite:write"]
    with pytest.raises(NotFound) as caught:
        await names(w, "no-such-app")
    assert caught.value.reason == "APP_NOT_FOUND"


# -- delete ------------------------------------------------------------------------------------


async def test_a_scope_nobody_holds_is_deleted_audited_and_published() -> None:
    w = await world()
    scope = await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    w.bus.changes.clear()
    await w.features.scopes.delete(ADMIN, "acme", "reports.read")
    assert await names(w) == []
    [event] = await events(w, "scope.delete")
    assert (event.target_type, event.target_id, event.actor_id) == (
        "scope",
        "reports.read",
        "tc_admin",
    )
    assert w.bus.changes == [Change("acme", "scope", scope.id)]


async def test_a_scope_clients_hold_cannot_be_deleted_until_they_let_go() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    view, _ = await w.features.clients.create(
        ADMIN, "acme", ClientDraft(display_name="Minter", apps=("shop",), scopes=("invite:write",))
    )
    holder = view.client.client_id
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.scopes.delete(ADMIN, "acme", "invite:write")
    assert (caught.value.reason, caught.value.blockers) == ("SCOPE_IN_USE", [f"client:{holder}"])
    assert await names(w) == ["invite:write"]
    assert await events(w, "scope.delete") == []
    await w.features.clients.update(ADMIN, "acme", holder, ClientPatch(scopes=()), 0)
    await w.features.scopes.delete(ADMIN, "acme", "invite:write")
    assert await names(w) == []


async def test_deleting_an_unknown_or_another_tenants_scope_is_not_found() -> None:
    w = await world()
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    await w.features.scopes.create(fakes.tenant_admin("globex"), "globex", "theirs", "", "")
    for name in ("ghost", "theirs"):
        with pytest.raises(NotFound) as caught:
            await w.features.scopes.delete(ADMIN, "acme", name)
        assert caught.value.reason == "SCOPE_NOT_FOUND"
    page = await w.features.scopes.search(fakes.tenant_admin("globex"), "globex", "", 0, 0)
    assert [s.name for s in page.items] == ["theirs"]
