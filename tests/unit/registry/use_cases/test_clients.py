"""Client use cases driven directly over the in-memory stores (ARCHITECTURE §2 "Client";
TrueParser seed "Regenerating The Secret"; §7 no escalation): who may call them, validation,
the app binding of scopes and roles, versions, secrets and their grace period, and the audit
events and change notifications each write leaves behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
    Unauthenticated,
)
from services.common.hashing import PepperRing, SecretHasher
from services.common.vocabulary import TESSERA_PERMISSIONS
from services.registry.apps.models import App
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientDraft, ClientPatch, ClientView, IssuedCredentials
from services.registry.clients.use_cases import MAX_GRACE_SECONDS, ClientUseCases
from services.registry.features import Features
from services.registry.kernel.escalation import EscalationDenied
from services.registry.kernel.models import AuditEvent
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.tenants.models import TenantDraft
from tests.unit.registry import fakes
from tests.unit.token.fakes import TokenWorld, close_worlds, token_world

ADMIN = fakes.tenant_admin("acme")
# Holds only the client permissions: outranks plain clients, not the tenant's admin client.
JUNIOR = fakes.tenant_admin("acme", "client:read", "client:write", subject="tc_junior")


@dataclass
class World:
    features: Features
    bus: fakes.RecordingBus
    clock: fakes.Clock
    hasher: SecretHasher
    billing: App
    shop: App
    tokens: TokenWorld


@pytest.fixture(autouse=True)
async def _close_token_worlds() -> AsyncIterator[None]:
    yield
    await close_worlds()


async def world() -> World:
    """Tenant ``acme`` with apps ``billing`` and ``shop``, a recording bus, a clock that only
    moves when told to, and a token service in front of the registry (sharing its version
    board, as in one process)."""
    bus = fakes.RecordingBus()
    tokens = await token_world(changes=bus)
    hasher = SecretHasher(PepperRing.parse(fakes.PEPPERS))
    billing, _ = await fakes.app(tokens.seeded, "billing")
    shop, _ = await fakes.app(tokens.seeded, "shop")
    bus.changes.clear()
    return World(tokens.features, bus, tokens.clock, hasher, billing, shop, tokens)


async def new_client(
    w: World, *apps: str, caller: Principal = ADMIN, **draft: Any
) -> tuple[ClientView, IssuedCredentials | None]:
    return await w.features.clients.create(
        caller,
        "acme",
        ClientDraft(display_name=draft.pop("display_name", "Worker"), apps=apps, **draft),
    )


async def test_creating_a_client_is_published() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    assert w.bus.changes[-1:] == [Change("acme", "client", view.client.client_id)]


async def events(w: World, action: str) -> list[AuditEvent]:
    page = await w.features.audit.search(fakes.operator(), "acme", 200, 0, action, "")
    return page.items


async def authenticates(w: World, client_id: str, secret: str) -> bool:
    """Whether the token service mints a client_credentials token for this client with this
    secret (right after the write under test: its cached snapshot must not outlive it)."""
    try:
        await w.tokens.exchange(client_id, secret)
    except Unauthenticated as refused:
        if refused.reason != "INVALID_CLIENT":
            raise
        return False
    return True


async def role(w: World, code: str, *permissions: str, app: str = "") -> str:
    """A role of acme granting ``permissions`` (``code`` of the tessera catalog, or
    ``service/code``)."""
    role = await w.features.roles.create(ADMIN, "acme", RoleDraft(code=code, name=code, app=app))
    refs = [
        PermissionRef(*p.split("/")) if "/" in p else PermissionRef("tessera", p)
        for p in permissions
    ]
    await w.features.roles.set_permissions(ADMIN, "acme", role.id, refs, "")
    return role.code


async def count_clients(w: World) -> int:
    return (await w.features.clients.search(ADMIN, "acme", 200, 0, "")).total


# -- who may call ------------------------------------------------------------------------------

Call = Callable[[ClientUseCases, Principal], Awaitable[object]]

CALLS: dict[str, tuple[str, Call]] = {
    "create": (
        "client:write",
        lambda uc, p: uc.create(p, "acme", ClientDraft(display_name="W", apps=("billing",))),
    ),
    "update": (
        "client:write",
        lambda uc, p: uc.update(p, "acme", "tc_x", ClientPatch(display_name="W"), 1),
    ),
    "regenerate_secret": ("client:write", lambda uc, p: uc.regenerate_secret(p, "acme", "tc_x", 0)),
    "delete": ("client:write", lambda uc, p: uc.delete(p, "acme", "tc_x")),
    "get": ("client:read", lambda uc, p: uc.get(p, "acme", "tc_x")),
    "search": ("client:read", lambda uc, p: uc.search(p, "acme", 0, 0, "")),
}


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_a_caller_without_the_permission_is_refused_before_storage(operation: str) -> None:
    needed, call = CALLS[operation]
    others = [p for p in TESSERA_PERMISSIONS if p != needed]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().clients, fakes.tenant_admin("acme", *others))
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": needed},
    )


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_another_tenants_admin_is_refused_before_storage(operation: str) -> None:
    _, call = CALLS[operation]
    with pytest.raises(PermissionDenied) as caught:
        await call(fakes.untouchable().clients, fakes.tenant_admin("globex"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


async def test_an_operator_manages_any_tenants_clients_and_is_audited_as_itself() -> None:
    w = await world()
    view, _ = await new_client(w, "billing", caller=fakes.operator())
    [event] = await events(w, "client.create")
    assert (event.actor_type, event.actor_id, event.actor_tenant) == (
        "client",
        "tc_operator",
        "control-plane",
    )
    assert (event.tenant_slug, event.target_id) == ("acme", view.client.client_id)


# -- create ------------------------------------------------------------------------------------


async def test_a_confidential_client_gets_a_secret_shown_once_and_stored_as_a_keyed_hash() -> None:
    w = await world()
    view, issued = await new_client(w, "billing")
    assert issued is not None
    assert issued.client_id == view.client.client_id
    assert issued.client_secret.startswith("tsk_")
    [record] = (await w.features.clients.get(ADMIN, "acme", view.client.client_id)).secrets
    assert record.secret_hash != issued.client_secret
    assert issued.client_secret not in record.secret_hash
    assert w.hasher.verify(issued.client_secret, record.secret_hash)
    assert await authenticates(w, view.client.client_id, issued.client_secret)


@pytest.mark.parametrize(
    ("confidential", "grants"),
    [(True, ("client_credentials",)), (False, ("authorization_code",))],
)
async def test_grant_types_default_to_what_the_kind_of_client_can_use(
    confidential: bool, grants: tuple[str, ...]
) -> None:
    w = await world()
    view, _ = await new_client(w, "billing", confidential=confidential)
    assert view.client.grant_types == grants


async def test_repeated_grant_types_are_kept_once() -> None:
    w = await world()
    view, _ = await new_client(
        w, "billing", grant_types=("refresh_token", "client_credentials", "refresh_token")
    )
    assert view.client.grant_types == ("refresh_token", "client_credentials")


async def test_a_public_client_has_no_secret() -> None:
    w = await world()
    view, issued = await new_client(w, "billing", confidential=False)
    assert issued is None
    assert view.secrets == ()
    assert not view.client.confidential


async def test_a_public_client_may_only_use_grants_that_need_no_secret() -> None:
    w = await world()
    before = await count_clients(w)
    with pytest.raises(InvalidArgument) as caught:
        await new_client(
            w,
            "billing",
            confidential=False,
            grant_types=("authorization_code", "client_credentials", "refresh_token", "password"),
        )
    assert fakes.reason_set(caught.value) == {
        ("grant_types[1]", "PUBLIC_CLIENT_GRANT"),
        ("grant_types[3]", "PUBLIC_CLIENT_GRANT"),
    }
    assert await count_clients(w) == before


async def test_every_bad_field_is_reported_with_its_path_and_nothing_is_stored() -> None:
    w = await world()
    before = await count_clients(w)
    with pytest.raises(InvalidArgument) as caught:
        await new_client(
            w,
            "billing",
            "nope",
            display_name="  ",
            description="d" * 501,
            grant_types=("client_credentials", "implicit"),
            scopes=("ghost",),
            roles=("phantom",),
        )
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reason_set(caught.value) == {
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("description", "DESCRIPTION_TOO_LONG"),
        ("apps[1]", "APP_NOT_FOUND"),
        ("grant_types[1]", "GRANT_TYPE_UNKNOWN"),
        ("scopes[0]", "SCOPE_NOT_FOUND"),
        ("roles[0]", "ROLE_NOT_FOUND"),
    }
    assert await count_clients(w) == before
    assert await events(w, "client.create") == []


async def test_a_client_must_serve_at_least_one_app() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await new_client(w)
    assert fakes.reason_set(caught.value) == {("apps", "CLIENT_APPS_REQUIRED")}


async def test_a_scope_bound_to_an_app_goes_only_to_a_client_serving_that_app() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    with pytest.raises(InvalidArgument) as caught:
        await new_client(w, "billing", scopes=("reports.read", "invite:write"))
    assert fakes.reason_set(caught.value) == {("scopes[1]", "SCOPE_OUTSIDE_APPS")}
    view, _ = await new_client(w, "billing", "shop", scopes=("reports.read", "invite:write"))
    assert view.scopes == ("invite:write", "reports.read")


async def test_a_role_bound_to_an_app_goes_only_to_a_client_serving_that_app() -> None:
    w = await world()
    await w.features.roles.create(ADMIN, "acme", RoleDraft(code="shopper", name="S", app="shop"))
    await w.features.roles.create(ADMIN, "acme", RoleDraft(code="viewer", name="V"))
    with pytest.raises(InvalidArgument) as caught:
        await new_client(w, "billing", roles=("shopper", "viewer"))
    assert fakes.reason_set(caught.value) == {("roles[0]", "ROLE_OUTSIDE_APPS")}
    view, _ = await new_client(w, "shop", roles=("shopper", "viewer"))
    assert view.roles == ("shopper", "viewer")


async def test_creation_is_audited_with_the_actor_and_the_apps_served() -> None:
    w = await world()
    view, _ = await new_client(w, "shop", "billing", confidential=False)
    [event] = await events(w, "client.create")
    assert (event.target_type, event.target_id, event.actor_id, event.tenant_slug) == (
        "client",
        view.client.client_id,
        "tc_admin",
        "acme",
    )
    assert event.details == {"apps": ["shop", "billing"], "confidential": False}


async def test_granting_admin_permissions_the_caller_lacks_is_an_escalation_audited_anyway() -> (
    None
):
    w = await world()
    before = await count_clients(w)
    with pytest.raises(EscalationDenied) as caught:
        await new_client(w, "billing", caller=JUNIOR, roles=("tenant-admin",))
    expected_missing = sorted(set(TESSERA_PERMISSIONS) - {"client:read", "client:write"})
    assert caught.value.reason == "ESCALATION"
    assert list(caught.value.missing) == expected_missing
    assert await count_clients(w) == before
    assert await events(w, "client.create") == []
    [denied] = await events(w, "escalation.denied")
    assert (denied.actor_id, denied.target_type) == ("tc_junior", "client")
    assert denied.target_id.startswith("tc_")
    assert denied.details == {
        "operation": "client.create",
        "reason": "ESCALATION",
        "missing": expected_missing,
    }


async def test_a_caller_may_grant_roles_carrying_only_what_it_holds() -> None:
    w = await world()
    await role(w, "client-keeper", "client:read", "client:write")
    await w.features.catalog.register(
        ADMIN, "acme", "billing", [PermissionDeclaration("user:write")]
    )
    # The same code in an ordinary app's catalog administers nothing (Modgud seed).
    await role(w, "billing-users", "billing/user:write")
    view, _ = await new_client(
        w, "billing", caller=JUNIOR, roles=("client-keeper", "billing-users")
    )
    assert view.roles == ("billing-users", "client-keeper")


# -- read --------------------------------------------------------------------------------------


async def test_another_tenants_client_is_not_found_through_this_tenant() -> None:
    w = await world()
    _, globex_admin = await w.features.tenants.create(
        fakes.operator(), TenantDraft(slug="globex", display_name="Globex")
    )
    foreign = globex_admin.client_id
    attempts: list[Awaitable[object]] = [
        w.features.clients.get(ADMIN, "acme", foreign),
        w.features.clients.update(ADMIN, "acme", foreign, ClientPatch(display_name="Mine"), 0),
        w.features.clients.regenerate_secret(ADMIN, "acme", foreign, 0),
        w.features.clients.delete(ADMIN, "acme", foreign),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as caught:
            await attempt
        assert caught.value.reason == "CLIENT_NOT_FOUND"
    still = await w.features.clients.get(fakes.operator(), "globex", foreign)
    assert still.client.display_name != "Mine"


async def test_search_keeps_the_clients_serving_the_app_named() -> None:
    w = await world()
    mine, _ = await new_client(w, "shop")
    page = await w.features.clients.search(ADMIN, "acme", 0, 0, "shop")
    assert mine.client.client_id in [v.client.client_id for v in page.items]
    assert all("shop" in v.apps for v in page.items)
    assert page.total == 2  # the app's own first client, and this one
    with pytest.raises(NotFound) as caught:
        await w.features.clients.search(ADMIN, "acme", 0, 0, "nope")
    assert caught.value.reason == "APP_NOT_FOUND"


# -- update ------------------------------------------------------------------------------------


async def test_an_update_replaces_links_bumps_the_version_audits_and_publishes() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    view, _ = await new_client(w, "billing")
    client_id = view.client.client_id
    w.bus.changes.clear()
    updated = await w.features.clients.update(
        ADMIN,
        "acme",
        client_id,
        ClientPatch(display_name="Renamed", apps=("shop",), scopes=("reports.read",)),
        1,
    )
    assert (updated.client.display_name, updated.client.version) == ("Renamed", 2)
    assert (updated.apps, updated.scopes) == (("shop",), ("reports.read",))
    assert await w.features.clients.get(ADMIN, "acme", client_id) == updated
    [event] = await events(w, "client.update")
    assert (event.target_id, event.actor_id) == (client_id, "tc_admin")
    assert event.details == {"fields": ["display_name", "apps", "scopes"]}
    assert w.bus.changes == [Change("acme", "client", client_id)]


async def test_the_change_is_published_once_the_update_is_committed() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    seen: list[str] = []

    async def read_back(change: Change) -> None:
        found = await w.features.clients.get(ADMIN, "acme", change.target_id)
        seen.append(found.client.display_name)

    w.bus.on_publish = read_back
    await w.features.clients.update(
        ADMIN, "acme", view.client.client_id, ClientPatch(display_name="Committed"), 1
    )
    assert seen == ["Committed"]


async def test_a_stale_version_is_refused_and_nothing_changes() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    w.bus.changes.clear()
    with pytest.raises(StaleVersion) as caught:
        await w.features.clients.update(
            ADMIN, "acme", view.client.client_id, ClientPatch(display_name="Late"), 7
        )
    assert (caught.value.reason, caught.value.metadata) == (
        "VERSION_MISMATCH",
        {"current_version": "1"},
    )
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)) == view
    assert await events(w, "client.update") == []
    assert w.bus.changes == []


async def test_version_zero_updates_unconditionally() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    for name in ("One", "Two"):
        updated = await w.features.clients.update(
            ADMIN, "acme", view.client.client_id, ClientPatch(display_name=name), 0
        )
    assert (updated.client.display_name, updated.client.version) == ("Two", 3)


async def test_every_bad_field_of_an_update_is_reported_and_nothing_changes() -> None:
    w = await world()
    view, _ = await new_client(w, "billing", confidential=False)
    with pytest.raises(InvalidArgument) as caught:
        await w.features.clients.update(
            ADMIN,
            "acme",
            view.client.client_id,
            ClientPatch(
                display_name="",
                apps=("billing", "ghost-app"),
                grant_types=("client_credentials",),
                roles=("phantom",),
            ),
            1,
        )
    assert fakes.reason_set(caught.value) == {
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("apps[1]", "APP_NOT_FOUND"),
        ("grant_types[0]", "PUBLIC_CLIENT_GRANT"),
        ("roles[0]", "ROLE_NOT_FOUND"),
    }
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)) == view
    assert await events(w, "client.update") == []


async def test_dropping_the_app_a_held_scope_is_bound_to_is_refused() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    view, _ = await new_client(w, "billing", "shop", scopes=("invite:write",))
    with pytest.raises(InvalidArgument) as caught:
        await w.features.clients.update(
            ADMIN, "acme", view.client.client_id, ClientPatch(apps=("billing",)), 1
        )
    assert fakes.reason_set(caught.value) == {("scopes[0]", "SCOPE_OUTSIDE_APPS")}


@pytest.mark.parametrize(
    ("patch", "operation"),
    [
        (ClientPatch(display_name="Taken over"), "client.update"),
        (ClientPatch(enabled=False), "client.disable"),
    ],
)
async def test_changing_a_client_that_outranks_the_caller_is_refused_and_audited(
    patch: ClientPatch, operation: str
) -> None:
    w = await world()
    view, _ = await new_client(w, "billing", roles=("tenant-admin",))
    with pytest.raises(EscalationDenied) as caught:
        await w.features.clients.update(JUNIOR, "acme", view.client.client_id, patch, 1)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)) == view
    [denied] = await events(w, "escalation.denied")
    assert (denied.target_id, denied.details["operation"], denied.details["reason"]) == (
        view.client.client_id,
        operation,
        "TARGET_OUTRANKS_CALLER",
    )


async def test_adding_a_role_the_caller_could_not_grant_is_an_escalation() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    with pytest.raises(EscalationDenied) as caught:
        await w.features.clients.update(
            JUNIOR, "acme", view.client.client_id, ClientPatch(roles=("tenant-admin",)), 1
        )
    assert caught.value.reason == "ESCALATION"
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)).roles == ()
    [denied] = await events(w, "escalation.denied")
    assert denied.details["operation"] == "client.roles.grant"


async def test_a_client_cannot_disable_itself() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    itself = fakes.tenant_admin("acme", subject=view.client.client_id)
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.clients.update(
            itself, "acme", view.client.client_id, ClientPatch(enabled=False), 1
        )
    assert caught.value.reason == "CLIENT_IS_CALLER"
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)).client.enabled


# -- secrets -----------------------------------------------------------------------------------


async def test_regenerating_without_grace_stops_the_old_secret_at_once() -> None:
    w = await world()
    view, issued = await new_client(w, "billing")
    assert issued is not None
    fresh = await w.features.clients.regenerate_secret(ADMIN, "acme", view.client.client_id, 0)
    assert fresh.client_secret.startswith("tsk_")
    assert fresh.client_secret != issued.client_secret
    assert fresh.previous_secret_expires_at is None
    assert not await authenticates(w, view.client.client_id, issued.client_secret)
    assert await authenticates(w, view.client.client_id, fresh.client_secret)
    assert len((await w.features.clients.get(ADMIN, "acme", view.client.client_id)).secrets) == 1


async def test_a_grace_period_keeps_the_old_secret_working_until_it_ends() -> None:
    w = await world()
    view, issued = await new_client(w, "billing")
    assert issued is not None
    client_id = view.client.client_id
    w.clock.advance(60)
    fresh = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 3600)
    assert fresh.previous_secret_expires_at == w.clock.at + timedelta(hours=1)
    assert await authenticates(w, client_id, issued.client_secret)
    assert await authenticates(w, client_id, fresh.client_secret)
    w.clock.advance(3599)
    assert await authenticates(w, client_id, issued.client_secret)
    w.clock.advance(1)
    assert not await authenticates(w, client_id, issued.client_secret)
    assert await authenticates(w, client_id, fresh.client_secret)


async def test_a_client_never_holds_more_than_two_secrets() -> None:
    w = await world()
    view, first = await new_client(w, "billing")
    assert first is not None
    client_id = view.client.client_id
    w.clock.advance(60)
    second = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 86_400)
    w.clock.advance(60)
    third = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 86_400)
    secrets = (await w.features.clients.get(ADMIN, "acme", client_id)).secrets
    assert len(secrets) == 2
    # Only the newest previous secret keeps a grace period; the one before goes at once.
    assert not await authenticates(w, client_id, first.client_secret)
    assert await authenticates(w, client_id, second.client_secret)
    assert await authenticates(w, client_id, third.client_secret)


async def test_the_previous_secret_keeps_its_grace_even_when_regenerations_share_an_instant() -> (
    None
):
    w = await world()  # the clock does not move between the calls below
    view, first = await new_client(w, "billing")
    assert first is not None
    client_id = view.client.client_id
    second = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 86_400)
    third = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 86_400)
    assert await authenticates(w, client_id, third.client_secret)
    assert await authenticates(w, client_id, second.client_secret)
    assert not await authenticates(w, client_id, first.client_secret)


async def test_regenerating_without_grace_also_ends_a_running_grace_period() -> None:
    w = await world()
    view, first = await new_client(w, "billing")
    assert first is not None
    client_id = view.client.client_id
    w.clock.advance(60)
    second = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 86_400)
    w.clock.advance(60)
    third = await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 0)
    for gone in (first, second):
        assert not await authenticates(w, client_id, gone.client_secret)
    assert await authenticates(w, client_id, third.client_secret)


@pytest.mark.parametrize("grace", [-1, MAX_GRACE_SECONDS + 1])
async def test_the_grace_period_is_at_most_seven_days(grace: int) -> None:
    w = await world()
    view, issued = await new_client(w, "billing")
    assert issued is not None
    with pytest.raises(InvalidArgument) as caught:
        await w.features.clients.regenerate_secret(ADMIN, "acme", view.client.client_id, grace)
    assert caught.value.reason == "GRACE_PERIOD_INVALID"
    assert await authenticates(w, view.client.client_id, issued.client_secret)
    assert await events(w, "client.secret.regenerate") == []


async def test_a_grace_period_of_exactly_seven_days_is_accepted() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    fresh = await w.features.clients.regenerate_secret(
        ADMIN, "acme", view.client.client_id, MAX_GRACE_SECONDS
    )
    assert fresh.previous_secret_expires_at == fakes.NOW + timedelta(days=7)


async def test_a_public_client_has_no_secret_to_regenerate() -> None:
    w = await world()
    view, _ = await new_client(w, "billing", confidential=False)
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.clients.regenerate_secret(ADMIN, "acme", view.client.client_id, 0)
    assert caught.value.reason == "PUBLIC_CLIENT"
    assert (await w.features.clients.get(ADMIN, "acme", view.client.client_id)).secrets == ()


async def test_regeneration_is_audited_and_published() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    w.bus.changes.clear()
    await w.features.clients.regenerate_secret(ADMIN, "acme", view.client.client_id, 600)
    [event] = await events(w, "client.secret.regenerate")
    assert (event.target_type, event.target_id, event.actor_id) == (
        "client",
        view.client.client_id,
        "tc_admin",
    )
    assert event.details == {"grace_period_seconds": 600}
    assert w.bus.changes == [Change("acme", "client", view.client.client_id)]


async def test_regenerating_the_secret_of_a_client_that_outranks_the_caller_is_refused() -> None:
    w = await world()
    view, issued = await new_client(w, "billing", roles=("tenant-admin",))
    assert issued is not None
    with pytest.raises(EscalationDenied) as caught:
        await w.features.clients.regenerate_secret(JUNIOR, "acme", view.client.client_id, 0)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert await authenticates(w, view.client.client_id, issued.client_secret)
    assert await events(w, "client.secret.regenerate") == []
    [denied] = await events(w, "escalation.denied")
    assert denied.details["operation"] == "client.secret.regenerate"


# -- delete ------------------------------------------------------------------------------------


async def test_a_deleted_client_is_gone_with_its_secrets_audited_and_published() -> None:
    w = await world()
    view, issued = await new_client(w, "billing")
    assert issued is not None
    client_id = view.client.client_id
    w.bus.changes.clear()
    await w.features.clients.delete(ADMIN, "acme", client_id)
    with pytest.raises(NotFound) as caught:
        await w.features.clients.get(ADMIN, "acme", client_id)
    assert caught.value.reason == "CLIENT_NOT_FOUND"
    assert not await authenticates(w, client_id, issued.client_secret)
    [event] = await events(w, "client.delete")
    assert (event.target_id, event.actor_id) == (client_id, "tc_admin")
    assert w.bus.changes == [Change("acme", "client", client_id)]


async def test_a_client_cannot_delete_itself() -> None:
    w = await world()
    view, _ = await new_client(w, "billing")
    itself = fakes.tenant_admin("acme", subject=view.client.client_id)
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.clients.delete(itself, "acme", view.client.client_id)
    assert caught.value.reason == "CLIENT_IS_CALLER"
    assert await w.features.clients.get(ADMIN, "acme", view.client.client_id) == view


async def test_deleting_the_tenants_admin_client_needs_everything_it_holds() -> None:
    w = await world()
    [created] = await events(w, "tenant.create")
    admin_client = str(created.details["admin_client_id"])
    with pytest.raises(EscalationDenied) as caught:
        await w.features.clients.delete(JUNIOR, "acme", admin_client)
    assert caught.value.reason == "TARGET_OUTRANKS_CALLER"
    assert (await w.features.clients.get(ADMIN, "acme", admin_client)).roles == ("tenant-admin",)
    [denied] = await events(w, "escalation.denied")
    assert (denied.target_id, denied.details["operation"]) == (admin_client, "client.delete")


async def test_deleting_the_last_client_of_an_app_unblocks_the_apps_deletion() -> None:
    w = await world()
    [first] = w.shop.client_ids
    with pytest.raises(FailedPrecondition) as blocked:
        await w.features.apps.delete(ADMIN, "acme", "shop", 0)
    assert blocked.value.reason == "APP_IN_USE"
    await w.features.clients.delete(ADMIN, "acme", first)
    await w.features.apps.delete(ADMIN, "acme", "shop", 0)
    with pytest.raises(NotFound):
        await w.features.apps.get(ADMIN, "acme", "shop")
