"""Regressions for attacks a review reproduced against the admin API and token path."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.integration.conftest import Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def _token_of_app_declaring_admin_permission_names(
    admin: Api, world: dict[str, Any]
) -> tuple[str, str]:
    """An ordinary app whose own catalog happens to use the system app's permission names."""
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    shop = await admin.app(tenant, world["region"]["code"])
    ok(
        await admin.post(
            f"{base}/permissions/register",
            {
                "service": shop["slug"],
                "permissions": [
                    {"code": "user:write"},
                    {"code": "client:write"},
                    {"code": "role:write"},
                ],
            },
        )
    )
    role = unique("shop-staff")
    ok(await admin.post(f"{base}/roles", {"code": role, "name": "Staff", "app": shop["slug"]}))
    ok(
        await admin.put(
            f"{base}/roles/{role}/permissions",
            {
                "permissions": [
                    {"service": shop["slug"], "code": c}
                    for c in ("user:write", "client:write", "role:write")
                ]
            },
        )
    )
    ok(await admin.patch(f"{base}/clients/{shop['client_id']}", {"roles": [role]}))
    token = ok(
        await client_credentials(admin.http, tenant, shop["client_id"], shop["client_secret"])
    )
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert "client:write" in claims["permissions"]
    return tenant, token["access_token"]


async def test_an_apps_own_permission_named_like_an_admin_permission_administers_nothing(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, token = await _token_of_app_declaring_admin_permission_names(admin, world)
    shop_api = Api(admin.http, token)
    takeover = await shop_api.post(
        f"/api/v1/tenants/{tenant}/clients",
        {"display_name": "Backdoor", "apps": ["tessera"], "roles": ["tenant-admin"]},
    )
    assert takeover.status_code == 403
    assert takeover.json()["reason"] == "PERMISSION_MISSING"
    user = await shop_api.post(
        f"/api/v1/tenants/{tenant}/users", {"email": f"{unique('x')}@example.com"}
    )
    assert user.status_code == 403


async def test_apps_cannot_consume_the_platform_catalogs(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.post(
        f"/api/v1/tenants/{world['tenant']['slug']}/apps",
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "service_codes": ["tessera", "core"],
        },
    )
    assert response.status_code == 400
    assert {(e["field"], e["reason"]) for e in response.json()["errors"]} >= {
        ("service_codes[0]", "SERVICE_RESERVED"),
        ("service_codes[1]", "SERVICE_RESERVED"),
    }


async def test_a_resource_server_cannot_take_a_platform_audience_or_another_apps_slug(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    shop = await admin.app(tenant, world["region"]["code"])
    billing = await admin.app(tenant, world["region"]["code"])
    reserved = await admin.post(
        f"/api/v1/tenants/{tenant}/resource-servers",
        {"app": shop["slug"], "audience": "tessera", "name": "X"},
    )
    assert reserved.status_code == 400
    other = await admin.post(
        f"/api/v1/tenants/{tenant}/resource-servers",
        {"app": shop["slug"], "audience": billing["slug"], "name": "X"},
    )
    assert other.status_code == 409
    assert other.json()["reason"] == "AUDIENCE_IS_ANOTHER_APP"
    own = await admin.post(
        f"/api/v1/tenants/{tenant}/resource-servers",
        {"app": shop["slug"], "audience": shop["slug"], "name": "Own"},
    )
    assert own.status_code == 201, own.text


async def test_tenant_details_need_an_admin_permission_even_for_the_own_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    token = ok(await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"]))
    plain = Api(admin.http, token["access_token"])
    assert (await plain.get(f"/api/v1/tenants/{tenant}")).status_code == 403
    own_admin = await tenant_admin(admin.http, world["tenant"])
    assert (await own_admin.get(f"/api/v1/tenants/{tenant}")).status_code == 200


async def test_admin_tokens_of_deleted_or_disabled_clients_stop_working_at_once(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    owner = await tenant_admin(admin.http, world["tenant"])
    for action in ("delete", "disable"):
        second = ok(
            await owner.post(
                f"{base}/clients",
                {
                    "display_name": unique("Second admin"),
                    "apps": ["tessera"],
                    "roles": ["tenant-admin"],
                },
            )
        )
        token = ok(
            await client_credentials(
                admin.http, tenant, second["client_id"], second["client_secret"]
            )
        )
        second_api = Api(admin.http, token["access_token"])
        assert (await second_api.get(f"{base}/apps")).status_code == 200
        if action == "delete":
            assert (await owner.delete(f"{base}/clients/{second['client_id']}")).status_code == 204
        else:
            ok(await owner.patch(f"{base}/clients/{second['client_id']}", {"enabled": False}))
        refused = await second_api.get(f"{base}/apps")
        assert refused.status_code == 401, action
        assert refused.json()["reason"] == "TOKEN_REVOKED"


async def test_a_holder_of_user_write_alone_cannot_hand_out_admin_roles(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    helpdesk_role = unique("helpdesk")
    ok(await admin.post(f"{base}/roles", {"code": helpdesk_role, "name": "Helpdesk"}))
    ok(
        await admin.put(
            f"{base}/roles/{helpdesk_role}/permissions",
            {
                "permissions": [
                    {"service": "tessera", "code": "user:write"},
                    {"service": "tessera", "code": "user:read"},
                ]
            },
        )
    )
    helpdesk = ok(
        await admin.post(
            f"{base}/clients",
            {"display_name": "Helpdesk", "apps": ["tessera"], "roles": [helpdesk_role]},
        )
    )
    token = ok(
        await client_credentials(
            admin.http, tenant, helpdesk["client_id"], helpdesk["client_secret"]
        )
    )
    desk = Api(admin.http, token["access_token"])
    user = ok(await desk.post(f"{base}/users", {"email": f"{unique('u')}@example.com"}))

    direct = await desk.put(f"{base}/users/{user['id']}/roles/tenant-admin", None)
    assert direct.status_code == 403
    assert direct.json()["reason"] == "PERMISSION_MISSING"  # role:write
    group = unique("admins")
    ok(await admin.post(f"{base}/groups", {"code": group, "name": "Admins", "bound_to": ["*"]}))
    ok(await admin.put(f"{base}/groups/{group}/roles", {"roles": ["tenant-admin"]}))
    joined = await desk.put(f"{base}/groups/{group}/members/{user['id']}", None)
    assert joined.status_code == 403
    assert joined.json()["reason"] == "ESCALATION"


async def test_a_role_writer_cannot_grant_admin_permissions_it_lacks(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    writer_role = unique("role-writer")
    ok(await admin.post(f"{base}/roles", {"code": writer_role, "name": "Role writer"}))
    ok(
        await admin.put(
            f"{base}/roles/{writer_role}/permissions",
            {
                "permissions": [
                    {"service": "tessera", "code": c}
                    for c in ("role:write", "role:read", "client:write", "user:write")
                ]
            },
        )
    )
    writer = ok(
        await admin.post(
            f"{base}/clients",
            {"display_name": "Writer", "apps": ["tessera"], "roles": [writer_role]},
        )
    )
    token = ok(
        await client_credentials(admin.http, tenant, writer["client_id"], writer["client_secret"])
    )
    api = Api(admin.http, token["access_token"])
    escalate = await api.put(
        f"{base}/roles/{writer_role}/permissions",
        {
            "permissions": [
                {"service": "tessera", "code": c}
                for c in ("role:write", "role:read", "client:write", "user:write", "app:write")
            ]
        },
    )
    assert escalate.status_code == 403
    assert escalate.json()["reason"] == "ESCALATION"
    backdoor = await api.post(
        f"{base}/clients", {"display_name": "B", "apps": ["tessera"], "roles": ["tenant-admin"]}
    )
    assert backdoor.status_code == 403
    assert backdoor.json()["reason"] == "ESCALATION"
    delegated = unique("reader")
    ok(await api.post(f"{base}/roles", {"code": delegated, "name": "Reader"}))
    allowed = await api.put(
        f"{base}/roles/{delegated}/permissions",
        {"permissions": [{"service": "tessera", "code": "role:read"}]},
    )
    assert allowed.status_code == 200, allowed.text


async def test_only_operators_assign_plans(admin: Api, world: dict[str, Any]) -> None:
    tenant = world["tenant"]["slug"]
    plan = await admin.plan({"monthly-document-units": 10_000_000})
    own = await tenant_admin(admin.http, world["tenant"])
    app = await own.app(tenant, world["region"]["code"])
    upgrade = await own.patch(f"/api/v1/tenants/{tenant}/apps/{app['id']}", {"plan": plan["code"]})
    assert upgrade.status_code == 403
    assert upgrade.json()["reason"] == "OPERATOR_ONLY"
    create = await own.post(
        f"/api/v1/tenants/{tenant}/apps",
        {
            "slug": unique("app"),
            "display_name": unique("A"),
            "region": world["region"]["code"],
            "plan": plan["code"],
        },
    )
    assert create.status_code == 403
    assert ok(
        await admin.patch(f"/api/v1/tenants/{tenant}/apps/{app['id']}", {"plan": plan["code"]})
    )["plan_id"]


async def test_clone_copies_only_live_catalog_entries_with_descriptions(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    source = await admin.app(tenant, world["region"]["code"])
    register = f"{base}/permissions/register"
    ok(
        await admin.post(
            register,
            {
                "service": source["slug"],
                "permissions": [
                    {"code": "orders:read", "description": "See orders"},
                    {"code": "orders:purge"},
                ],
            },
        )
    )
    role = unique("purger")
    ok(await admin.post(f"{base}/roles", {"code": role, "name": "Purger"}))
    ok(
        await admin.put(
            f"{base}/roles/{role}/permissions",
            {"permissions": [{"service": source["slug"], "code": "orders:purge"}]},
        )
    )
    # orders:purge is still granted, so this deprecates it instead of pruning it.
    ok(
        await admin.post(
            register,
            {
                "service": source["slug"],
                "permissions": [{"code": "orders:read", "description": "See orders"}],
            },
        )
    )
    clone = ok(
        await admin.post(
            f"{base}/apps/{source['slug']}/clone",
            {"slug": unique("copy"), "display_name": unique("Copy")},
        )
    )
    copied = ok(
        await admin.get(
            f"{base}/permissions", params={"service": clone["slug"], "include_deprecated": "true"}
        )
    )
    assert [(p["code"], p["description"]) for p in copied["items"]] == [
        ("orders:read", "See orders")
    ]
    events = ok(await admin.get(f"{base}/audit-events", params={"target_id": clone["id"]}))["items"]
    by_action = {e["action"]: e for e in events}
    assert set(by_action) == {"app.clone", "app.create"}
    assert by_action["app.clone"]["details"] == {"source": source["slug"], "catalog_entries": 1}


async def test_a_prune_racing_a_grant_of_the_same_entry_ends_consistent_never_500(
    admin: Api, world: dict[str, Any]
) -> None:
    import asyncio

    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"

    async def one_race() -> None:
        service = unique("svc")
        ok(
            await admin.post(
                f"{base}/permissions/register",
                {
                    "service": service,
                    "permissions": [{"code": "keep:read"}, {"code": "purge:write"}],
                },
            )
        )
        role = unique("racer")
        ok(await admin.post(f"{base}/roles", {"code": role, "name": "Racer"}))
        prune, grant = await asyncio.gather(
            admin.post(
                f"{base}/permissions/register",
                {"service": service, "permissions": [{"code": "keep:read"}]},
            ),
            admin.put(
                f"{base}/roles/{role}/permissions",
                {"permissions": [{"service": service, "code": "purge:write"}]},
            ),
        )
        assert prune.status_code == 200, prune.text
        report = prune.json()
        if grant.status_code == 200:
            # The grant won: the prune must have seen it and kept the entry, deprecated.
            assert [b["code"] for b in report["blocked"]] == ["purge:write"]
            assert report["pruned"] == []
        else:
            # The prune won: the grant finds no such entry (a clear 400, not a 500).
            assert grant.status_code == 400, grant.text
            assert report["pruned"] == ["purge:write"]
            assert grant.json()["errors"][0]["reason"] == "PERMISSION_NOT_FOUND"

    await asyncio.gather(*(one_race() for _ in range(10)))


async def test_registry_replicas_bootstrapping_together_seed_once_and_audit_the_secret(
    platform: Any, admin: Api
) -> None:
    import asyncio

    registry = platform.components["registry"]
    client_id = unique("second-admin")
    results = await asyncio.gather(
        *(registry.features.tenants.bootstrap(client_id, "tsk_" + "s" * 43) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    events = ok(
        await admin.get(
            "/api/v1/tenants/control-plane/audit-events", params={"target_id": client_id}
        )
    )
    assert [(e["action"], e["actor_id"]) for e in events["items"]] == [
        ("client.secret.configure", "control-plane/service:registry")
    ]


async def test_bootstrap_without_a_configured_secret_seeds_the_platform_but_no_admin_client(
    platform: Any, admin: Api
) -> None:
    registry = platform.components["registry"]
    client_id = unique("unconfigured-admin")
    assert await registry.features.tenants.bootstrap(client_id, None) is False
    missing = await admin.get(f"/api/v1/tenants/control-plane/clients/{client_id}")
    assert missing.status_code == 404
    assert (await admin.get("/api/v1/tenants/control-plane")).status_code == 200
