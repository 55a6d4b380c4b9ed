"""Resolution use cases driven directly over the in-memory stores: the facts the token service
decides a client's tokens from, as one snapshot at known versions (ARCHITECTURE §3 and §5), the
bookkeeping of a secret it accepted, what a user's token for one app carries and its issuance
rules (enabled app, enabled user, active membership), and the CORS origin check. The client
rules themselves (authentication, issuance) are the token service's: tests/unit/token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import DomainError, InvalidArgument, NotFound, PermissionDenied
from services.common.hashing import PepperRing, SecretHasher
from services.common.versions import InProcessVersionBoard
from services.registry.apps.models import App, AppPatch
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientDraft, ClientPatch
from services.registry.features import Features
from services.registry.groups.models import GroupDraft
from services.registry.kernel.models import PageRequest
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.resolution.models import ClientSnapshot, SnapshotApp, SnapshotSecret
from services.registry.resolution.use_cases import ResolutionUseCases
from services.registry.resource_servers.models import ResourceServerDraft
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from services.registry.users.models import User, UserDraft
from tests.unit.registry import fakes

ADMIN = fakes.tenant_admin("acme")
TOKEN = fakes.service("token")
PEPPER_2 = "2:" + "q" * 43


@dataclass
class World:
    features: Features
    uow: Any
    bus: fakes.RecordingBus
    board: InProcessVersionBoard
    clock: fakes.Clock
    hasher: SecretHasher
    billing: App
    shop: App


async def world() -> World:
    """Tenant ``acme`` with apps ``billing`` and ``shop`` (catalogs ``invoice:*`` and
    ``order:read``), a recording bus, a version board and a clock moved by hand."""
    uow, bus, clock = memory_unit_of_work(), fakes.RecordingBus(), fakes.Clock()
    board = InProcessVersionBoard()
    hasher = SecretHasher(PepperRing.parse(fakes.PEPPERS))
    features = fakes.features(uow, changes=bus, board=board, now=clock, secret_hasher=hasher)
    seeded = await fakes.seeded(features)
    billing, _ = await fakes.app(seeded, "billing", allowed_domains=("app.example.com",))
    shop, _ = await fakes.app(seeded, "shop", allowed_domains=("localhost:3000",))
    catalog = features.catalog
    await catalog.register(
        ADMIN,
        "acme",
        "billing",
        [PermissionDeclaration("invoice:read"), PermissionDeclaration("invoice:write")],
    )
    await catalog.register(ADMIN, "acme", "shop", [PermissionDeclaration("order:read")])
    bus.changes.clear()
    return World(features, uow, bus, board, clock, hasher, billing, shop)


async def role(w: World, code: str, *permissions: str, app: str = "") -> None:
    """A role of acme granting ``service/code`` permissions."""
    made = await w.features.roles.create(ADMIN, "acme", RoleDraft(code=code, name=code, app=app))
    refs = [PermissionRef(*p.split("/")) for p in permissions]
    await w.features.roles.set_permissions(ADMIN, "acme", made.id, refs, "")


async def client(w: World, *apps: str, **draft: Any) -> tuple[str, str]:
    """A client of acme serving ``apps``: its id and secret ("" for a public client)."""
    view, issued = await w.features.clients.create(
        ADMIN,
        "acme",
        ClientDraft(display_name=draft.pop("display_name", "Worker"), apps=apps, **draft),
    )
    return view.client.client_id, issued.client_secret if issued else ""


async def member(w: World, email: str = "ann@example.com", *apps: str) -> User:
    user = await w.features.users.create(
        ADMIN, "acme", UserDraft(email=email, first_name="Ann", last_name="Lee")
    )
    for app in apps:
        await w.features.memberships.grant(ADMIN, "acme", user.id, app)
    return user


async def secret_rows(uow: Any, client_id: str) -> list[dict[str, Any]]:
    async with uow.read() as tx:
        found = await tx.clients.get(client_id)
        assert found is not None
        return [
            dict(row)
            for row in tx._tables.table("client_secrets").values()
            if row["client_pk"] == found.id
        ]


async def audit_count(uow: Any) -> int:
    async with uow.read() as tx:
        return (await tx.audit.search(None, PageRequest(size=1000), "", "")).total


async def versions(uow: Any, *scopes: str) -> list[int]:
    """The snapshot versions the registry holds for ``scopes``."""
    async with uow.read() as tx:
        read = await tx.versions.read(list(scopes))
    return [read[scope] for scope in scopes]


def unauthorized(error: DomainError) -> tuple[str, str]:
    return error.reason, error.metadata.get("oauth_error", "")


# -- who may call ------------------------------------------------------------------------------

Call = Callable[[ResolutionUseCases, Any], Awaitable[object]]
CALLS: dict[str, Call] = {
    "client_snapshot": lambda uc, p: uc.client_snapshot(p, "acme", "tc_x"),
    "record_secret_use": lambda uc, p: uc.record_secret_use(p, "s-1", fakes.NOW, ""),
    "resolve_user": lambda uc, p: uc.resolve_user(p, "acme", "billing", "u-1", "tc_x"),
    "tenant_exists": lambda uc, p: uc.tenant_exists(p, "acme"),
}


@pytest.mark.parametrize("operation", sorted(CALLS))
@pytest.mark.parametrize(
    "caller",
    [fakes.operator(), ADMIN, fakes.service("gateway")],
    ids=["operator", "tenant-admin", "another-service"],
)
async def test_only_the_token_service_may_resolve_and_others_are_refused_before_storage(
    operation: str, caller: Any
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        await CALLS[operation](fakes.untouchable().resolution, caller)
    assert caught.value.reason == "SERVICE_ONLY"


# -- client_snapshot ---------------------------------------------------------------------------


async def test_a_client_snapshot_holds_every_fact_its_tokens_are_decided_from() -> None:
    w = await world()
    operator = fakes.operator()
    await w.features.plans.create(
        operator, PlanDraft(code="starter", name="Starter", limits={"monthly-units": 1000})
    )
    await w.features.apps.update(operator, "acme", "shop", AppPatch(plan="starter"), 0)
    await w.features.apps.update(
        ADMIN,
        "acme",
        "billing",
        AppPatch(settings={"token_lifetimes.access_token_seconds": 300}),
        0,
    )
    await role(w, "accountant", "billing/invoice:read", "shop/order:read")
    await role(w, "biller", "billing/invoice:write", app="billing")
    await role(w, "shopper", "shop/order:read", app="shop")
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await w.features.scopes.create(ADMIN, "acme", "billing.export", "", "billing")
    for audience in ("urn:billing:b", "https://billing-api.example.com"):
        await w.features.resource_servers.create(
            ADMIN, "acme", ResourceServerDraft(app="billing", audience=audience, name=audience)
        )
    client_id, secret = await client(
        w,
        "shop",
        "billing",
        roles=("shopper", "biller", "accountant"),
        scopes=("reports.read", "billing.export"),
    )
    snapshot = await w.features.resolution.client_snapshot(TOKEN, "acme", client_id)
    tenant_version, platform_version = await versions(w.uow, "acme", "*")
    [secret_row] = snapshot.secrets
    assert w.hasher.verify(secret, secret_row.hash)
    assert secret_row == SnapshotSecret(
        id=secret_row.id,
        hash=secret_row.hash,
        created_at=fakes.NOW,
        expires_at=None,
        last_used_at=None,
    )
    billing = SnapshotApp(
        id=w.billing.id,
        slug="billing",
        enabled=True,
        region="eu",
        db_code=w.billing.db_code or "",
        plan_code=None,
        plan_retired=False,
        entitlements={},
        service_codes=w.billing.service_codes,
        access_token_seconds=300,
        audiences=("https://billing-api.example.com", "urn:billing:b"),
        roles=("accountant", "biller"),
        permissions=("invoice:read", "invoice:write"),
    )
    shop = replace(
        billing,
        id=w.shop.id,
        slug="shop",
        db_code=w.shop.db_code or "",
        plan_code="starter",
        entitlements={"monthly-units": 1000},
        service_codes=w.shop.service_codes,
        access_token_seconds=900,
        audiences=(),
        roles=("accountant", "shopper"),
        permissions=("order:read",),
    )
    assert snapshot == ClientSnapshot(
        tenant_version=tenant_version,
        platform_version=platform_version,
        tenant="acme",
        tenant_id=w.billing.tenant_id,
        client_pk=snapshot.client_pk,
        client_id=client_id,
        enabled=True,
        confidential=True,
        grant_types=("client_credentials",),
        secrets=(secret_row,),
        apps=(billing, shop),  # by slug
        scopes=(("billing.export", w.billing.id), ("reports.read", None)),
        found=True,
    )
    assert snapshot.client_pk
    assert tenant_version > 0


async def test_a_snapshot_shows_a_disabled_client_a_retired_plan_and_a_grace_period() -> None:
    w = await world()
    operator = fakes.operator()
    await w.features.plans.create(operator, PlanDraft(code="old", name="Old", limits={}))
    await w.features.apps.update(operator, "acme", "billing", AppPatch(plan="old"), 0)
    await w.features.plans.update(operator, "old", PlanPatch(status="retired"), 0)
    await w.features.apps.update(ADMIN, "acme", "shop", AppPatch(enabled=False), 0)
    client_id, _ = await client(w, "billing", "shop")
    w.clock.advance(10)
    await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 60)
    await w.features.clients.update(ADMIN, "acme", client_id, ClientPatch(enabled=False), 0)
    snapshot = await w.features.resolution.client_snapshot(TOKEN, "acme", client_id)
    assert (snapshot.found, snapshot.enabled) == (True, False)
    new, old = snapshot.secrets  # newest first
    assert (new.created_at, new.expires_at) == (w.clock.at, None)
    assert (old.created_at, old.expires_at) == (fakes.NOW, w.clock.at + timedelta(seconds=60))
    billing, shop = snapshot.apps
    assert (billing.plan_code, billing.plan_retired, billing.enabled) == ("old", True, True)
    assert (shop.plan_code, shop.plan_retired, shop.enabled) == (None, False, False)
    public_id, _ = await client(w, "billing", confidential=False)
    public = await w.features.resolution.client_snapshot(TOKEN, "acme", public_id)
    assert (public.confidential, public.secrets, public.grant_types) == (
        False,
        (),
        ("authorization_code",),
    )


async def test_unknown_tenants_unknown_clients_and_other_tenants_clients_are_not_found() -> None:
    w = await world()
    client_id, _ = await client(w, "billing")
    globex, _ = await w.features.tenants.create(
        fakes.operator(), TenantDraft(slug="globex", display_name="G")
    )
    await w.features.roles.create(
        fakes.operator(), "globex", RoleDraft(code="reader", name="Reader")
    )
    acme_version, globex_version, platform = await versions(w.uow, "acme", "globex", "*")
    assert 0 < globex_version != acme_version
    resolution = w.features.resolution
    # Nothing about the client, and the asked tenant's version, so the answer may be cached
    # under that tenant like any other (services.common.versions).
    assert await resolution.client_snapshot(TOKEN, "nowhere", client_id) == ClientSnapshot(
        tenant_version=0, platform_version=platform, tenant="nowhere", tenant_id=""
    )
    assert await resolution.client_snapshot(TOKEN, "acme", "tc_" + "a" * 26) == ClientSnapshot(
        tenant_version=acme_version,
        platform_version=platform,
        tenant="acme",
        tenant_id=w.billing.tenant_id,
    )
    assert await resolution.client_snapshot(TOKEN, "globex", client_id) == ClientSnapshot(
        tenant_version=globex_version,
        platform_version=platform,
        tenant="globex",
        tenant_id=globex.id,
    )
    await w.features.clients.delete(ADMIN, "acme", client_id)
    gone = await resolution.client_snapshot(TOKEN, "acme", client_id)
    assert (gone.found, gone.client_id, gone.secrets, gone.apps) == (False, "", (), ())


async def test_a_snapshot_carries_the_versions_the_writes_bumped_and_announced() -> None:
    w = await world()
    client_id, _ = await client(w, "billing")
    resolution = w.features.resolution

    async def snapshot_versions() -> tuple[int, int]:
        snapshot = await resolution.client_snapshot(TOKEN, "acme", client_id)
        assert [snapshot.tenant_version, snapshot.platform_version] == await versions(
            w.uow, "acme", "*"
        )
        return snapshot.tenant_version, snapshot.platform_version

    tenant, platform = await snapshot_versions()
    await w.features.clients.update(ADMIN, "acme", client_id, ClientPatch(display_name="W2"), 0)
    assert await snapshot_versions() == (tenant + 1, platform)
    assert await w.board.current(["acme"]) == [tenant + 1]
    await w.features.plans.create(fakes.operator(), PlanDraft(code="pro", name="Pro", limits={}))
    await w.features.plans.update(fakes.operator(), "pro", PlanPatch(name="Pro 2"), 0)
    assert await snapshot_versions() == (tenant + 1, platform + 1)
    assert await w.board.current(["acme", "*"]) == [tenant + 1, platform + 1]
    # Another tenant's write moves only its own version.
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    await w.features.roles.create(
        fakes.operator(), "globex", RoleDraft(code="reader", name="Reader")
    )
    assert await snapshot_versions() == (tenant + 1, platform + 1)


# -- record_secret_use -------------------------------------------------------------------------


async def test_a_secrets_use_and_current_rehash_are_stored_as_bookkeeping_only() -> None:
    w = await world()
    client_id, _ = await client(w, "billing")
    [before] = await secret_rows(w.uow, client_id)
    audits, known = await audit_count(w.uow), await versions(w.uow, "acme", "*")
    w.bus.changes.clear()
    used_at = fakes.NOW + timedelta(seconds=5)
    await w.features.resolution.record_secret_use(TOKEN, before["id"], used_at, "")
    [touched] = await secret_rows(w.uow, client_id)
    assert touched == {**before, "last_used_at": used_at}
    rehash = w.hasher.hash("tsk_rehashed")
    later = used_at + timedelta(minutes=2)
    await w.features.resolution.record_secret_use(TOKEN, before["id"], later, rehash)
    [rehashed] = await secret_rows(w.uow, client_id)
    assert rehashed == {**before, "last_used_at": later, "secret_hash": rehash}
    # Not an administrative change: no audit event, no notification, no version moved.
    assert await audit_count(w.uow) == audits
    assert w.bus.changes == []
    assert await versions(w.uow, "acme", "*") == known


@pytest.mark.parametrize(
    "rehash",
    [
        SecretHasher(PepperRing.parse(PEPPER_2)).hash("tsk_x"),  # a pepper the registry lacks
        SecretHasher(PepperRing.parse(f"{PEPPER_2},{fakes.PEPPERS}")).hash("tsk_x"),
        "hmac-sha256$1$short",
        "tsk_plaintext",
    ],
    ids=["unknown-pepper", "other-current-pepper", "malformed", "plaintext"],
)
async def test_a_rehash_not_under_the_current_pepper_is_refused_and_nothing_is_written(
    rehash: str,
) -> None:
    w = await world()
    client_id, _ = await client(w, "billing")
    [before] = await secret_rows(w.uow, client_id)
    with pytest.raises(InvalidArgument) as caught:
        await w.features.resolution.record_secret_use(TOKEN, before["id"], fakes.NOW, rehash)
    assert caught.value.reason == "REHASH_INVALID"
    assert await secret_rows(w.uow, client_id) == [before]


async def test_the_use_of_a_secret_gone_meanwhile_is_no_error() -> None:
    w = await world()
    client_id, _ = await client(w, "billing")
    [row] = await secret_rows(w.uow, client_id)
    await w.features.clients.delete(ADMIN, "acme", client_id)
    audits = await audit_count(w.uow)
    await w.features.resolution.record_secret_use(
        TOKEN, row["id"], fakes.NOW, w.hasher.hash("tsk_x")
    )
    assert await audit_count(w.uow) == audits


# -- resolve_user ------------------------------------------------------------------------------


async def resolve_user(w: World, user: str, app: str = "billing", tenant: str = "acme") -> Any:
    return await w.features.resolution.resolve_user(TOKEN, tenant, app, user, "tc_spa")


async def test_a_member_carries_roles_given_directly_and_through_groups_of_the_app() -> None:
    w = await world()
    await role(w, "biller", "billing/invoice:write", app="billing")
    await role(w, "accountant", "billing/invoice:read")
    await role(w, "shopper", "shop/order:read", app="shop")
    await role(w, "auditor", "billing/invoice:read", "shop/order:read")
    user = await member(w, "ann@example.com", "billing")
    await w.features.users.assign_role(ADMIN, "acme", user.id, "biller")
    await w.features.users.assign_role(ADMIN, "acme", user.id, "shopper")
    groups = w.features.groups
    for code, bound, given in (
        ("staff", ("*",), "accountant"),
        ("shop-team", ("shop",), "auditor"),
    ):
        await groups.create(ADMIN, "acme", GroupDraft(code=code, name=code, bound_to=bound))
        await groups.set_roles(ADMIN, "acme", code, [given], "")
        await groups.add_member(ADMIN, "acme", code, user.id)
    context = await resolve_user(w, user.id)
    assert context.app.roles == ("accountant", "biller")
    assert context.app.permissions == (
        "invoice:read",
        "invoice:write",
        "users:read_self",
        "users:update_self",
    )
    assert (context.user_id, context.email, context.first_name, context.last_name) == (
        user.id,
        "ann@example.com",
        "Ann",
        "Lee",
    )
    assert (context.app.client_id, context.app.confidential, context.app.app_id) == (
        "tc_spa",
        False,
        w.billing.id,
    )


async def test_a_member_without_roles_still_gets_the_core_permissions() -> None:
    w = await world()
    user = await member(w, "bob@example.com", "shop")
    context = await resolve_user(w, user.id, "shop")
    assert (context.app.roles, context.app.permissions) == (
        (),
        ("users:read_self", "users:update_self"),
    )


async def test_a_disabled_user_gets_no_token() -> None:
    w = await world()
    user = await member(w, "ann@example.com", "billing")
    await w.features.users.disable(ADMIN, "acme", user.id, 0)
    with pytest.raises(PermissionDenied) as caught:
        await resolve_user(w, user.id)
    assert caught.value.reason == "USER_DISABLED"


async def test_a_user_needs_an_active_membership_of_the_app() -> None:
    w = await world()
    user = await member(w, "ann@example.com", "shop")
    with pytest.raises(PermissionDenied) as never:
        await resolve_user(w, user.id, "billing")
    await w.features.memberships.revoke(ADMIN, "acme", user.id, "shop")
    with pytest.raises(PermissionDenied) as revoked:
        await resolve_user(w, user.id, "shop")
    assert (never.value.reason, revoked.value.reason) == ("NOT_A_MEMBER", "NOT_A_MEMBER")


async def test_a_disabled_app_gets_no_user_tokens_either() -> None:
    w = await world()
    user = await member(w, "ann@example.com", "billing")
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(PermissionDenied) as caught:
        await resolve_user(w, user.id)
    assert unauthorized(caught.value) == ("APP_DISABLED", "unauthorized_client")


async def test_the_token_version_is_carried_and_moves_with_log_out_everywhere() -> None:
    w = await world()
    user = await member(w, "ann@example.com", "billing")
    before = (await resolve_user(w, user.id)).token_version
    await w.features.users.logout_everywhere(ADMIN, "acme", user.id, 0)
    assert (await resolve_user(w, user.id)).token_version == before + 1


async def test_unknown_users_apps_and_tenants_are_not_found() -> None:
    w = await world()
    user = await member(w, "ann@example.com", "billing")
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    cases = [
        (resolve_user(w, "no-such-user"), "USER_NOT_FOUND"),
        (resolve_user(w, user.id, "no-such-app"), "APP_NOT_FOUND"),
        (resolve_user(w, user.id, "tessera", tenant="globex"), "USER_NOT_FOUND"),
        (resolve_user(w, user.id, tenant="nowhere"), "TENANT_NOT_FOUND"),
    ]
    for attempt, reason in cases:
        with pytest.raises(NotFound) as caught:
            await attempt
        assert caught.value.reason == reason


# -- tenant_exists and origin_allowed ----------------------------------------------------------


async def test_tenant_exists_answers_for_existing_tenants_only() -> None:
    w = await world()
    resolution = w.features.resolution
    assert await resolution.tenant_exists(TOKEN, "acme")
    assert await resolution.tenant_exists(TOKEN, "control-plane")
    assert not await resolution.tenant_exists(TOKEN, "nowhere")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://APP.example.com:443", True),
        ("http://app.example.com", False),  # plain http only for localhost
        ("https://evil.example.com", False),
        ("https://app.example.com.evil.com", False),
        ("http://localhost:3000", True),
        ("http://localhost:3001", False),
        ("https://app.example.com/path", False),
        ("null", False),
    ],
)
async def test_an_origin_is_allowed_when_it_is_an_allowed_domain_of_an_enabled_app(
    origin: str, allowed: bool
) -> None:
    w = await world()
    assert await w.features.resolution.origin_allowed("acme", origin) is allowed


async def test_a_disabled_apps_domains_and_other_tenants_domains_are_not_allowed() -> None:
    w = await world()
    resolution = w.features.resolution
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    assert not await resolution.origin_allowed("acme", "https://app.example.com")
    assert await resolution.origin_allowed("acme", "http://localhost:3000")
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    assert not await resolution.origin_allowed("globex", "http://localhost:3000")
    assert not await resolution.origin_allowed("nowhere", "http://localhost:3000")


# -- republishing versions at start-up ------------------------------------------------------------


async def test_republishing_overwrites_what_the_board_shows_with_the_committed_versions() -> None:
    w = await world()
    async with w.uow.read() as tx:
        committed = await tx.versions.hold_all()
    assert committed["acme"] > 0
    await w.board.announce("acme", committed["acme"] + 40)  # a Redis that outlived a restore
    events = len(await fakes.audit_events(w.uow))
    announced = await w.features.resolution.republish_versions()
    assert announced == len(committed)
    assert await w.board.current(list(committed)) == list(committed.values())
    assert len(await fakes.audit_events(w.uow)) == events  # not an administrative change
