"""Issue 3: every app rule of the seeds, pinned through the admin REST API (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.registry.schema import apps as apps_table
from tests.integration.conftest import Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration


def apps_path(tenant: str, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant}/apps{suffix}"


def reasons(response: Any) -> set[tuple[str, str]]:
    return {(e["field"], e["reason"]) for e in response.json().get("errors", [])}


# -- tenants: app limit ---------------------------------------------------------------------


async def test_one_app_more_than_the_tenant_limit_is_refused_naming_the_limit(admin: Api) -> None:
    tenant = (await admin.tenant(app_limit=2))["slug"]
    region = (await admin.region())["code"]
    await admin.app(tenant, region)
    await admin.app(tenant, region)
    response = await admin.post(
        apps_path(tenant), {"slug": unique("app"), "display_name": unique("A"), "region": region}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["reason"] == "APP_LIMIT_REACHED"
    assert "limit of 2 apps" in body["detail"]
    assert body["metadata"] == {"limit": "2", "current": "2"}


async def test_the_system_app_does_not_count_against_the_limit(admin: Api) -> None:
    tenant = (await admin.tenant(app_limit=1))["slug"]
    await admin.app(tenant, (await admin.region())["code"])
    listed = (await admin.get(apps_path(tenant))).json()
    assert sorted(a["is_system"] for a in listed["items"]) == [False, True]


async def test_tenant_slugs_follow_the_grammar_and_are_unique(admin: Api) -> None:
    for slug, reason in [
        ("api", "SLUG_RESERVED"),
        ("control-plane", "SLUG_RESERVED"),
        ("Acme", "SLUG_INVALID"),
    ]:
        response = await admin.post("/api/v1/tenants", {"slug": slug, "display_name": "X"})
        assert response.status_code == 400, slug
        assert ("slug", reason) in reasons(response)
    tenant = await admin.tenant()
    again = await admin.post("/api/v1/tenants", {"slug": tenant["slug"], "display_name": "Other"})
    assert again.status_code == 409
    assert again.json()["reason"] == "TENANT_SLUG_TAKEN"


# -- regions --------------------------------------------------------------------------------


async def test_app_creation_validates_region_exists_is_active_and_has_active_database(
    admin: Api,
) -> None:
    tenant = (await admin.tenant())["slug"]
    inactive = (await admin.region(active=False))["code"]
    no_db = (await admin.region(databases=[{"db_code": unique("db"), "active": False}]))["code"]
    cases = [
        ("no-such-region", "REGION_NOT_FOUND"),
        (inactive, "REGION_INACTIVE"),
        (no_db, "REGION_NO_ACTIVE_DATABASE"),
    ]
    for region, reason in cases:
        response = await admin.post(
            apps_path(tenant),
            {"slug": unique("app"), "display_name": unique("A"), "region": region},
        )
        assert response.status_code == 409, region
        assert response.json()["reason"] == reason


async def test_app_stores_region_and_chosen_db_code(admin: Api) -> None:
    tenant = (await admin.tenant())["slug"]
    first, second = unique("db"), unique("db")
    region = await admin.region(
        databases=[{"db_code": first, "active": True}, {"db_code": second, "active": True}]
    )
    default = await admin.app(tenant, region["code"])
    chosen = await admin.app(tenant, region["code"], db_code=second)
    assert (default["region_id"], default["db_code"]) == (region["id"], first)
    assert chosen["db_code"] == second
    await admin.patch(f"/api/v1/regions/{region['code']}/databases/{second}", {"active": False})
    refused = await admin.post(
        apps_path(tenant),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": region["code"],
            "db_code": second,
        },
    )
    assert refused.json()["reason"] == "REGION_DATABASE_NOT_ACTIVE"


# -- slug, name, description ----------------------------------------------------------------


@pytest.mark.parametrize("slug", ["realm", "tessera", "control-plane", "*"])
async def test_reserved_app_slugs_are_refused(admin: Api, world: dict[str, Any], slug: str) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {"slug": slug, "display_name": unique("A"), "region": world["region"]["code"]},
    )
    assert response.status_code == 400
    assert ("slug", "SLUG_RESERVED") in reasons(response)


@pytest.mark.parametrize("slug", ["ab", "1app", "app-", "-app", "my--app", "App", "a" * 64])
async def test_malformed_app_slugs_are_refused(
    admin: Api, world: dict[str, Any], slug: str
) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {"slug": slug, "display_name": unique("A"), "region": world["region"]["code"]},
    )
    assert response.status_code == 400
    assert ("slug", "SLUG_INVALID") in reasons(response)


async def test_slug_is_unique_per_tenant_and_immutable(admin: Api, world: dict[str, Any]) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    app = await admin.app(tenant, region)
    again = await admin.post(
        apps_path(tenant), {"slug": app["slug"], "display_name": unique("A"), "region": region}
    )
    assert again.status_code == 409
    assert again.json()["reason"] == "APP_SLUG_TAKEN"
    other_tenant = (await admin.tenant())["slug"]
    assert (await admin.app(other_tenant, region, slug=app["slug"]))["slug"] == app["slug"]
    rename = await admin.patch(apps_path(tenant, f"/{app['id']}"), {"slug": "renamed-app"})
    assert rename.status_code == 400
    assert ("slug", "SLUG_IMMUTABLE") in reasons(rename)
    assert app["slug"] in rename.json()["errors"][0]["message"]  # says what it is
    # A client PATCHing back the object it read (slug unchanged, by either name) is fine.
    for name in ("slug", "code"):
        same = await admin.patch(
            apps_path(tenant, f"/{app['id']}"), {name: app["slug"], "description": name}
        )
        assert same.status_code == 200, same.text


async def test_a_field_sent_by_its_name_and_its_alias_is_refused_with_a_clear_message(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    slug = unique("app")
    both = await admin.post(
        apps_path(tenant),
        {"slug": slug, "code": slug, "display_name": unique("A"), "region": region},
    )
    assert both.status_code == 400
    [error] = both.json()["errors"]
    assert "'slug' and 'code' are the same field" in error["message"]
    assert "Extra inputs" not in error["message"]


async def test_settings_patches_are_json_merge_patches_for_apps_and_tenants_alike(
    admin: Api, world: dict[str, Any]
) -> None:
    """RFC 7396: a value replaces that setting, null resets it, absent keys stay."""
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    app = await admin.app(
        tenant,
        region,
        settings={
            "registration_posture": "invite_code",
            "token_lifetimes": {"access_token_seconds": 120, "id_token_seconds": 300},
            "branding": {"product_name": "Shop"},
        },
    )
    path = apps_path(tenant, f"/{app['id']}")
    changed = await admin.patch(
        path, {"settings": {"token_lifetimes": {"access_token_seconds": 600}}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"] == {
        "registration_posture": "invite_code",
        "token_lifetimes": {"access_token_seconds": 600, "id_token_seconds": 300},
        "branding": {"product_name": "Shop"},
    }
    reset = await admin.patch(path, {"settings": {"registration_posture": None, "branding": None}})
    assert reset.json()["settings"] == {
        "token_lifetimes": {"access_token_seconds": 600, "id_token_seconds": 300}
    }
    cleared = await admin.patch(path, {"settings": None})
    assert cleared.json()["settings"] == {}

    tenant_path = f"/api/v1/tenants/{tenant}"
    await admin.patch(
        tenant_path,
        {"settings": {"registration_posture": "off", "branding": {"product_name": "Acme"}}},
    )
    merged = await admin.patch(
        tenant_path, {"settings": {"branding": {"primary_color": "#112233"}}}
    )
    assert merged.json()["settings"]["registration_posture"] == "off"
    assert merged.json()["settings"]["branding"] == {
        "product_name": "Acme",
        "primary_color": "#112233",
    }
    defaulted = await admin.patch(tenant_path, {"settings": {"registration_posture": None}})
    assert defaulted.json()["settings"]["registration_posture"] == "jit_on_otp"  # the default
    assert defaulted.json()["settings"]["branding"]["product_name"] == "Acme"


async def test_display_names_are_unique_per_tenant_case_insensitively(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    await admin.app(tenant, region, display_name="Marketplace v2")
    clash = await admin.post(
        apps_path(tenant),
        {"slug": unique("app"), "display_name": "  MARKETPLACE V2 ", "region": region},
    )
    assert clash.status_code == 409
    assert clash.json()["reason"] == "APP_NAME_TAKEN"
    other_tenant = (await admin.tenant())["slug"]
    await admin.app(other_tenant, region, display_name="Marketplace v2")


# -- URIs, domains, service codes -----------------------------------------------------------


async def test_allowed_domains_are_normalised_as_the_seed_shows(
    admin: Api, world: dict[str, Any]
) -> None:
    app = await admin.app(
        world["tenant"]["slug"],
        world["region"]["code"],
        allowed_domains=["https://app.example.com/", "http://localhost:3000/"],
    )
    assert app["allowed_domains"] == ["app.example.com", "localhost:3000"]


@pytest.mark.parametrize(
    ("domains", "field", "reason"),
    [
        (
            ["a.example.com", "b.example.com", "c.example.com", "d.example.com"],
            "allowed_domains",
            "ALLOWED_DOMAINS_TOO_MANY",
        ),
        (
            ["https://app.example.com/", "APP.example.com"],
            "allowed_domains[1]",
            "ALLOWED_DOMAIN_DUPLICATE",
        ),
        (["*.example.com"], "allowed_domains[0]", "ALLOWED_DOMAIN_WILDCARD"),
        (["localhost:70000"], "allowed_domains[0]", "ALLOWED_DOMAIN_INVALID_PORT"),
        (["localhost:0"], "allowed_domains[0]", "ALLOWED_DOMAIN_INVALID_PORT"),
    ],
)
async def test_bad_allowed_domains_are_refused(
    admin: Api, world: dict[str, Any], domains: list[str], field: str, reason: str
) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "allowed_domains": domains,
        },
    )
    assert response.status_code == 400
    assert (field, reason) in reasons(response)


async def test_redirect_uris_must_be_absolute(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "redirect_uris": ["/auth/callback"],
            "post_logout_redirect_uris": ["not a uri"],
        },
    )
    assert response.status_code == 400
    fields = {f for f, _ in reasons(response)}
    assert {"redirect_uris[0]", "post_logout_redirect_uris[0]"} <= fields


async def test_an_apps_homepage_url_is_stored_changed_and_removed(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    created = await admin.post(
        apps_path(tenant),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "homepage_url": "https://shop.example.com/",
        },
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["homepage_url"] == "https://shop.example.com/"
    path = apps_path(tenant, f"/{app['slug']}")
    changed = await admin.patch(path, {"homepage_url": "https://example.com/shop"})
    assert changed.json()["homepage_url"] == "https://example.com/shop"
    untouched = await admin.patch(path, {"description": "Shop"})
    assert untouched.json()["homepage_url"] == "https://example.com/shop"
    removed = await admin.patch(path, {"homepage_url": None})
    assert removed.json()["homepage_url"] is None
    assert (await admin.get(path)).json()["homepage_url"] is None


async def test_a_homepage_url_must_be_an_absolute_web_url(
    admin: Api, world: dict[str, Any]
) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "homepage_url": "javascript:alert(1)",
        },
    )
    assert response.status_code == 400
    assert reasons(response) == {("homepage_url", "HOMEPAGE_URL_INVALID")}


async def test_vendidit_field_names_are_accepted_and_service_codes_default_to_slug(
    admin: Api, world: dict[str, Any]
) -> None:
    slug = unique("mkt")
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {
            "code": slug,
            "name": "Marketplace",
            "region": world["region"]["code"],
            "allowed_redirect_urls": ["https://marketplace-v2.example.com/auth/callback"],
            "auto_grant_on_signup": True,
            "status": "active",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == slug
    assert body["service_codes"] == [slug]
    assert body["redirect_uris"] == ["https://marketplace-v2.example.com/auth/callback"]
    assert body["auto_grant_on_signup"] is True


# -- storage --------------------------------------------------------------------------------


async def test_storage_secrets_are_encrypted_at_rest_masked_on_read_and_removable(
    admin: Api, world: dict[str, Any], registry_rows: Any
) -> None:
    tenant = world["tenant"]["slug"]
    access, secret = "AKIAEXAMPLEACCESS1234", "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    app = await admin.app(
        tenant,
        world["region"]["code"],
        storage={
            "provider": "cloudflare-r2",
            "access_key": access,
            "secret_key": secret,
            "bucket": "tenant-docs",
            "endpoint": "https://account.r2.cloudflarestorage.com",
        },
    )
    assert app["storage"]["provider"] == "cloudflare-r2"
    assert app["storage"]["access_key"] == "****1234"
    assert app["storage"]["secret_key"] == "********"
    read = (await admin.get(apps_path(tenant, f"/{app['id']}"))).text
    assert secret not in read
    assert access not in read
    (row,) = registry_rows(select(apps_table.c.storage).where(apps_table.c.id == app["id"]))
    stored = str(row[0])
    assert secret not in stored
    assert access not in stored
    assert row[0]["secret_key_ciphertext"].startswith("env1.")

    cleared = await admin.patch(apps_path(tenant, f"/{app['id']}"), {"storage": None})
    assert cleared.json()["storage"] == {"managed": True}


async def test_minio_storage_needs_an_endpoint(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.post(
        apps_path(world["tenant"]["slug"]),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "storage": {
                "provider": "minio",
                "access_key": "k",
                "secret_key": "s",
                "bucket": "docs",
            },
        },
    )
    assert response.status_code == 400
    assert any(r == "STORAGE_ENDPOINT_REQUIRED" for _, r in reasons(response))


# -- plans, enable/disable and what tokens carry --------------------------------------------


async def test_plan_entitlements_appear_in_tokens_and_a_retired_plan_blocks_issuance(
    admin: Api, world: dict[str, Any]
) -> None:
    import jwt

    tenant = world["tenant"]["slug"]
    plan = await admin.plan({"monthly-document-units": 5000, "max-pages": 300})
    app = await admin.app(tenant, world["region"]["code"], plan=plan["code"])
    token = await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    claims = jwt.decode(token.json()["access_token"], options={"verify_signature": False})
    assert claims["entitlements"] == {"monthly-document-units": 5000, "max-pages": 300}

    retire = await admin.patch(f"/api/v1/plans/{plan['code']}", {"status": "retired"})
    assert retire.json()["status"] == "retired"
    blocked = await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    assert blocked.status_code == 400
    assert blocked.json()["error"] == "unauthorized_client"
    assert "retired plan" in blocked.json()["error_description"]

    assign = await admin.post(
        apps_path(tenant),
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "plan": plan["code"],
        },
    )
    assert assign.status_code == 409
    assert assign.json()["reason"] == "PLAN_RETIRED"

    removed = await admin.patch(apps_path(tenant, f"/{app['id']}"), {"plan": None})
    assert removed.json()["plan_id"] is None
    unblocked = await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    assert "entitlements" not in jwt.decode(
        unblocked.json()["access_token"], options={"verify_signature": False}
    )


async def test_a_disabled_app_gets_no_tokens_until_enabled_again(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    await admin.patch(apps_path(tenant, f"/{app['id']}"), {"enabled": False})
    refused = await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    await admin.patch(apps_path(tenant, f"/{app['id']}"), {"enabled": True})
    assert (
        await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    ).status_code == 200


async def test_app_token_lifetime_overrides_the_tenant_field_by_field(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = (await admin.tenant(settings={"token_lifetimes": {"access_token_seconds": 600}}))[
        "slug"
    ]
    inherits = await admin.app(tenant, world["region"]["code"])
    overrides = await admin.app(
        tenant, world["region"]["code"], settings={"token_lifetimes": {"access_token_seconds": 120}}
    )
    inherited = await client_credentials(
        admin.http, tenant, inherits["client_id"], inherits["client_secret"]
    )
    overridden = await client_credentials(
        admin.http, tenant, overrides["client_id"], overrides["client_secret"]
    )
    assert inherited.json()["expires_in"] == 600
    assert overridden.json()["expires_in"] == 120
    assert overrides["settings"] == {"token_lifetimes": {"access_token_seconds": 120}}


# -- clone and delete -----------------------------------------------------------------------


async def test_clone_copies_settings_and_urls_never_the_slug_and_needs_a_new_name(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    source = await admin.app(
        tenant,
        world["region"]["code"],
        description="Source app",
        redirect_uris=["https://app.example.com/cb"],
        allowed_domains=["app.example.com"],
        settings={"registration_posture": "invite_code"},
    )
    same_name = await admin.post(
        apps_path(tenant, f"/{source['slug']}/clone"),
        {"slug": unique("copy"), "display_name": source["display_name"]},
    )
    assert same_name.status_code == 409
    assert same_name.json()["reason"] == "APP_NAME_TAKEN"
    clone = await admin.post(
        apps_path(tenant, f"/{source['slug']}/clone"),
        {"slug": unique("copy"), "display_name": unique("Copy")},
    )
    assert clone.status_code == 201, clone.text
    body = clone.json()
    assert body["slug"] != source["slug"]
    assert body["id"] != source["id"]
    assert body["client_id"] != source["client_id"]
    assert body["description"] == "Source app"
    assert body["redirect_uris"] == ["https://app.example.com/cb"]
    assert body["allowed_domains"] == ["app.example.com"]
    assert body["settings"] == {"registration_posture": "invite_code"}
    assert body["service_codes"] == [body["slug"]]


async def test_delete_is_refused_with_blockers_then_succeeds_once_they_are_gone(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    blocked = await admin.delete(apps_path(tenant, f"/{app['id']}"))
    assert blocked.status_code == 409
    assert blocked.json()["reason"] == "APP_IN_USE"
    assert blocked.json()["blockers"] == [f"client:{app['client_id']}"]
    assert (
        await admin.delete(f"/api/v1/tenants/{tenant}/clients/{app['client_id']}")
    ).status_code == 204
    assert (await admin.delete(apps_path(tenant, f"/{app['id']}"))).status_code == 204
    gone = await admin.get(apps_path(tenant, f"/{app['id']}"))
    assert gone.status_code == 404
    assert gone.json()["reason"] == "APP_NOT_FOUND"


async def test_system_apps_can_never_be_deleted(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.delete(apps_path(world["tenant"]["slug"], "/tessera"))
    assert response.status_code == 409
    assert response.json()["reason"] == "SYSTEM_APP"


# -- concurrency, listing -------------------------------------------------------------------


async def test_updates_with_a_stale_if_match_get_412(admin: Api, world: dict[str, Any]) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    path = apps_path(tenant, f"/{app['id']}")
    read = await admin.get(path)
    assert read.headers["etag"] == '"1"'
    first = await admin.patch(path, {"description": "first"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = await admin.patch(path, {"description": "second"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["reason"] == "VERSION_MISMATCH"
    assert (await admin.get(path)).json()["description"] == "first"


async def test_lists_paginate_filter_and_sort(admin: Api, world: dict[str, Any]) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    for slug in ("alpha-app", "beta-app", "gamma-app"):
        await admin.app(tenant, region, slug=slug, display_name=slug.title())
    await admin.patch(apps_path(tenant, "/beta-app"), {"enabled": False})
    first = (
        await admin.get(apps_path(tenant), params={"page_size": 2, "order_by": "-slug"})
    ).json()
    assert [a["slug"] for a in first["items"]] == ["tessera", "gamma-app"]
    assert first["total"] == 4
    second = (
        await admin.get(
            apps_path(tenant),
            params={"page_size": 2, "order_by": "-slug", "page_token": first["next_page_token"]},
        )
    ).json()
    assert [a["slug"] for a in second["items"]] == ["beta-app", "alpha-app"]
    assert second["next_page_token"] is None
    disabled = (await admin.get(apps_path(tenant), params={"enabled": "false"})).json()
    assert [a["slug"] for a in disabled["items"]] == ["beta-app"]
    search = (await admin.get(apps_path(tenant), params={"q": "gam"})).json()
    assert [a["slug"] for a in search["items"]] == ["gamma-app"]
    bad = await admin.get(apps_path(tenant), params={"order_by": "secret"})
    assert bad.status_code == 400
    assert bad.json()["reason"] == "ORDER_BY_INVALID"


# -- client secrets -------------------------------------------------------------------------


async def test_regenerated_secret_replaces_the_old_one_immediately(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    fresh = (
        await admin.post(f"/api/v1/tenants/{tenant}/clients/{app['client_id']}/secret", {})
    ).json()
    assert fresh["client_secret"] != app["client_secret"]
    assert (
        await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    ).status_code == 401
    assert (
        await client_credentials(admin.http, tenant, app["client_id"], fresh["client_secret"])
    ).status_code == 200


async def test_a_grace_period_keeps_the_old_secret_working_for_a_bounded_time(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    path = f"/api/v1/tenants/{tenant}/clients/{app['client_id']}/secret"
    fresh = (await admin.post(path, {"grace_period_seconds": 3600})).json()
    assert "previous_secret_expires_at" in fresh
    assert (
        await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    ).status_code == 200
    assert (
        await client_credentials(admin.http, tenant, app["client_id"], fresh["client_secret"])
    ).status_code == 200
    too_long = await admin.post(path, {"grace_period_seconds": 8 * 24 * 3600})
    assert too_long.status_code == 400
    assert too_long.json()["reason"] == "GRACE_PERIOD_INVALID"


# -- authorization and audit ----------------------------------------------------------------


async def test_a_tenant_admin_manages_its_own_tenant_only(
    admin: Api, world: dict[str, Any]
) -> None:
    mine = await admin.tenant()
    other = world["tenant"]["slug"]
    region = world["region"]["code"]
    own = await tenant_admin(admin.http, mine)
    created = await own.post(
        apps_path(mine["slug"]),
        {"slug": unique("app"), "display_name": unique("A"), "region": region},
    )
    assert created.status_code == 201, created.text
    victim = await admin.app(other, region)
    cross_tenant = [
        own.get(apps_path(other)),
        own.get(apps_path(other, f"/{victim['id']}")),
        own.post(
            apps_path(other), {"slug": unique("app"), "display_name": unique("A"), "region": region}
        ),
        own.patch(apps_path(other, f"/{victim['id']}"), {"description": "x"}),
        own.delete(apps_path(other, f"/{victim['id']}")),
        own.post(
            apps_path(other, f"/{victim['id']}/clone"),
            {"slug": unique("c"), "display_name": unique("C")},
        ),
        own.post(f"/api/v1/tenants/{other}/clients/{victim['client_id']}/secret", {}),
        own.delete(f"/api/v1/tenants/{other}/clients/{victim['client_id']}"),
        own.get(f"/api/v1/tenants/{other}/audit-events"),
    ]
    for request in cross_tenant:
        response = await request
        assert response.status_code == 403, response.request.url
        assert response.json()["reason"] == "TENANT_FORBIDDEN"
    operator_only = [
        own.get("/api/v1/tenants"),
        own.get(f"/api/v1/tenants/{other}"),
        own.post("/api/v1/tenants", {"slug": unique("tn"), "display_name": "X"}),
        own.patch(f"/api/v1/tenants/{mine['slug']}", {"app_limit": 1000}),
        own.post("/api/v1/regions", {"code": unique("rg"), "name": "R"}),
        own.patch(f"/api/v1/regions/{region}", {"active": False}),
        own.post("/api/v1/plans", {"code": unique("pl"), "name": "P"}),
    ]
    for request in operator_only:
        response = await request
        assert response.status_code == 403, response.request.url
        assert response.json()["reason"] == "OPERATOR_ONLY"
    assert (await own.get(f"/api/v1/tenants/{mine['slug']}")).status_code == 200
    assert (await own.get("/api/v1/regions")).status_code == 200


async def test_every_admin_write_is_in_the_audit_log_with_its_actor(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    own = await tenant_admin(admin.http, world["tenant"])
    app = await own.app(tenant, world["region"]["code"])
    await own.patch(apps_path(tenant, f"/{app['id']}"), {"description": "changed"})
    await own.post(f"/api/v1/tenants/{tenant}/clients/{app['client_id']}/secret", {})
    events = (await own.get(f"/api/v1/tenants/{tenant}/audit-events")).json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:3] == ["client.secret.regenerate", "app.update", "app.create"]
    assert actions[-1] == "tenant.create"
    admin_client = world["tenant"]["admin_client"]["client_id"]
    for event in events[:3]:
        assert event["actor_type"] == "client"
        assert event["actor_id"] == f"{tenant}/{admin_client}"
        assert event["occurred_at"]
    assert events[-1]["actor_id"] == "control-plane/tessera-admin"
    assert events[1]["details"] == {"fields": ["description"]}
