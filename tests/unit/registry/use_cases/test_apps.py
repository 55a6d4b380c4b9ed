"""App use cases over the in-memory stores: creating an app with its first confidential client
(TrueParser seed "Creation Workflow"), its region and database, the tenant's app limit, the
operator-only plan assignment, production's stricter URL policy, merge-patch settings,
enabling and disabling, cloning (Modgud seed "Cloning an app") and deleting with blockers
(Modgud seed "Deleting an app")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.changes import Change
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StaleVersion,
)
from services.common.hashing import PepperRing, SecretHasher
from services.registry.apps.models import App, AppDraft, AppPatch, CloneDraft, StorageInput
from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import IssuedCredentials
from services.registry.features import Features
from services.registry.kernel.models import AuditEvent
from services.registry.plans.models import PlanDraft, PlanPatch
from services.registry.regions.models import RegionPatch
from services.registry.roles.models import RoleDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft, TenantPatch
from tests.unit.registry import fakes

HASHER = SecretHasher(PepperRing.parse(fakes.PEPPERS))
CIPHER = EnvelopeCipher(Keyring.parse(fakes.ENCRYPTION_KEYS))
ADMIN = fakes.tenant_admin("acme")


@dataclass
class World:
    features: Features
    uow: Any
    bus: fakes.RecordingBus

    async def app(self, slug: str = "billing", **draft: Any) -> tuple[App, IssuedCredentials]:
        """Create an app; what its creation published is not what the test looks at."""
        created = await self.features.apps.create(ADMIN, "acme", new(slug, **draft))
        self.bus.changes.clear()
        return created

    async def stored(self, ref: str) -> App:
        return await self.features.apps.get(ADMIN, "acme", ref)

    async def events(self, action: str = "") -> list[AuditEvent]:
        """Every audit event, newest first."""
        return await fakes.audit_events(self.uow, action)

    async def slugs(self) -> list[str]:
        page = await self.features.apps.search(ADMIN, "acme", 0, 0, None, "", "")
        return [a.slug for a in page.items]


async def world(*, production: bool = False) -> World:
    """Bootstrap, region ``eu`` (``db-1``, ``db-2``) and tenant ``acme``."""
    uow, bus = memory_unit_of_work(), fakes.RecordingBus()
    features = fakes.features(uow, changes=bus, production=production)
    await fakes.seeded(features)
    bus.changes.clear()
    return World(features, uow, bus)


def new(slug: str = "billing", **draft: Any) -> AppDraft:
    return AppDraft(
        slug=slug,
        display_name=draft.pop("display_name", slug.title()),
        region=draft.pop("region", "eu"),
        **draft,
    )


STORAGE = StorageInput(
    provider="cloudflare-r2",
    access_key="AKIAEXAMPLE1234",
    secret_key="very-secret-key-value",
    bucket="acme-docs",
)


# -- who may call -------------------------------------------------------------------------------

WRITES: dict[str, Callable[[Features, Principal], Awaitable[Any]]] = {
    "create": lambda f, p: f.apps.create(p, "acme", new()),
    "update": lambda f, p: f.apps.update(p, "acme", "billing", AppPatch(enabled=False), 0),
    "delete": lambda f, p: f.apps.delete(p, "acme", "billing", 0),
    "clone": lambda f, p: f.apps.clone(p, "acme", "billing", CloneDraft("billing-2", "B2")),
}
READS: dict[str, Callable[[Features, Principal], Awaitable[Any]]] = {
    "get": lambda f, p: f.apps.get(p, "acme", "billing"),
    "search": lambda f, p: f.apps.search(p, "acme", 0, 0, None, "", ""),
}


@pytest.mark.parametrize("operation", WRITES)
async def test_app_writes_need_app_write_refused_before_storage(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await WRITES[operation](untouchable, fakes.tenant_admin("acme", "app:read"))
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "app:write"}


@pytest.mark.parametrize("operation", [*WRITES, *READS])
async def test_another_tenants_apps_are_forbidden_before_storage(operation: str) -> None:
    untouchable = fakes.untouchable()
    call = WRITES.get(operation) or READS[operation]
    with pytest.raises(PermissionDenied) as caught:
        await call(untouchable, fakes.tenant_admin("beta"))
    assert caught.value.reason == "TENANT_FORBIDDEN"


@pytest.mark.parametrize("operation", READS)
async def test_reading_apps_needs_app_read(operation: str) -> None:
    untouchable = fakes.untouchable()
    with pytest.raises(PermissionDenied) as caught:
        await READS[operation](untouchable, fakes.tenant_admin("acme", "app:write"))
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "app:read"}


async def test_an_operator_manages_the_apps_of_any_tenant_as_itself() -> None:
    w = await world()
    app, _ = await w.features.apps.create(fakes.operator(), "acme", new())
    (event,) = await w.events("app.create")
    assert (event.actor_id, event.actor_tenant, event.tenant_id) == (
        "tc_operator",
        "control-plane",
        app.tenant_id,
    )


async def test_an_app_is_looked_up_only_within_the_tenant_named() -> None:
    w = await world()
    app, _ = await w.app()
    await w.features.tenants.create(fakes.operator(), TenantDraft("beta", "Beta"))
    with pytest.raises(NotFound) as caught:
        await w.features.apps.update(fakes.operator(), "beta", app.id, AppPatch(enabled=False), 0)
    assert caught.value.reason == "APP_NOT_FOUND"
    assert (await w.stored(app.id)).enabled is True


async def test_an_unknown_app_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.apps.get(ADMIN, "acme", "nothing")
    assert caught.value.reason == "APP_NOT_FOUND"


async def test_apps_can_be_ordered_only_by_known_fields() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await w.features.apps.search(ADMIN, "acme", 0, 0, None, "", "version")
    assert caught.value.reason == "ORDER_BY_INVALID"


# -- creating -----------------------------------------------------------------------------------


async def test_a_new_app_comes_with_its_first_confidential_client() -> None:
    w = await world()
    app, credentials = await w.app()
    async with w.uow.read() as tx:
        client = await tx.clients.get(credentials.client_id)
        assert client is not None
        (stored,) = await tx.clients.secrets(client.id)
    assert app.client_ids == (credentials.client_id,)
    assert (client.tenant_id, client.app_ids) == (app.tenant_id, (app.id,))
    assert (client.confidential, client.enabled) == (True, True)
    assert client.grant_types == app.grant_types
    assert credentials.client_secret.startswith("tsk_")
    assert credentials.client_secret not in stored.secret_hash
    assert HASHER.verify(credentials.client_secret, stored.secret_hash)


async def test_a_new_app_gets_the_documented_defaults() -> None:
    w = await world()
    app, _ = await w.app("marketplace-v2", display_name="Marketplace v2")
    assert app.service_codes == ("marketplace-v2",)  # Vendidit seed: defaults to [code]
    assert app.grant_types == ("client_credentials",)
    assert (app.enabled, app.auto_grant_on_signup, app.is_system) == (True, False, False)
    assert (app.plan_id, app.storage, app.settings.values) == (None, None, {})
    assert app.version == 1


async def test_creating_an_app_is_audited_with_its_client() -> None:
    w = await world()
    app, credentials = await w.app()
    (event,) = await w.events("app.create")
    assert (event.target_type, event.target_id, event.tenant_slug) == ("app", app.id, "acme")
    assert (event.actor_type, event.actor_id, event.actor_tenant) == ("client", "tc_admin", "acme")
    assert event.details == {"slug": "billing", "client_id": credentials.client_id}


async def test_an_app_stores_its_region_and_the_first_active_database() -> None:
    w = await world()
    region = await w.features.regions.get(fakes.operator(), "eu")
    first, _ = await w.app("billing")
    chosen, _ = await w.app("shipping", db_code="db-2")
    assert (first.region_id, first.region_code, first.db_code) == (region.id, "eu", "db-1")
    assert (chosen.region_id, chosen.db_code) == (region.id, "db-2")


async def _nothing(f: Features) -> None:
    return None


async def _deactivate_region(f: Features) -> None:
    await f.regions.update(fakes.operator(), "eu", RegionPatch(active=False), 0)


async def _deactivate_databases(f: Features) -> None:
    for db in ("db-1", "db-2"):
        await f.regions.set_database_active(fakes.operator(), "eu", db, False)


async def _deactivate_db_2(f: Features) -> None:
    await f.regions.set_database_active(fakes.operator(), "eu", "db-2", False)


REGION_FAILURES: dict[str, tuple[Callable[[Features], Awaitable[None]], dict[str, str], str]] = {
    "unknown region": (_nothing, {"region": "us"}, "REGION_NOT_FOUND"),
    "inactive region": (_deactivate_region, {}, "REGION_INACTIVE"),
    "no active database": (_deactivate_databases, {}, "REGION_NO_ACTIVE_DATABASE"),
    "chosen database inactive": (
        _deactivate_db_2,
        {"db_code": "db-2"},
        "REGION_DATABASE_NOT_ACTIVE",
    ),
    "chosen database unknown": (_nothing, {"db_code": "db-9"}, "REGION_DATABASE_NOT_ACTIVE"),
}


@pytest.mark.parametrize("case", REGION_FAILURES)
async def test_an_app_needs_an_active_region_with_an_active_database(case: str) -> None:
    w = await world()
    prepare, draft, reason = REGION_FAILURES[case]
    await prepare(w.features)
    with pytest.raises(FailedPrecondition) as caught:
        await w.app(**draft)
    assert caught.value.reason == reason
    assert await w.slugs() == ["tessera"]
    assert await w.events("app.create") == []


async def test_a_region_must_be_chosen() -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await w.app(region="")
    assert fakes.reason_set(caught.value) == {("region", "REGION_REQUIRED")}


async def test_every_bad_field_of_a_new_app_is_reported_and_nothing_is_stored() -> None:
    w = await world()
    draft = AppDraft(
        slug="Billing_App",
        display_name="",
        region="eu",
        description="x" * 501,
        redirect_uris=("/callback",),
        post_logout_redirect_uris=("https://app.example.com/bye#now",),
        allowed_domains=("*.example.com",),
        service_codes=("tessera",),
        grant_types=("implicit",),
        settings={"theme": "dark"},
        storage=StorageInput(provider="ftp", access_key="k", secret_key="s", bucket="acme-docs"),
    )
    with pytest.raises(InvalidArgument) as caught:
        await w.features.apps.create(ADMIN, "acme", draft)
    assert caught.value.reason == "VALIDATION_FAILED"
    assert fakes.reason_set(caught.value) == {
        ("slug", "SLUG_INVALID"),
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("description", "DESCRIPTION_TOO_LONG"),
        ("redirect_uris[0]", "REDIRECT_URI_NOT_ABSOLUTE"),
        ("post_logout_redirect_uris[0]", "REDIRECT_URI_HAS_FRAGMENT"),
        ("allowed_domains[0]", "ALLOWED_DOMAIN_WILDCARD"),
        ("service_codes[0]", "SERVICE_RESERVED"),
        ("grant_types[0]", "GRANT_TYPE_UNKNOWN"),
        ("settings.theme", "SETTING_UNKNOWN"),
        ("storage.provider", "STORAGE_PROVIDER_UNSUPPORTED"),
    }
    assert await w.slugs() == ["tessera"]
    assert await w.events("app.create") == []


@pytest.mark.parametrize("slug", ["realm", "tessera", "control-plane"])
async def test_reserved_slugs_are_refused_on_the_api_path(slug: str) -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await w.app(slug, display_name="Mine")
    assert fakes.reason_set(caught.value) == {("slug", "SLUG_RESERVED")}


@pytest.mark.parametrize("code", ["tessera", "control-plane", "core"])
async def test_an_app_may_not_consume_a_platform_catalog(code: str) -> None:
    w = await world()
    with pytest.raises(InvalidArgument) as caught:
        await w.app(service_codes=("billing", code))
    assert fakes.reason_set(caught.value) == {("service_codes[1]", "SERVICE_RESERVED")}


async def test_allowed_domains_are_stored_normalised_as_the_seed_shows() -> None:
    w = await world()
    app, _ = await w.app(allowed_domains=("https://app.example.com/", "http://localhost:3000/"))
    assert app.allowed_domains == ("app.example.com", "localhost:3000")
    assert (await w.stored("billing")).allowed_domains == ("app.example.com", "localhost:3000")


async def test_a_slug_is_unique_within_its_tenant_only() -> None:
    w = await world()
    await w.app()
    with pytest.raises(AlreadyExists) as caught:
        await w.app(display_name="Another name")
    assert caught.value.reason == "APP_SLUG_TAKEN"
    await w.features.tenants.create(fakes.operator(), TenantDraft("beta", "Beta"))
    other, _ = await w.features.apps.create(fakes.tenant_admin("beta"), "beta", new())
    assert other.slug == "billing"


async def test_display_names_are_unique_within_the_tenant_case_insensitively() -> None:
    w = await world()
    await w.app("billing", display_name="Billing App")
    with pytest.raises(AlreadyExists) as caught:
        await w.app("invoicing", display_name="  billing   APP ")
    assert caught.value.reason == "APP_NAME_TAKEN"
    assert await w.slugs() == ["billing", "tessera"]


async def test_one_app_more_than_the_tenant_limit_is_refused_naming_the_limit() -> None:
    w = await world()
    await w.features.tenants.update(fakes.operator(), "acme", TenantPatch(app_limit=2), 0)
    await w.app("alpha")
    await w.app("beta")  # the system app tessera does not count
    with pytest.raises(FailedPrecondition) as caught:
        await w.app("gamma")
    assert caught.value.reason == "APP_LIMIT_REACHED"
    assert caught.value.metadata == {"limit": "2", "current": "2"}
    assert "2" in caught.value.message
    assert await w.slugs() == ["alpha", "beta", "tessera"]
    assert len(await w.events("app.create")) == 2


# -- plans --------------------------------------------------------------------------------------


async def test_an_operator_puts_a_new_app_on_an_active_plan() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), PlanDraft("starter", "Starter"))
    app, _ = await w.features.apps.create(fakes.operator(), "acme", new(plan="starter"))
    assert app.plan_id == plan.id


@pytest.mark.parametrize("plan", ["starter", "no-such-plan"])
async def test_a_tenant_admin_cannot_put_an_app_on_a_plan(plan: str) -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), PlanDraft("starter", "Starter"))
    with pytest.raises(PermissionDenied) as caught:
        await w.app(plan=plan)
    # The same answer whether the plan exists or not.
    assert caught.value.reason == "OPERATOR_ONLY"
    assert await w.slugs() == ["tessera"]


async def test_assigning_a_plan_is_refused_before_storage_is_touched() -> None:
    f = fakes.untouchable()
    with pytest.raises(PermissionDenied) as created:
        await f.apps.create(ADMIN, "acme", new(plan="starter"))
    with pytest.raises(PermissionDenied) as updated:
        await f.apps.update(ADMIN, "acme", "billing", AppPatch(plan=""), 99)
    assert (created.value.reason, updated.value.reason) == ("OPERATOR_ONLY", "OPERATOR_ONLY")


async def test_a_retired_or_unknown_plan_cannot_be_assigned() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), PlanDraft("legacy", "Legacy"))
    await w.features.plans.update(fakes.operator(), "legacy", PlanPatch(status="retired"), 0)
    with pytest.raises(FailedPrecondition) as retired:
        await w.features.apps.create(fakes.operator(), "acme", new(plan="legacy"))
    with pytest.raises(FailedPrecondition) as unknown:
        await w.features.apps.create(fakes.operator(), "acme", new(plan="gold"))
    assert (retired.value.reason, unknown.value.reason) == ("PLAN_RETIRED", "PLAN_NOT_FOUND")
    assert await w.slugs() == ["tessera"]


async def test_only_an_operator_changes_an_apps_plan() -> None:
    w = await world()
    plan = await w.features.plans.create(fakes.operator(), PlanDraft("starter", "Starter"))
    app, _ = await w.app()
    for change in ("starter", ""):
        with pytest.raises(PermissionDenied) as caught:
            await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(plan=change), 0)
        assert caught.value.reason == "OPERATOR_ONLY"
    assert (await w.stored(app.id)).plan_id is None
    on_plan = await w.features.apps.update(
        fakes.operator(), "acme", app.id, AppPatch(plan="starter"), 1
    )
    assert on_plan.plan_id == plan.id
    cleared = await w.features.apps.update(fakes.operator(), "acme", app.id, AppPatch(plan=""), 2)
    assert cleared.plan_id is None


async def test_a_retired_plan_cannot_be_assigned_to_an_existing_app() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), PlanDraft("legacy", "Legacy"))
    await w.features.plans.update(fakes.operator(), "legacy", PlanPatch(status="retired"), 0)
    app, _ = await w.app()
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.update(fakes.operator(), "acme", app.id, AppPatch(plan="legacy"), 0)
    assert caught.value.reason == "PLAN_RETIRED"
    assert (await w.stored(app.id)).version == 1


# -- production policy --------------------------------------------------------------------------


async def test_production_refuses_plain_http_redirect_uris_except_for_loopback() -> None:
    w = await world(production=True)
    with pytest.raises(InvalidArgument) as caught:
        await w.app(
            redirect_uris=("http://app.example.com/cb", "http://localhost:3000/cb"),
            post_logout_redirect_uris=("http://127.0.0.1/bye", "http://app.example.com/bye"),
        )
    assert fakes.reason_set(caught.value) == {
        ("redirect_uris[0]", "REDIRECT_URI_INSECURE"),
        ("post_logout_redirect_uris[1]", "REDIRECT_URI_INSECURE"),
    }
    assert await w.slugs() == ["tessera"]


async def test_development_accepts_plain_http_redirect_uris() -> None:
    w = await world(production=False)
    app, _ = await w.app(redirect_uris=("http://app.example.com/cb",))
    assert app.redirect_uris == ("http://app.example.com/cb",)


async def test_production_refuses_a_plain_http_redirect_uri_in_a_change() -> None:
    w = await world(production=True)
    app, _ = await w.app(redirect_uris=("https://app.example.com/cb",))
    with pytest.raises(InvalidArgument) as caught:
        await w.features.apps.update(
            ADMIN, "acme", app.id, AppPatch(redirect_uris=("http://app.example.com/cb",)), 1
        )
    assert fakes.reason_set(caught.value) == {("redirect_uris[0]", "REDIRECT_URI_INSECURE")}
    assert (await w.stored(app.id)).redirect_uris == ("https://app.example.com/cb",)


async def test_a_homepage_url_is_https_in_production_and_an_empty_one_removes_it() -> None:
    w = await world(production=True)
    with pytest.raises(InvalidArgument) as caught:
        await w.app(homepage_url="http://billing.example.com/")
    assert fakes.reason_set(caught.value) == {("homepage_url", "HOMEPAGE_URL_INSECURE")}
    app, _ = await w.app(homepage_url="https://billing.example.com/")
    assert app.homepage_url == "https://billing.example.com/"
    removed = await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(homepage_url=""), 1)
    assert removed.homepage_url is None
    (event,) = await w.events("app.update")
    assert event.details == {"fields": ["homepage_url"]}


async def test_production_refuses_an_authorization_code_app_without_redirect_uris() -> None:
    w = await world(production=True)
    with pytest.raises(InvalidArgument) as caught:
        await w.app(grant_types=("authorization_code", "refresh_token"))
    assert fakes.reason_set(caught.value) == {("redirect_uris", "REDIRECT_URIS_REQUIRED")}
    assert await w.slugs() == ["tessera"]
    development = await world(production=False)
    app, _ = await development.app(grant_types=("authorization_code",))
    assert app.grant_types == ("authorization_code",)


async def test_production_keeps_an_authorization_code_app_from_losing_its_redirect_uris() -> None:
    w = await world(production=True)
    app, _ = await w.app()
    with pytest.raises(InvalidArgument) as switching:
        await w.features.apps.update(
            ADMIN, "acme", app.id, AppPatch(grant_types=("authorization_code",)), 1
        )
    code_app, _ = await w.app(
        "portal",
        grant_types=("authorization_code",),
        redirect_uris=("https://portal.example.com/cb",),
    )
    with pytest.raises(InvalidArgument) as emptying:
        await w.features.apps.update(ADMIN, "acme", code_app.id, AppPatch(redirect_uris=()), 1)
    assert (
        fakes.reason_set(switching.value)
        == fakes.reason_set(emptying.value)
        == {("redirect_uris", "REDIRECT_URIS_REQUIRED")}
    )
    assert (await w.stored(app.id)).grant_types == ("client_credentials",)
    assert (await w.stored(code_app.id)).redirect_uris == ("https://portal.example.com/cb",)


# -- storage ------------------------------------------------------------------------------------


async def test_storage_keys_are_encrypted_at_rest_with_only_a_masked_hint_kept() -> None:
    w = await world()
    app, _ = await w.app(storage=STORAGE)
    stored = (await w.stored(app.id)).storage
    assert stored is not None
    assert (stored.provider, stored.bucket) == ("cloudflare-r2", "acme-docs")
    assert stored.access_key_hint == "****1234"
    assert STORAGE.access_key not in stored.access_key_ciphertext
    assert STORAGE.secret_key not in stored.secret_key_ciphertext
    context = f"app:{app.id}:storage.secret_key".encode()
    assert CIPHER.decrypt(stored.secret_key_ciphertext, context=context) == b"very-secret-key-value"


async def test_clearing_storage_returns_the_app_to_managed_storage() -> None:
    w = await world()
    app, _ = await w.app(storage=STORAGE)
    cleared = await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(clear_storage=True), 1)
    assert cleared.storage is None


# -- changing -----------------------------------------------------------------------------------


async def test_app_settings_are_a_merge_patch_where_null_inherits_the_tenant_again() -> None:
    w = await world()
    app, _ = await w.app(
        settings={"registration_posture": "invite_code", "branding.product_name": "Billing"}
    )
    updated = await w.features.apps.update(
        ADMIN,
        "acme",
        app.id,
        AppPatch(
            settings={
                "registration_posture": None,
                "token_lifetimes.access_token_seconds": 120,
            }
        ),
        1,
    )
    assert updated.settings.values == {
        "branding.product_name": "Billing",
        "token_lifetimes.access_token_seconds": 120,
    }
    unchanged = await w.features.apps.update(
        ADMIN, "acme", app.id, AppPatch(description="Bills"), 2
    )
    assert unchanged.settings == updated.settings


async def test_every_bad_field_of_an_app_patch_is_reported_and_nothing_changes() -> None:
    w = await world()
    app, _ = await w.app()
    patch = AppPatch(
        display_name=" ",
        description="x" * 501,
        slug="billing-2",
        redirect_uris=("javascript:alert(1)",),
        allowed_domains=("a.example.com", "b.example.com", "c.example.com", "d.example.com"),
        grant_types=("implicit",),
        settings={"token_lifetimes.access_token_seconds": 10},
        storage=StorageInput(provider="minio", access_key="k", secret_key="s", bucket="b"),
    )
    with pytest.raises(InvalidArgument) as caught:
        await w.features.apps.update(ADMIN, "acme", app.id, patch, 1)
    assert fakes.reason_set(caught.value) == {
        ("display_name", "DISPLAY_NAME_EMPTY"),
        ("description", "DESCRIPTION_TOO_LONG"),
        ("slug", "SLUG_IMMUTABLE"),
        ("redirect_uris[0]", "REDIRECT_URI_SCHEME_FORBIDDEN"),
        ("allowed_domains", "ALLOWED_DOMAINS_TOO_MANY"),
        ("grant_types[0]", "GRANT_TYPE_UNKNOWN"),
        ("settings.token_lifetimes.access_token_seconds", "LIFETIME_OUT_OF_RANGE"),
        ("storage.bucket", "STORAGE_BUCKET_INVALID"),
        ("storage.endpoint", "STORAGE_ENDPOINT_REQUIRED"),
    }
    assert await w.stored(app.id) == app
    assert await w.events("app.update") == []
    assert w.bus.changes == []


async def test_the_slug_is_immutable_but_may_be_sent_unchanged() -> None:
    w = await world()
    app, _ = await w.app()
    same = await w.features.apps.update(
        ADMIN, "acme", app.id, AppPatch(slug="billing", description="Bills"), 1
    )
    assert (same.slug, same.description) == ("billing", "Bills")


async def test_a_system_app_cannot_be_changed() -> None:
    w = await world()
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.update(ADMIN, "acme", "tessera", AppPatch(description="mine"), 0)
    assert caught.value.reason == "SYSTEM_APP"
    assert (await w.stored("tessera")).version == 1


async def test_a_stale_app_version_is_refused_and_nothing_is_published() -> None:
    w = await world()
    app, _ = await w.app()
    await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(description="first"), 1)
    with pytest.raises(StaleVersion) as caught:
        await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(description="second"), 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert caught.value.metadata == {"current_version": "2"}
    assert (await w.stored(app.id)).description == "first"
    assert len(await w.events("app.update")) == 1
    assert len(w.bus.changes) == 1


async def test_an_app_cannot_take_another_apps_name_but_may_recase_its_own() -> None:
    w = await world()
    await w.app("billing", display_name="Billing")
    shipping, _ = await w.app("shipping", display_name="Shipping")
    with pytest.raises(AlreadyExists) as caught:
        await w.features.apps.update(
            ADMIN, "acme", shipping.id, AppPatch(display_name="BILLING"), 1
        )
    assert caught.value.reason == "APP_NAME_TAKEN"
    recased = await w.features.apps.update(
        ADMIN, "acme", shipping.id, AppPatch(display_name="SHIPPING"), 1
    )
    assert recased.display_name == "SHIPPING"


async def test_a_change_is_audited_naming_the_fields_sent() -> None:
    w = await world()
    app, _ = await w.app()
    await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(description="changed"), 1)
    (event,) = await w.events("app.update")
    assert (event.target_type, event.target_id, event.actor_id) == ("app", app.id, "tc_admin")
    assert event.details == {"fields": ["description"]}


async def test_creating_an_app_is_published() -> None:
    w = await world()
    app, _ = await w.features.apps.create(ADMIN, "acme", new())
    assert w.bus.changes == [Change("acme", "app", app.id)]


async def test_disabling_an_app_is_published_after_it_is_committed() -> None:
    w = await world()
    app, _ = await w.app()
    seen: list[bool] = []

    async def look(change: Change) -> None:
        async with w.uow.read() as tx:
            stored = await tx.apps.get_by_id(change.target_id)
            assert stored is not None
            seen.append(stored.enabled)

    w.bus.on_publish = look
    disabled = await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(enabled=False), 1)
    enabled = await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(enabled=True), 2)
    assert (disabled.enabled, enabled.enabled, enabled.version) == (False, True, 3)
    assert w.bus.changes == [Change("acme", "app", app.id)] * 2
    assert seen == [False, True]


async def test_disabling_an_app_is_audited_naming_the_enabled_field() -> None:
    w = await world()
    app, _ = await w.app()
    await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(enabled=False), 1)
    (event,) = await w.events("app.update")
    assert event.details == {"fields": ["enabled"]}


# -- deleting -----------------------------------------------------------------------------------


async def test_a_system_app_can_never_be_deleted() -> None:
    w = await world()
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.delete(ADMIN, "acme", "tessera", 0)
    assert caught.value.reason == "SYSTEM_APP"
    assert "tessera" in await w.slugs()


async def test_an_app_still_referenced_is_kept_and_its_blockers_are_listed() -> None:
    w = await world()
    app, credentials = await w.app()
    await w.features.roles.create(ADMIN, "acme", RoleDraft("clerk", "Clerk", app="billing"))
    await w.features.scopes.create(ADMIN, "acme", "billing:read", "", "billing")
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.delete(ADMIN, "acme", app.id, 1)
    assert caught.value.reason == "APP_IN_USE"
    assert caught.value.blockers == [
        f"client:{credentials.client_id}",
        "role:clerk",
        "scope:billing:read",
    ]
    assert (await w.stored(app.id)).id == app.id
    assert await w.events("app.delete") == []


async def test_an_unreferenced_app_is_deleted_audited_and_published() -> None:
    w = await world()
    app, credentials = await w.app()
    await w.features.clients.delete(ADMIN, "acme", credentials.client_id)
    w.bus.changes.clear()
    await w.features.apps.delete(ADMIN, "acme", app.id, 1)
    with pytest.raises(NotFound) as caught:
        await w.stored(app.id)
    assert caught.value.reason == "APP_NOT_FOUND"
    (event,) = await w.events("app.delete")
    assert (event.target_id, event.details, event.actor_id) == (
        app.id,
        {"slug": "billing"},
        "tc_admin",
    )
    assert w.bus.changes == [Change("acme", "app", app.id)]


async def test_deleting_an_app_checks_its_version() -> None:
    w = await world()
    app, credentials = await w.app()
    await w.features.clients.delete(ADMIN, "acme", credentials.client_id)
    await w.features.apps.update(ADMIN, "acme", app.id, AppPatch(description="changed"), 1)
    with pytest.raises(StaleVersion) as caught:
        await w.features.apps.delete(ADMIN, "acme", app.id, 1)
    assert caught.value.reason == "VERSION_MISMATCH"
    assert (await w.stored(app.id)).description == "changed"


async def test_deleting_an_unknown_app_is_not_found() -> None:
    w = await world()
    with pytest.raises(NotFound) as caught:
        await w.features.apps.delete(ADMIN, "acme", "nothing", 0)
    assert caught.value.reason == "APP_NOT_FOUND"


# -- cloning ------------------------------------------------------------------------------------


async def test_a_clone_copies_the_configuration_but_never_the_slug() -> None:
    w = await world()
    source, source_credentials = await w.app(
        description="Source app",
        db_code="db-2",
        redirect_uris=("https://app.example.com/cb",),
        post_logout_redirect_uris=("https://app.example.com/bye",),
        allowed_domains=("app.example.com",),
        auto_grant_on_signup=True,
        service_codes=("billing", "file-store"),
        grant_types=("client_credentials", "authorization_code"),
        settings={"registration_posture": "invite_code"},
        enabled=False,
        homepage_url="https://billing.example.com/",
    )
    clone, credentials = await w.features.apps.clone(
        ADMIN, "acme", "billing", CloneDraft("billing-eu", "Billing EU")
    )
    assert (clone.slug, clone.display_name) == ("billing-eu", "Billing EU")
    assert clone.id != source.id
    assert clone.description == "Source app"
    assert (clone.region_id, clone.db_code) == (source.region_id, "db-2")
    assert clone.redirect_uris == source.redirect_uris
    assert clone.post_logout_redirect_uris == source.post_logout_redirect_uris
    assert clone.allowed_domains == source.allowed_domains
    assert (clone.auto_grant_on_signup, clone.enabled) == (True, False)
    assert clone.grant_types == source.grant_types
    assert clone.settings == source.settings
    assert clone.homepage_url == "https://billing.example.com/"
    # The source's own catalog becomes the clone's; other services stay shared.
    assert clone.service_codes == ("billing-eu", "file-store")
    assert credentials.client_id != source_credentials.client_id
    assert clone.client_ids == (credentials.client_id,)


async def test_a_clone_copies_the_live_catalog_as_new_entries() -> None:
    w = await world()
    await w.app()
    entries = [PermissionDeclaration("invoice:read"), PermissionDeclaration("invoice:write")]
    await w.features.catalog.register(ADMIN, "acme", "billing", entries)
    clone, _ = await w.features.apps.clone(
        ADMIN, "acme", "billing", CloneDraft("billing-eu", "Billing EU")
    )
    source_catalog = await w.features.catalog.search(ADMIN, "acme", "billing", False, 0, 0)
    clone_catalog = await w.features.catalog.search(ADMIN, "acme", "billing-eu", False, 0, 0)
    assert [e.code for e in clone_catalog.items] == ["invoice:read", "invoice:write"]
    assert [e.code for e in source_catalog.items] == ["invoice:read", "invoice:write"]
    assert not {e.id for e in clone_catalog.items} & {e.id for e in source_catalog.items}
    (event,) = await w.events("app.clone")
    assert (event.target_id, event.details) == (
        clone.id,
        {"source": "billing", "catalog_entries": 2},
    )
    assert clone.id in {e.target_id for e in await w.events("app.create")}


async def test_a_clone_needs_a_name_of_its_own() -> None:
    w = await world()
    await w.app("billing", display_name="Billing")
    with pytest.raises(AlreadyExists) as caught:
        await w.features.apps.clone(ADMIN, "acme", "billing", CloneDraft("billing-eu", "billing"))
    assert caught.value.reason == "APP_NAME_TAKEN"
    assert await w.slugs() == ["billing", "tessera"]
    assert await w.events("app.clone") == []


async def test_system_apps_cannot_be_cloned() -> None:
    w = await world()
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.clone(ADMIN, "acme", "tessera", CloneDraft("my-tessera", "Mine"))
    assert caught.value.reason == "SYSTEM_APP"


async def test_a_clone_counts_against_the_app_limit() -> None:
    w = await world()
    await w.features.tenants.update(fakes.operator(), "acme", TenantPatch(app_limit=1), 0)
    await w.app()
    with pytest.raises(FailedPrecondition) as caught:
        await w.features.apps.clone(ADMIN, "acme", "billing", CloneDraft("billing-eu", "EU"))
    assert caught.value.reason == "APP_LIMIT_REACHED"
    assert await w.slugs() == ["billing", "tessera"]


async def test_a_clone_is_not_put_on_the_sources_plan() -> None:
    w = await world()
    await w.features.plans.create(fakes.operator(), PlanDraft("starter", "Starter"))
    await w.features.apps.create(fakes.operator(), "acme", new(plan="starter"))
    clone, _ = await w.features.apps.clone(
        ADMIN, "acme", "billing", CloneDraft("billing-eu", "Billing EU")
    )
    assert clone.plan_id is None  # assigning a plan is the operator's call


async def test_a_clone_may_be_placed_in_another_database() -> None:
    w = await world()
    await w.app(db_code="db-2")
    moved, _ = await w.features.apps.clone(
        ADMIN, "acme", "billing", CloneDraft("billing-eu", "Billing EU", region="eu")
    )
    assert moved.db_code == "db-1"  # region given, no db_code: its first active database
