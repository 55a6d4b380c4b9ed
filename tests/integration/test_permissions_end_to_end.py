"""Issue 4 end to end through the REST API only: a service registers its catalog, an admin
builds roles and groups, grants a membership, and the token service's resolution and the
client's machine tokens carry exactly what was configured (Vendidit seed §5 and §6)."""

from __future__ import annotations

from typing import Any

import grpc
import jwt
import pytest

from services.common.grpc_errors import remote_error
from services.platform import Platform
from tests.integration.conftest import Api, client_credentials, tenant_admin, unique
from tests.integration.test_resolution import resolve

pytestmark = pytest.mark.integration


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_catalog_roles_groups_and_membership_resolve_to_exact_permissions(
    platform: Platform, admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    own = await tenant_admin(admin.http, world["tenant"])
    app = await own.app(tenant, world["region"]["code"], service_codes=["marketplace", "billing"])
    ok(
        await own.post(
            f"{base}/permissions/register",
            {
                "service": "marketplace",
                "permissions": [
                    {"code": "listings:create", "name": "Create listing"},
                    {"code": "bids:place", "name": "Place bid"},
                ],
            },
        )
    )
    ok(
        await own.post(
            f"{base}/permissions/register",
            {
                "service": "billing",
                "permissions": [{"code": "invoice:read", "name": "Read invoices"}],
            },
        )
    )
    ok(
        await own.post(
            f"{base}/permissions/register",
            {
                "service": "shipping",
                "permissions": [{"code": "parcel:send", "name": "Send parcels"}],
            },
        )
    )

    seller = unique("seller")
    ok(await own.post(f"{base}/roles", {"code": seller, "name": "Seller", "app": app["slug"]}))
    ok(
        await own.put(
            f"{base}/roles/{seller}/permissions",
            {"permissions": [{"service": "marketplace", "code": "listings:create"}]},
        )
    )
    buyer = unique("buyer")
    ok(await own.post(f"{base}/roles", {"code": buyer, "name": "Buyer"}))
    ok(
        await own.put(
            f"{base}/roles/{buyer}/permissions",
            {
                "permissions": [
                    {"service": "marketplace", "code": "bids:place"},
                    {"service": "billing", "code": "invoice:read"},
                    {"service": "shipping", "code": "parcel:send"},
                ]
            },
        )
    )

    user = ok(
        await own.post(
            f"{base}/users", {"email": f"{unique('ada')}@example.com", "first_name": "Ada"}
        )
    )
    ok(await own.put(f"{base}/users/{user['id']}/roles/{seller}", None))
    group = unique("buyers")
    ok(await own.post(f"{base}/groups", {"code": group, "name": "Buyers", "bound_to": ["*"]}))
    ok(await own.put(f"{base}/groups/{group}/roles", {"roles": [buyer]}))
    ok(await own.put(f"{base}/groups/{group}/members/{user['id']}", None))
    ok(await own.post(f"{base}/users/{user['id']}/apps/{app['slug']}"))

    grant = await resolve(platform, tenant, app["slug"], user["id"])
    assert sorted(grant.app.roles) == sorted([seller, buyer])
    # shipping is not one of the app's service codes, so parcel:send stays out.
    assert list(grant.app.permissions) == sorted(
        ["bids:place", "invoice:read", "listings:create", "users:read_self", "users:update_self"]
    )

    ok(await own.delete(f"{base}/users/{user['id']}/apps/{app['slug']}"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolve(platform, tenant, app["slug"], user["id"])
    assert remote_error(caught.value).reason == "NOT_A_MEMBER"


async def test_scopes_and_resource_indicators_shape_machine_tokens(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    app = await admin.app(tenant, world["region"]["code"])
    other = await admin.app(tenant, world["region"]["code"])
    scope = unique("invite") + ":write"
    ok(await admin.post(f"{base}/scopes", {"name": scope, "app": app["slug"]}))
    outside = await admin.post(
        f"{base}/clients", {"display_name": "X", "apps": [other["slug"]], "scopes": [scope]}
    )
    assert outside.status_code == 400
    assert {(e["field"], e["reason"]) for e in outside.json()["errors"]} == {
        ("scopes[0]", "SCOPE_OUTSIDE_APPS")
    }

    ok(await admin.patch(f"{base}/clients/{app['client_id']}", {"scopes": [scope]}))
    audience = f"https://{unique('api')}.example.com"
    ok(
        await admin.post(
            f"{base}/resource-servers", {"app": app["slug"], "audience": audience, "name": "API"}
        )
    )

    granted = await client_credentials(
        admin.http, tenant, app["client_id"], app["client_secret"], scope=scope, resource=audience
    )
    claims = jwt.decode(ok(granted)["access_token"], options={"verify_signature": False})
    assert claims["scope"] == scope
    assert claims["aud"] == audience
    assert granted.json()["scope"] == scope

    unknown_target = await client_credentials(
        admin.http,
        tenant,
        app["client_id"],
        app["client_secret"],
        resource="https://elsewhere.example.com",
    )
    assert unknown_target.status_code == 400
    assert unknown_target.json()["error"] == "invalid_target"
    not_allowed = await client_credentials(
        admin.http, tenant, other["client_id"], other["client_secret"], scope=scope
    )
    assert not_allowed.status_code == 400
    assert not_allowed.json()["error"] == "invalid_scope"


async def test_app_bound_roles_can_only_go_to_clients_of_that_app(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    app = await admin.app(tenant, world["region"]["code"])
    role = unique("bound")
    ok(await admin.post(f"{base}/roles", {"code": role, "name": "Bound", "app": app["slug"]}))
    refused = await admin.post(
        f"{base}/clients", {"display_name": "X", "apps": ["tessera"], "roles": [role]}
    )
    assert {(e["field"], e["reason"]) for e in refused.json()["errors"]} == {
        ("roles[0]", "ROLE_OUTSIDE_APPS")
    }
    accepted = await admin.post(
        f"{base}/clients", {"display_name": "Y", "apps": [app["slug"]], "roles": [role]}
    )
    assert accepted.status_code == 201, accepted.text


async def test_a_forced_prune_never_widens_a_resource_server_to_the_whole_catalog(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}"
    app = await admin.app(tenant, world["region"]["code"])
    register = f"{base}/permissions/register"
    ok(
        await admin.post(
            register,
            {
                "service": app["slug"],
                "permissions": [{"code": "orders:read"}, {"code": "orders:write"}],
            },
        )
    )
    whole = ok(
        await admin.post(
            f"{base}/resource-servers",
            {"app": app["slug"], "audience": unique("whole-api"), "name": "Whole"},
        )
    )
    narrow = ok(
        await admin.post(
            f"{base}/resource-servers",
            {
                "app": app["slug"],
                "audience": unique("narrow-api"),
                "name": "Narrow",
                "permissions": ["orders:write"],
            },
        )
    )
    assert (whole["whole_catalog"], narrow["whole_catalog"]) == (True, False)

    blocked = ok(
        await admin.post(
            register, {"service": app["slug"], "permissions": [{"code": "orders:read"}]}
        )
    )
    assert [b["code"] for b in blocked["blocked"]] == ["orders:write"]
    forced = ok(
        await admin.post(
            register,
            {"service": app["slug"], "permissions": [{"code": "orders:read"}], "force": True},
        )
    )
    assert [p["code"] for p in forced["pruned_with_grants"]] == ["orders:write"]

    after = ok(await admin.get(f"{base}/resource-servers/{narrow['id']}"))
    assert after["permissions"] == []
    assert after["whole_catalog"] is False
    assert ok(await admin.get(f"{base}/resource-servers/{whole['id']}"))["whole_catalog"] is True
