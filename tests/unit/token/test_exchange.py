"""The token endpoint's client_credentials exchange end to end (ARCHITECTURE §3, §5, §7): the
registry's use cases over the in-memory stores give the facts, the token service decides and
signs, and the tests read the signed token's claims. What a client's token for one app carries
(roles and permissions within the app's service codes, scopes, audience, entitlements,
lifetime), the issuance rules (grant allowed, enabled app, active plan, the app named),
authentication without an oracle, a secret's last use and its re-hash under a new pepper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from services.common.errors import DomainError, InvalidArgument, PermissionDenied, Unauthenticated
from services.registry.apps.models import App, AppDraft, AppPatch
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientDraft, ClientPatch
from services.registry.kernel.models import PageRequest
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.resource_servers.models import ResourceServerDraft
from services.registry.roles.models import PermissionRef, RoleDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft, TenantPatch
from services.token.domain.authentication import SECRETS_CHECKED
from services.token.domain.grants import IssuedToken
from tests.unit.registry import fakes
from tests.unit.token.fakes import CountingHasher, TokenWorld, issuer, token_world

ADMIN = fakes.tenant_admin("acme")
PEPPER_1 = fakes.PEPPERS
PEPPER_2 = "2:" + "q" * 43
ISSUER = issuer("acme")


@dataclass
class World:
    tw: TokenWorld
    uow: Any
    hasher: CountingHasher
    billing: App
    shop: App

    @property
    def features(self) -> Any:
        return self.tw.features


async def world() -> World:
    """Tenant ``acme`` with apps ``billing`` and ``shop`` (catalogs ``invoice:*`` and
    ``order:read``) behind a token service whose hasher counts its checks."""
    uow, hasher = memory_unit_of_work(), CountingHasher()
    tw = await token_world(uow=uow, hasher=hasher)
    billing, _ = await fakes.app(tw.seeded, "billing")
    shop, _ = await fakes.app(tw.seeded, "shop")
    catalog = tw.features.catalog
    await catalog.register(
        ADMIN,
        "acme",
        "billing",
        [PermissionDeclaration("invoice:read"), PermissionDeclaration("invoice:write")],
    )
    await catalog.register(ADMIN, "acme", "shop", [PermissionDeclaration("order:read")])
    return World(tw, uow, hasher, billing, shop)


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


async def exchange(
    w: World | TokenWorld, client_id: str, secret: str, app: str = "", **request: Any
) -> IssuedToken:
    tw = w.tw if isinstance(w, World) else w
    return await tw.exchange(client_id, secret, app=app, **request)


async def claims(
    w: World | TokenWorld, issued: IssuedToken, tenant: str = "acme"
) -> dict[str, Any]:
    """The token's claims, its signature checked with the tenant's published key (RFC 9068
    header: ``typ`` at+jwt and the ``kid`` of a key in the JWKS). The fake clock stands in
    the future, so time claims are read, not checked."""
    tw = w.tw if isinstance(w, World) else w
    header = jwt.get_unverified_header(issued.access_token)
    assert (header["typ"], header["alg"]) == ("at+jwt", "ES256")
    published = jwt.PyJWKSet.from_dict(await tw.keys.jwks(tenant))
    [key] = [k for k in published.keys if k.key_id == header["kid"]]
    return jwt.decode(
        issued.access_token,
        key.key,
        algorithms=["ES256"],
        options={
            "verify_aud": False,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )


def refusal(error: DomainError) -> tuple[str, str]:
    return error.reason, error.metadata.get("oauth_error", "")


async def audit_count(uow: Any) -> int:
    async with uow.read() as tx:
        return (await tx.audit.search(None, PageRequest(size=1000), "", "")).total


async def registry_versions(uow: Any) -> dict[str, int]:
    async with uow.read() as tx:
        return dict(await tx.versions.read(["acme", "*"]))


async def secret_records(w: World | TokenWorld, client_id: str) -> list[Any]:
    return list((await w.features.clients.get(ADMIN, "acme", client_id)).secrets)


# -- what a token carries ----------------------------------------------------------------------


async def test_a_clients_token_carries_what_it_holds_for_the_one_app_it_is_for() -> None:
    w = await world()
    await role(w, "accountant", "billing/invoice:read", "shop/order:read")
    await role(w, "biller", "billing/invoice:write", app="billing")
    await role(w, "shopper", "shop/order:read", app="shop")
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await w.features.scopes.create(ADMIN, "acme", "billing.export", "", "billing")
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    client_id, secret = await client(
        w,
        "billing",
        "shop",
        roles=("accountant", "biller", "shopper"),
        scopes=("reports.read", "billing.export", "invite:write"),
    )
    issued = await exchange(w, client_id, secret, "billing", scope="billing.export reports.read")
    assert (issued.token_type, issued.expires_in, issued.scope) == (
        "Bearer",
        900,
        "billing.export reports.read",
    )
    token = await claims(w, issued)
    now = int(fakes.NOW.timestamp())
    jti = token.pop("jti")
    assert isinstance(jti, str)
    assert len(jti) >= 16
    assert token == {
        "iss": ISSUER,
        "sub": client_id,
        "aud": f"{ISSUER}/apps/billing",
        "exp": now + 900,
        "nbf": now,
        "iat": now,
        "client_id": client_id,
        "scope": "billing.export reports.read",
        "tenant": "acme",
        "app_id": w.billing.id,
        "app_code": "billing",
        "roles": ["accountant", "biller"],
        "permissions": ["invoice:read", "invoice:write"],
        "region": "eu",
        "db_code": w.billing.db_code,
    }
    shop = await claims(w, await exchange(w, client_id, secret, "shop", scope="invite:write"))
    assert (shop["app_id"], shop["aud"], shop["roles"], shop["permissions"], shop["scope"]) == (
        w.shop.id,
        f"{ISSUER}/apps/shop",
        ["accountant", "shopper"],
        ["order:read"],
        "invite:write",
    )
    assert shop["jti"] != jti


async def test_a_client_without_roles_or_scopes_carries_none() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    token = await claims(w, await exchange(w, client_id, secret))
    assert (token["roles"], token["permissions"], token["scope"]) == ([], [], "")


async def test_admin_permissions_reach_only_tokens_of_the_system_app() -> None:
    w = await world()
    client_id, secret = await client(w, "billing", "tessera", roles=("tenant-admin",))
    billing = await claims(w, await exchange(w, client_id, secret, "billing"))
    assert (billing["roles"], billing["permissions"]) == (["tenant-admin"], [])
    admin = await claims(w, await exchange(w, client_id, secret, "tessera"))
    assert admin["roles"] == ["tenant-admin"]
    assert "client:write" in admin["permissions"]


# -- scopes (RFC 6749 §3.3) --------------------------------------------------------------------


async def test_a_client_requests_its_tenant_wide_scopes_and_those_of_the_app_only() -> None:
    w = await world()
    await w.features.scopes.create(ADMIN, "acme", "reports.read", "", "")
    await w.features.scopes.create(ADMIN, "acme", "billing.export", "", "billing")
    await w.features.scopes.create(ADMIN, "acme", "invite:write", "", "shop")
    await w.features.scopes.create(ADMIN, "acme", "not.held", "", "")
    client_id, secret = await client(
        w, "billing", "shop", scopes=("reports.read", "billing.export", "invite:write")
    )
    issued = await exchange(
        w, client_id, secret, "billing", scope="reports.read  billing.export reports.read"
    )
    # Asked order kept, a repeat once, extra spaces ignored.
    assert issued.scope == "reports.read billing.export"
    assert (await claims(w, issued))["scope"] == "reports.read billing.export"
    for app, scope in (
        ("billing", "invite:write"),  # another app's scope
        ("shop", "billing.export"),
        ("billing", "not.held"),  # the tenant's, not the client's
        ("billing", "reports.read no.such.scope"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await exchange(w, client_id, secret, app, scope=scope)
        assert refusal(caught.value) == ("INVALID_SCOPE", "invalid_scope"), (app, scope)


# -- audiences (RFC 8707) ----------------------------------------------------------------------


async def test_resource_indicators_narrow_the_audience_to_the_apps_resource_servers() -> None:
    w = await world()
    for app, audience in (("billing", "https://billing-api.example.com"), ("shop", "shop-api")):
        await w.features.resource_servers.create(
            ADMIN, "acme", ResourceServerDraft(app=app, audience=audience, name=audience)
        )
    client_id, secret = await client(w, "billing")
    default = await claims(w, await exchange(w, client_id, secret))
    assert default["aud"] == f"{ISSUER}/apps/billing"
    api = ("https://billing-api.example.com",)
    narrowed = await claims(w, await exchange(w, client_id, secret, resource=api))
    assert narrowed["aud"] == "https://billing-api.example.com"
    both = (f"{ISSUER}/apps/billing", "https://billing-api.example.com")
    assert (await claims(w, await exchange(w, client_id, secret, resource=both)))["aud"] == list(
        both
    )
    for resource in (("shop-api",), (f"{ISSUER}/apps/shop",), (*api, "https://evil.example")):
        with pytest.raises(InvalidArgument) as caught:
            await exchange(w, client_id, secret, resource=resource)
        assert refusal(caught.value) == ("INVALID_TARGET", "invalid_target"), resource


# -- authentication (§7: no oracle) ------------------------------------------------------------


FAILURES = [
    "unknown-client",
    "unknown-tenant",
    "another-tenant",
    "wrong-secret",
    "no-secret",
    "disabled",
    "deleted",
    "grace-over",
    "public-with-secret",
    "public-without-secret",
]


async def failure(w: World, kind: str) -> tuple[str, str, str]:
    """Arrange one kind of authentication failure: (tenant, client_id, secret)."""
    client_id, secret = await client(w, "billing")
    if kind == "unknown-client":
        return "acme", "tc_" + "a" * 26, secret
    if kind == "unknown-tenant":
        return "nowhere", client_id, secret
    if kind == "another-tenant":
        await w.features.tenants.create(
            fakes.operator(), TenantDraft(slug="globex", display_name="G")
        )
        return "globex", client_id, secret
    if kind == "wrong-secret":
        return "acme", client_id, "tsk_" + "x" * 43
    if kind == "no-secret":
        return "acme", client_id, ""
    if kind == "disabled":
        await w.features.clients.update(ADMIN, "acme", client_id, ClientPatch(enabled=False), 0)
        return "acme", client_id, secret
    if kind == "deleted":
        await w.features.clients.delete(ADMIN, "acme", client_id)
        return "acme", client_id, secret
    if kind == "grace-over":
        await w.features.clients.regenerate_secret(ADMIN, "acme", client_id, 60)
        w.tw.clock.advance(61)
        return "acme", client_id, secret
    # A public client never gets a client_credentials token (RFC 6749 §4.4.2), with or
    # without something presented as a secret.
    public_id, _ = await client(w, "billing", confidential=False)
    if kind == "public-with-secret":
        return "acme", public_id, secret
    assert kind == "public-without-secret"
    return "acme", public_id, ""


@pytest.mark.parametrize("kind", FAILURES)
async def test_every_authentication_failure_is_the_same_invalid_client_at_the_same_cost(
    kind: str,
) -> None:
    w = await world()
    good_id, good_secret = await client(w, "billing")
    w.hasher.verifications = 0
    await exchange(w, good_id, good_secret)
    assert w.hasher.verifications == SECRETS_CHECKED == 2
    tenant, client_id, secret = await failure(w, kind)
    audits, uses = await audit_count(w.uow), len(w.tw.registry.secret_uses)
    w.hasher.verifications = 0
    with pytest.raises(Unauthenticated) as caught:
        await w.tw.exchange(client_id, secret, tenant=tenant)
    assert (caught.value.reason, caught.value.message, caught.value.metadata) == (
        "INVALID_CLIENT",
        "Client authentication failed.",
        {"oauth_error": "invalid_client"},
    )
    assert w.hasher.verifications == SECRETS_CHECKED
    assert await audit_count(w.uow) == audits
    assert len(w.tw.registry.secret_uses) == uses


@pytest.mark.parametrize(
    ("grant_type", "client_id", "reason", "oauth_error"),
    [
        ("", "tc_x", "GRANT_TYPE_MISSING", "invalid_request"),
        ("authorization_code", "tc_x", "UNSUPPORTED_GRANT_TYPE", "unsupported_grant_type"),
        ("refresh_token", "tc_x", "UNSUPPORTED_GRANT_TYPE", "unsupported_grant_type"),
        ("password", "tc_x", "UNSUPPORTED_GRANT_TYPE", "unsupported_grant_type"),
        ("client_credentials", "", "INVALID_CLIENT", "invalid_client"),
    ],
)
async def test_a_malformed_request_is_refused_before_the_registry_is_asked(
    grant_type: str, client_id: str, reason: str, oauth_error: str
) -> None:
    w = await world()
    with pytest.raises(DomainError) as caught:
        await w.tw.exchange(client_id, "tsk_x", grant_type=grant_type)
    assert refusal(caught.value) == (reason, oauth_error)
    assert w.tw.registry.snapshot_reads == 0
    assert w.hasher.verifications == 0


# -- issuance rules ----------------------------------------------------------------------------


async def test_a_grant_type_the_client_is_not_allowed_is_unauthorized_client() -> None:
    w = await world()
    client_id, secret = await client(w, "billing", grant_types=("authorization_code",))
    with pytest.raises(PermissionDenied) as caught:
        await exchange(w, client_id, secret)
    assert refusal(caught.value) == ("GRANT_TYPE_NOT_ALLOWED", "unauthorized_client")
    # Only after authentication: a wrong secret hears invalid_client, nothing about grants.
    with pytest.raises(Unauthenticated):
        await exchange(w, client_id, "tsk_" + "x" * 43)


async def test_a_disabled_app_gets_no_tokens_until_enabled_again() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    with pytest.raises(PermissionDenied) as caught:
        await exchange(w, client_id, secret)
    assert refusal(caught.value) == ("APP_DISABLED", "unauthorized_client")
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=True), 0)
    assert (await claims(w, await exchange(w, client_id, secret)))["app_code"] == "billing"


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
    token = await claims(w, await exchange(w, client_id, secret))
    assert token["entitlements"] == {"monthly-units": 1000}
    plain_id, plain_secret = await client(w, "billing")
    assert "entitlements" not in await claims(w, await exchange(w, plain_id, plain_secret))
    await w.features.plans.update(operator, "starter", PlanPatch(status="retired"), 0)
    with pytest.raises(PermissionDenied) as caught:
        await exchange(w, client_id, secret)
    assert refusal(caught.value) == ("PLAN_RETIRED", "unauthorized_client")
    await w.features.plans.update(operator, "starter", PlanPatch(status="active"), 0)
    assert (await claims(w, await exchange(w, client_id, secret)))["entitlements"] == {
        "monthly-units": 1000
    }


async def test_a_client_serving_several_apps_must_name_one() -> None:
    w = await world()
    client_id, secret = await client(w, "billing", "shop")
    with pytest.raises(InvalidArgument) as caught:
        await exchange(w, client_id, secret)
    assert refusal(caught.value) == ("APP_REQUIRED", "invalid_request")


@pytest.mark.parametrize("app", ["shop", "tessera", "no-such-app"])
async def test_an_app_the_client_does_not_serve_is_refused(app: str) -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    with pytest.raises(InvalidArgument) as caught:
        await exchange(w, client_id, secret, app)
    assert refusal(caught.value) == ("APP_NOT_SERVED", "invalid_request")


async def test_the_app_is_named_by_slug_or_id_and_a_single_app_needs_no_name() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    for ref in ("", "billing", w.billing.id):
        token = await claims(w, await exchange(w, client_id, secret, ref))
        assert (token["app_id"], token["app_code"]) == (w.billing.id, "billing"), ref
    both_id, both_secret = await client(w, "billing", "shop")
    assert (await claims(w, await exchange(w, both_id, both_secret, w.shop.id)))["app_id"] == (
        w.shop.id
    )


async def test_the_token_lifetime_is_the_apps_setting_over_the_tenants_over_the_default() -> None:
    w = await world()
    setting = "token_lifetimes.access_token_seconds"
    await w.features.apps.create(
        ADMIN,
        "acme",
        AppDraft(slug="quick", display_name="Quick", region="eu", settings={setting: 300}),
    )
    quick_id, quick_secret = await client(w, "quick")
    plain_id, plain_secret = await client(w, "billing")

    async def lifetime(client_id: str, secret: str) -> int:
        issued = await exchange(w, client_id, secret)
        token = await claims(w, issued)
        assert token["exp"] - token["iat"] == issued.expires_in
        return issued.expires_in

    assert await lifetime(quick_id, quick_secret) == 300
    assert await lifetime(plain_id, plain_secret) == 900
    await w.features.tenants.update(
        fakes.operator(), "acme", TenantPatch(settings={setting: 600}), 0
    )
    assert await lifetime(quick_id, quick_secret) == 300
    assert await lifetime(plain_id, plain_secret) == 600


# -- a secret's last use -----------------------------------------------------------------------


async def test_a_secrets_last_use_is_recorded_at_most_once_a_minute_and_never_audited() -> None:
    w = await world()
    client_id, secret = await client(w, "billing")
    audits = await audit_count(w.uow)
    versions = await registry_versions(w.uow)
    [record] = await secret_records(w, client_id)
    assert record.last_used_at is None
    await exchange(w, client_id, secret)
    assert w.tw.registry.secret_uses == [(record.id, fakes.NOW, "")]
    [record] = await secret_records(w, client_id)
    assert record.last_used_at == fakes.NOW
    w.tw.clock.advance(30)
    await exchange(w, client_id, secret)
    w.tw.clock.advance(30)
    await exchange(w, client_id, secret)
    assert len(w.tw.registry.secret_uses) == 1
    [record] = await secret_records(w, client_id)
    assert record.last_used_at == fakes.NOW
    w.tw.clock.advance(1)
    await exchange(w, client_id, secret)
    assert w.tw.registry.secret_uses[1:] == [(record.id, w.tw.clock.at, "")]
    [record] = await secret_records(w, client_id)
    assert record.last_used_at == w.tw.clock.at
    # Bookkeeping: no audit event, and no version moved (cached snapshots stay good).
    assert await audit_count(w.uow) == audits
    assert await registry_versions(w.uow) == versions


# -- pepper rotation ---------------------------------------------------------------------------


async def _platform_under_pepper_1() -> tuple[Any, tuple[str, str], tuple[str, str]]:
    """A platform under pepper ring "1" with two confidential clients."""
    uow = memory_unit_of_work()
    tw = await token_world(uow=uow, peppers=PEPPER_1)
    _, used = await fakes.app(tw.seeded, "billing")
    _, idle = await fakes.app(tw.seeded, "shop")
    return uow, (used.client_id, used.client_secret), (idle.client_id, idle.client_secret)


async def _exchanges(tw: TokenWorld, client_id: str, secret: str) -> bool:
    try:
        await tw.exchange(client_id, secret)
    except Unauthenticated:
        return False
    return True


async def test_a_secret_is_re_hashed_under_the_new_pepper_on_its_next_successful_use() -> None:
    uow, (client_id, secret), _ = await _platform_under_pepper_1()
    rotated = await token_world(uow=uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    [before] = await secret_records(rotated, client_id)
    assert before.secret_hash.startswith("hmac-sha256$1$")
    assert await _exchanges(rotated, client_id, secret)
    [after] = await secret_records(rotated, client_id)
    assert after.secret_hash.startswith("hmac-sha256$2$")
    assert rotated.registry.secret_uses == [(before.id, fakes.NOW, after.secret_hash)]
    # Asked once: the next use (its cached snapshot still holds the old hash) asks nothing.
    assert await _exchanges(rotated, client_id, secret)
    assert len(rotated.registry.secret_uses) == 1
    # The old pepper can now leave the ring: the secret still authenticates.
    retired = await token_world(uow=uow, peppers=PEPPER_2)
    assert await _exchanges(retired, client_id, secret)
    # Nothing left to re-hash (and its last use is this very instant's).
    assert retired.registry.secret_uses == []


async def test_a_secret_unused_since_the_rotation_fails_once_its_pepper_is_gone() -> None:
    uow, (used_id, used_secret), (idle_id, idle_secret) = await _platform_under_pepper_1()
    rotated = await token_world(uow=uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    assert await _exchanges(rotated, used_id, used_secret)
    retired = await token_world(uow=uow, peppers=PEPPER_2)
    assert await _exchanges(retired, used_id, used_secret)
    assert not await _exchanges(retired, idle_id, idle_secret)
    [row] = await secret_records(retired, idle_id)
    assert row.secret_hash.startswith("hmac-sha256$1$")


async def test_a_failed_authentication_leaves_the_old_hash_alone() -> None:
    uow, (client_id, _), _ = await _platform_under_pepper_1()
    rotated = await token_world(uow=uow, peppers=f"{PEPPER_2},{PEPPER_1}")
    [before] = await secret_records(rotated, client_id)
    assert not await _exchanges(rotated, client_id, "tsk_" + "w" * 43)
    assert await secret_records(rotated, client_id) == [before]
    assert rotated.registry.secret_uses == []
