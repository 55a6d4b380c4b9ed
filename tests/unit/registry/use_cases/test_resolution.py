"""Resolution use cases driven directly over the in-memory stores: what the token service learns
about a client or a user in one app (ARCHITECTURE §3 and §5), the issuance rules (enabled app,
active plan, enabled user, active membership), client authentication without an oracle (§7),
the CORS origin check, and secret hashes moving to a new pepper on their next use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.errors import (
    DomainError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.hashing import PepperRing, SecretHasher
from services.registry.apps.models import App, AppDraft, AppPatch
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientDraft, ClientPatch
from services.registry.features import Features
from services.registry.groups.models import GroupDraft
from services.registry.kernel.models import PageRequest
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.resolution.models import GrantContext
from services.registry.resolution.use_cases import ResolutionUseCases
from services.registry.resource_servers.models import ResourceServerDraft
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from services.registry.users.models import User, UserDraft
from tests.unit.registry import fakes

ADMIN = fakes.tenant_admin("acme")
TOKEN = fakes.service("token")
PEPPER_1 = "1:" + "p" * 43
PEPPER_2 = "2:" + "q" * 43


class CountingHasher(SecretHasher):
    """Counts keyed-hash checks: the work an authentication does."""

    def __init__(self, ring: PepperRing) -> None:
        super().__init__(ring)
        self.verifications = 0

    def verify(self, secret: str, stored: str) -> bool:
        self.verifications += 1
        return super().verify(secret, stored)


@dataclass
class World:
    features: Features
    uow: Any
    bus: fakes.RecordingBus
    clock: fakes.Clock
    hasher: CountingHasher
    billing: App
    shop: App


async def world() -> World:
    """Tenant ``acme`` with apps ``billing`` and ``shop`` (catalogs ``invoice:*`` and
    ``order:read``), a recording bus, a counting hasher and a clock moved by hand."""
    uow, bus, clock = memory_unit_of_work(), fakes.RecordingBus(), fakes.Clock()
    hasher = CountingHasher(PepperRing.parse(fakes.PEPPERS))
    features = fakes.features(uow, changes=bus, now=clock, secret_hasher=hasher)
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
    return World(features, uow, bus, clock, hasher, billing, shop)


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


async def resolve(
    w: World,
    client_id: str,
    secret: str,
    app: str = "",
    grant: str = "client_credentials",
    tenant: str = "acme",
) -> GrantContext:
    return await w.features.resolution.resolve_client(TOKEN, tenant, client_id, secret, app, grant)


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


# -- who may call ------------------------------------------------------------------------------

Call = Callable[[ResolutionUseCases, Any], Awaitable[object]]
CALLS: dict[str, Call] = {
    "resolve_client": lambda uc, p: uc.resolve_client(p, "acme", "tc_x", "tsk_x", "", "password"),
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


# -- resolve_client ----------------------------------------------------------------------------


async def test_a_client_resolves_to_what_its_tokens_for_one_app_carry() -> None:
    w = await world()
    await role(w, "accountant", "billing/invoice:read", "shop/order:read")
    await role(w, "biller", "billing/invoice:write", app="billing")
    await role(w, "shopper", "shop/order:read", app="shop")
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await w.features.scopes.create(ADMIN, "acme", "billing.export", "", "billing")
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    for app, audience in (("billing", "billing-api"), ("shop", "shop-api")):
        await w.features.resource_servers.create(
            ADMIN, "acme", ResourceServerDraft(app=app, audience=audience, name=audience)
        )
    client_id, secret = await client(
        w,
        "billing",
        "shop",
        roles=("accountant", "biller", "shopper"),
        scopes=("reports.read", "billing.export", "invite:write"),
    )
    billing = await resolve(w, client_id, secret, "billing")
    assert billing == GrantContext(
        tenant_slug="acme",
        tenant_id=w.billing.tenant_id,
        client_id=client_id,
        confidential=True,
        app_id=w.billing.id,
        app_code="billing",
        region="eu",
        db_code=w.billing.db_code or "",
        roles=("accountant", "biller"),
        permissions=("invoice:read", "invoice:write"),
        plan_code=None,
        entitlements={},
        access_token_seconds=900,
        scopes=("billing.export", "reports.read"),
        audiences=("billing-api",),
    )
    shop = await resolve(w, client_id, secret, "shop")
    assert (shop.app_id, shop.roles, shop.permissions, shop.scopes, shop.audiences) == (
        w.shop.id,
        ("accountant", "shopper"),
        ("order:read",),
        ("invite:write", "reports.read"),
        ("shop-api",),
    )


async def test_a_client_without_roles_carries_no_permissions() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    context = await resolve(w, client_id, secret)
    assert (context.roles, context.permissions, context.scopes) == ((), (), ())


async def test_admin_permissions_reach_only_tokens_of_the_system_app() -> None:
    w = await world()
    client_id, secret = await client(w, "billing", "tessera", roles=("tenant-admin",))
    assert (await resolve(w, client_id, secret, "billing")).permissions == ()
    admin = await resolve(w, client_id, secret, "tessera")
    assert admin.roles == ("tenant-admin",)
    assert "client:write" in admin.permissions


async def failure(w: World, kind: str) -> tuple[str, str, str, str]:
    """Arrange one kind of authentication failure: (tenant, client_id, secret, grant)."""
    client_id, secret = await client(w, "billing")
    if kind == "unknown-client":
        return "acme", "tc_" + "a" * 26, secret, "client_credentials"
    if kind == "unknown-tenant":
        return "nowhere", client_id, secret, "client_credentials"
    if kind == "another-tenant":
        await w.features.tenants.create(
            fakes.operator(), TenantDraft(slug="globex", display_name="G")
        )
        return "globex", client_id, secret, "client_credentials"
    if kind == "wrong-secret":
        return "acme", client_id, "tsk_" + "x" * 43, "client_credentials"
    if kind == "no-secret":
        return "acme", client_id, "", "client_credentials"
    if kind == "disabled":
        await w.features.clients.update(ADMIN, "acme", client_id, ClientPatch(enabled=False), 0)
        return "acme", client_id, secret, "client_credentials"
    if kind == "deleted":
        await w.features.clients.delete(ADMIN, "acme", client_id)
        return "acme", client_id, secret, "client_credentials"
    if kind == "grace-over":
        await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 60)
        w.clock.advance(61)
        return "acme", client_id, secret, "client_credentials"
    public_id, _ = await client(w, "billing", confidential=False)
    if kind == "public-with-secret":
        return "acme", public_id, secret, "authorization_code"
    assert kind == "public-client-credentials"
    return "acme", public_id, "", "client_credentials"


@pytest.mark.parametrize(
    "kind",
    [
        "unknown-client",
        "unknown-tenant",
        "another-tenant",
        "wrong-secret",
        "no-secret",
        "disabled",
        "deleted",
        "grace-over",
        "public-with-secret",
        "public-client-credentials",
    ],
)
async def test_every_authentication_failure_is_the_same_invalid_client_at_the_same_cost(
    kind: str,
) -> None:
    w = await world()
    good_id, good_secret = await client(w, "billing")
    w.hasher.verifications = 0
    await resolve(w, good_id, good_secret)
    cost = w.hasher.verifications
    tenant, client_id, secret, grant = await failure(w, kind)
    audits = await audit_count(w.uow)
    w.hasher.verifications = 0
    with pytest.raises(Unauthenticated) as caught:
        await resolve(w, client_id, secret, grant=grant, tenant=tenant)
    assert (caught.value.reason, caught.value.message, caught.value.metadata) == (
        "INVALID_CLIENT",
        "Client authentication failed.",
        {"oauth_error": "invalid_client"},
    )
    assert w.hasher.verifications == cost == 2
    assert await audit_count(w.uow) == audits


def unauthorized(error: DomainError) -> tuple[str, str]:
    return error.reason, error.metadata.get("oauth_error", "")


async def test_a_grant_type_the_client_is_not_allowed_is_unauthorized_client() -> None:
    w = await world()
    confidential_id, secret = await client(w, "billing")
    public_id, _ = await client(w, "billing", confidential=False)
    with pytest.raises(PermissionDenied) as confidential:
        await resolve(w, confidential_id, secret, grant="password")
    with pytest.raises(PermissionDenied) as public:
        await resolve(w, public_id, "", grant="refresh_token")
    for caught in (confidential, public):
        assert unauthorized(caught.value) == ("GRANT_TYPE_NOT_ALLOWED", "unauthorized_client")


async def test_a_public_client_is_identified_without_a_secret_for_browser_grants() -> None:
    w = await world()
    public_id, _ = await client(
        w, "billing", confidential=False, grant_types=("authorization_code", "refresh_token")
    )
    context = await resolve(w, public_id, "", grant="refresh_token")
    assert (context.client_id, context.confidential) == (public_id, False)


async def test_a_disabled_app_gets_no_tokens_until_enabled_again() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(PermissionDenied) as caught:
        await resolve(w, client_id, secret)
    assert unauthorized(caught.value) == ("APP_DISABLED", "unauthorized_client")
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=True), 0)
    assert (await resolve(w, client_id, secret)).app_code == "billing"


async def test_an_active_plan_carries_its_limits_and_a_retired_one_blocks_issuance() -> None:
    w = await world()
    operator = fakes.operator()
    await w.features.plans.create(
        operator, PlanDraft(code="starter", name="Starter", limits={"monthly-units": 1000})
    )
    await w.features.apps.create(
        operator,
        "acme",
        AppDraft(slug="ledger", display_name="Ledger", region="eu", plan="starter"),
    )
    client_id, secret = await client(w, "ledger")
    context = await resolve(w, client_id, secret)
    assert (context.plan_code, context.entitlements) == ("starter", {"monthly-units": 1000})
    await w.features.plans.update(operator, "starter", PlanPatch(status="retired"), 0)
    with pytest.raises(PermissionDenied) as caught:
        await resolve(w, client_id, secret)
    assert unauthorized(caught.value) == ("PLAN_RETIRED", "unauthorized_client")


async def test_a_client_serving_several_apps_must_name_one() -> None:
    w = await world()
    client_id, secret = await client(w, "billing", "shop")
    with pytest.raises(InvalidArgument) as caught:
        await resolve(w, client_id, secret)
    assert (caught.value.reason, caught.value.metadata) == (
        "APP_REQUIRED",
        {"oauth_error": "invalid_request"},
    )


@pytest.mark.parametrize("app", ["shop", "tessera", "no-such-app"])
async def test_an_app_the_client_does_not_serve_is_refused(app: str) -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    with pytest.raises(InvalidArgument) as caught:
        await resolve(w, client_id, secret, app)
    assert (caught.value.reason, caught.value.metadata) == (
        "APP_NOT_SERVED",
        {"oauth_error": "invalid_request"},
    )


async def test_the_app_is_named_by_slug_or_id_and_a_single_app_needs_no_name() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    for ref in ("", "billing", w.billing.id):
        assert (await resolve(w, client_id, secret, ref)).app_id == w.billing.id


async def test_the_apps_token_lifetime_setting_overrides_the_default() -> None:
    w = await world()
    await w.features.apps.create(
        ADMIN,
        "acme",
        AppDraft(
            slug="quick",
            display_name="Quick",
            region="eu",
            settings={"token_lifetimes.access_token_seconds": 300},
        ),
    )
    quick_id, quick_secret = await client(w, "quick")
    plain_id, plain_secret = await client(w, "billing")
    assert (await resolve(w, quick_id, quick_secret)).access_token_seconds == 300
    assert (await resolve(w, plain_id, plain_secret)).access_token_seconds == 900


async def test_a_secrets_last_use_is_recorded_at_most_once_a_minute_and_never_audited() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    audits = await audit_count(w.uow)
    [row] = await secret_rows(w.uow, client_id)
    assert row["last_used_at"] is None
    await resolve(w, client_id, secret)
    [row] = await secret_rows(w.uow, client_id)
    assert row["last_used_at"] == fakes.NOW
    w.clock.advance(30)
    await resolve(w, client_id, secret)
    [row] = await secret_rows(w.uow, client_id)
    assert row["last_used_at"] == fakes.NOW
    w.clock.advance(31)
    await resolve(w, client_id, secret)
    [row] = await secret_rows(w.uow, client_id)
    assert row["last_used_at"] == w.clock.at
    assert await audit_count(w.uow) == audits
    assert w.bus.changes == []


# -- pepper rotation ---------------------------------------------------------------------------


async def _platform_under_pepper_1() -> tuple[Any, tuple[str, str], tuple[str, str]]:
    """A platform under pepper ring "1" with two confidential clients."""
    uow = memory_unit_of_work()
    seeded = await fakes.seeded(fakes.features(uow, peppers=PEPPER_1))
    _, used = await fakes.app(seeded, "billing")
    _, idle = await fakes.app(seeded, "shop")
    return uow, (used.client_id, used.client_secret), (idle.client_id, idle.client_secret)


async def _resolves(features: Features, client_id: str, secret: str) -> bool:
    try:
        await features.resolution.resolve_client(
            TOKEN, "acme", client_id, secret, "", "client_credentials"
        )
    except Unauthenticated:
        return False
    return True


async def test_a_secret_is_re_hashed_under_the_new_pepper_on_its_next_successful_use() -> None:
    uow, (client_id, secret), _ = await _platform_under_pepper_1()
    [row] = await secret_rows(uow, client_id)
    assert row["secret_hash"].startswith("hmac-sha256$1$")
    rotated = fakes.features(uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    assert await _resolves(rotated, client_id, secret)
    [row] = await secret_rows(uow, client_id)
    assert row["secret_hash"].startswith("hmac-sha256$2$")
    # The old pepper can now leave the ring: the secret still authenticates.
    retired = fakes.features(uow, peppers=PEPPER_2)
    assert await _resolves(retired, client_id, secret)


async def test_a_secret_unused_since_the_rotation_fails_once_its_pepper_is_gone() -> None:
    uow, (used_id, used_secret), (idle_id, idle_secret) = await _platform_under_pepper_1()
    rotated = fakes.features(uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    assert await _resolves(rotated, used_id, used_secret)
    retired = fakes.features(uow, peppers=PEPPER_2)
    assert not await _resolves(retired, idle_id, idle_secret)
    [row] = await secret_rows(uow, idle_id)
    assert row["secret_hash"].startswith("hmac-sha256$1$")


async def test_a_failed_authentication_leaves_the_old_hash_alone() -> None:
    uow, (client_id, _), _ = await _platform_under_pepper_1()
    [before] = await secret_rows(uow, client_id)
    rotated = fakes.features(uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    assert not await _resolves(rotated, client_id, "tsk_" + "w" * 43)
    [after] = await secret_rows(uow, client_id)
    assert after == before


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
