"""Resource-server use cases driven directly over the in-memory stores (Modgud seed,
"Provisioning the resource server"): an app's API, named by an audience unique per tenant that
is no other app's, gating on a subset of the app's catalog or on the whole of it; who may call,
validation, and the audit events and change notifications they leave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from services.common.vocabulary import TESSERA_PERMISSIONS
from services.registry.apps.models import App, AppDraft
from services.registry.catalog.models import PermissionDeclaration
from services.registry.features import Features
from services.registry.kernel.models import AuditEvent
from services.registry.resource_servers.models import (
    ResourceServer,
    ResourceServerDraft,
    ResourceServerPatch,
)
from services.registry.resource_servers.use_cases import ResourceServerUseCases
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
    """Tenant ``acme``: app ``billing`` consuming services ``billing`` (``invoice:read``,
    ``invoice:write``) and ``payments`` (``invoice:read``, ``refund:issue``); app ``shop``
    (``order:read``)."""
    bus = fakes.RecordingBus()
    features = fakes.features(changes=bus)
    seeded = await fakes.seeded(features)
    billing, _ = await fakes.app(seeded, "billing", service_codes=("billing", "payments"))
    shop, _ = await fakes.app(seeded, "shop")
    for service, codes in (
        ("billing", ("invoice:read", "invoice:write")),
        ("payments", ("invoice:read", "refund:issue")),
        ("shop", ("order:read",)),
    ):
        await features.catalog.register(
            ADMIN, "acme", service, [PermissionDeclaration(c) for c in codes]
        )
    bus.changes.clear()
    return World(features, bus, billing, shop)


async def create(w: World, audience: str = "billing-api", **draft: Any) -> ResourceServer:
    return await w.features.resource_servers.create(
        draft.pop("caller", ADMIN),
        draft.pop("tenant", "acme"),
        ResourceServerDraft(
            app=draft.pop("app", "billing"),
            audience=audience,
            name=draft.pop("name", "Billing API"),
            **draft,
        ),
    )


async def audiences(w: World, app: str = "") -> list[str]:
    page = await w.features.resource_servers.search(ADMIN, "acme", app, 0, 0)
    return [s.audience for s in page.items]


async def events(w: World, action: str) -> list[AuditEvent]:
    return (await w.features.audit.search(ADMIN, "acme", 200, 0, action, "")).items


# -- who may call ------------------------------------------------------------------------------

Call = Callable[[ResourceServerUseCases, Principal], Awaitable[object]]
DRAFT = ResourceServerDraft(app="billing", audience="billing-api", name="API")
CALLS: dict[str, tuple[str, Call]] = {
    "create": ("app:write", lambda uc, p: uc.create(p, "acme", DRAFT)),
    "update": ("app:write", lambda uc, p: uc.update(p, "acme", "x", ResourceServerPatch("N"))),
    "delete": ("app:write", lambda uc, p: uc.delete(p, "acme", "x")),
    "get": ("app:read", lambda uc, p: uc.get(p, "acme", "x")),
    "search": ("app:read", lambda uc, p: uc.search(p, "acme", "", 0, 0)),
}


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_a_caller_without_the_permission_is_refused_before_storage(operation: str) -> None:
    needed, call = CALLS[operation]
    others = [p for p in TESSERA_PERMISSIONS if p != needed]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().resource_servers, fakes.tenant_admin("acme", *others))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": needed},
    )


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_another_tenants_admin_is_refused_before_storage(operation: str) -> None:
    _, call = CALLS[operation]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().resource_servers, fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


# -- create ------------------------------------------------------------------------------------


async def test_a_server_without_a_subset_gates_on_the_whole_catalog() -> None:
    w = await world()
    server = await create(w)
    assert (server.app_id, server.app_slug, server.audience, server.name) == (
        w.billing.id,
        "billing",
        "billing-api",
        "Billing API",
    )
    assert (server.permissions, server.whole_catalog) == ((), True)
    assert await w.features.resource_servers.get(ADMIN, "acme", server.id) == server
    [event] = await events(w, "resource_server.create")
    assert (event.target_type, event.target_id, event.actor_id, event.details) == (
        "resource_server",
        server.id,
        "tc_admin",
        {"app": "billing", "audience": "billing-api", "permissions": 0},
    )
    assert w.bus.changes == [Change("acme", "resource_server", server.id)]


async def test_a_subset_selects_the_code_in_every_service_of_the_app_once() -> None:
    w = await world()
    server = await create(w, permissions=("invoice:read", "refund:issue", "invoice:read"))
    assert (server.permissions, server.whole_catalog) == (("invoice:read", "refund:issue"), False)
    [event] = await events(w, "resource_server.create")
    # invoice:read is declared by billing and payments: both entries are selected.
    assert event.details["permissions"] == 3


async def test_every_bad_field_is_reported_with_its_path_and_nothing_is_stored() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await create(
            w,
            "Billing API",
            name=" ",
            permissions=("invoice:read", "order:read", "Invoice:Read"),
        )
    assert fakes.reason_set(caught.value) == {
        ("audience", "AUDIENCE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("permissions[1]", "PERMISSION_NOT_IN_CATALOG"),  # the shop app's, not billing's
        ("permissions[2]", "PERMISSION_CODE_INVALID"),
    }
    assert await audiences(w) == []
    assert await events(w, "resource_server.create") == []
    assert w.bus.changes == []


async def test_the_app_is_required() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await create(w, "", app="  ")
    assert fakes.reason_set(caught.value) == {
        ("app", "APP_REQUIRED"),
        ("audience", "AUDIENCE_INVALID"),
    }


async def test_a_server_for_an_unknown_app_is_refused() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await create(w, app="no-such-app")
    assert caught.value.reason == "APP_NOT_FOUND"
    assert await audiences(w) == []


async def test_a_deprecated_entry_cannot_be_gated_on_anew() -> None:
    w = await world()
    await create(w, "refunds-api", permissions=("refund:issue",))
    # payments stops declaring refund:issue: the gated entry is kept, deprecated.
    await w.features.catalog.register(
        ADMIN, "acme", "payments", [PermissionDeclaration("invoice:read")]
    )
    with pytest.raises(InvalidArgument) as caught:
        await create(w, permissions=("refund:issue",))
    assert fakes.reason_set(caught.value) == {("permissions[0]", "PERMISSION_DEPRECATED")}


async def test_audiences_are_unique_per_tenant_whatever_the_app() -> None:
    w = await world()
    first = await create(w, "https://api.example.com")
    with pytest.raises(AlreadyExists) as caught:
        await create(w, "https://api.example.com", app="shop", name="Shop API")
    assert caught.value.reason == "AUDIENCE_TAKEN"
    assert await audiences(w) == ["https://api.example.com"]
    assert (await w.features.resource_servers.get(ADMIN, "acme", first.audience)).app_slug == (
        "billing"
    )
    assert len(await events(w, "resource_server.create")) == 1


async def test_another_tenant_may_use_the_same_audience() -> None:
    w = await world()
    await create(w, "https://api.example.com")
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    globex = fakes.tenant_admin("globex")
    await w.features.apps.create(
        globex, "globex", AppDraft(slug="billing", display_name="Billing", region="eu")
    )
    theirs = await create(w, "https://api.example.com", caller=globex, tenant="globex")
    assert (theirs.tenant_slug, theirs.app_slug) == ("globex", "billing")


async def test_an_audience_that_is_another_apps_slug_is_refused_but_the_apps_own_is_not() -> None:
    w = await world()
    with pytest.raises(AlreadyExists) as caught:
        await create(w, "shop")
    assert caught.value.reason == "AUDIENCE_IS_ANOTHER_APP"
    assert await audiences(w) == []
    own = await create(w, "billing")
    assert own.audience == "billing"


async def test_an_audience_that_is_another_apps_default_token_audience_is_refused() -> None:
    w = await world()
    with pytest.raises(AlreadyExists) as caught:
        await create(w, "https://id.example.com/t/acme/apps/shop")
    assert caught.value.reason == "AUDIENCE_IS_ANOTHER_APP"


# -- read --------------------------------------------------------------------------------------


async def test_a_server_is_found_by_id_or_audience_within_its_tenant_only() -> None:
    w = await world()
    server = await create(w)
    resource_servers = w.features.resource_servers
    assert await resource_servers.get(ADMIN, "acme", "billing-api") == server
    assert await resource_servers.get(ADMIN, "acme", server.id) == server
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    globex = fakes.tenant_admin("globex")
    for ref in (server.id, "billing-api", "no-such-api"):
        with pytest.raises(NotFound) as caught:
            await resource_servers.get(globex, "globex", ref)
        assert caught.value.reason == "RESOURCE_SERVER_NOT_FOUND"


async def test_search_orders_by_audience_and_keeps_the_servers_of_the_app_named() -> None:
    w = await world()
    await create(w, "zeta-api")
    await create(w, "shop-api", app="shop", name="Shop API")
    await create(w, "alpha-api")
    assert await audiences(w) == ["alpha-api", "shop-api", "zeta-api"]
    assert await audiences(w, "shop") == ["shop-api"]


# -- update ------------------------------------------------------------------------------------


async def test_an_update_renames_and_replaces_the_subset_audits_and_publishes() -> None:
    w = await world()
    server = await create(w)
    w.bus.changes.clear()
    updated = await w.features.resource_servers.update(
        ADMIN,
        "acme",
        "billing-api",
        ResourceServerPatch(name="Invoices", permissions=("invoice:write",)),
    )
    assert (updated.id, updated.audience, updated.name) == (server.id, "billing-api", "Invoices")
    assert (updated.permissions, updated.whole_catalog) == (("invoice:write",), False)
    [event] = await events(w, "resource_server.update")
    assert (event.target_id, event.details) == (server.id, {"fields": ["name", "permissions"]})
    assert w.bus.changes == [Change("acme", "resource_server", server.id)]


async def test_an_empty_subset_means_the_whole_catalog_again_and_none_leaves_it_alone() -> None:
    w = await world()
    await create(w, permissions=("invoice:read",))
    resource_servers = w.features.resource_servers
    renamed = await resource_servers.update(
        ADMIN, "acme", "billing-api", ResourceServerPatch(name="Renamed")
    )
    assert (renamed.permissions, renamed.whole_catalog) == (("invoice:read",), False)
    widened = await resource_servers.update(
        ADMIN, "acme", "billing-api", ResourceServerPatch(permissions=())
    )
    assert (widened.name, widened.permissions, widened.whole_catalog) == ("Renamed", (), True)


async def test_a_bad_update_is_reported_field_by_field_and_changes_nothing() -> None:
    w = await world()
    server = await create(w, permissions=("invoice:read",))
    with pytest.raises(InvalidArgument) as caught:
        await w.features.resource_servers.update(
            ADMIN, "acme", server.id, ResourceServerPatch(name="", permissions=("order:read",))
        )
    assert fakes.reason_set(caught.value) == {
        ("name", "DISPLAY_NAME_EMPTY"),
        ("permissions[0]", "PERMISSION_NOT_IN_CATALOG"),
    }
    assert await w.features.resource_servers.get(ADMIN, "acme", server.id) == server
    assert await events(w, "resource_server.update") == []


async def test_updating_an_unknown_server_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.resource_servers.update(
            ADMIN, "acme", "no-such-api", ResourceServerPatch(name="N")
        )
    assert caught.value.reason == "RESOURCE_SERVER_NOT_FOUND"


async def test_a_subset_a_forced_prune_empties_stays_a_subset_gating_nothing() -> None:
    w = await world()
    await create(w, "refunds-api", permissions=("refund:issue",))
    await w.features.catalog.register(
        ADMIN, "acme", "payments", [PermissionDeclaration("invoice:read")], force=True
    )
    server = await w.features.resource_servers.get(ADMIN, "acme", "refunds-api")
    assert (server.permissions, server.whole_catalog) == ((), False)


# -- delete ------------------------------------------------------------------------------------


async def test_a_deleted_server_is_gone_audited_and_published() -> None:
    w = await world()
    server = await create(w, permissions=("invoice:read",))
    w.bus.changes.clear()
    await w.features.resource_servers.delete(ADMIN, "acme", "billing-api")
    with pytest.raises(NotFound):
        await w.features.resource_servers.get(ADMIN, "acme", server.id)
    [event] = await events(w, "resource_server.delete")
    assert (event.target_id, event.details) == (
        server.id,
        {"audience": "billing-api", "app": "billing"},
    )
    assert w.bus.changes == [Change("acme", "resource_server", server.id)]
    # The entry it gated on is referenced by nothing any more: a prune removes it.
    report = await w.features.catalog.register(
        ADMIN, "acme", "billing", [PermissionDeclaration("invoice:write")]
    )
    assert (report.pruned, report.blocked) == (("invoice:read",), ())


async def test_deleting_an_unknown_server_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.resource_servers.delete(ADMIN, "acme", "no-such-api")
    assert caught.value.reason == "RESOURCE_SERVER_NOT_FOUND"
    assert await events(w, "resource_server.delete") == []
