"""Issue 4, clients: confidential and public clients, roles, secrets at rest, isolation."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from sqlalchemy import select

from services.registry import schema as t
from tests.integration.conftest import Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration


def clients_path(tenant: str, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant}/clients{suffix}"


def claims_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(jwt.decode(response.json()["access_token"], options={"verify_signature": False}))


async def test_a_confidential_client_with_a_role_gets_that_roles_permissions_in_its_token(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    created = await admin.post(
        clients_path(tenant),
        {"display_name": "Ops robot", "apps": ["tessera"], "roles": ["tenant-admin"]},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["client_secret"].startswith("tsk_")
    assert body["apps"] == ["tessera"]
    assert body["roles"] == ["tenant-admin"]
    claims = claims_of(
        await client_credentials(admin.http, tenant, body["client_id"], body["client_secret"])
    )
    assert claims["roles"] == ["tenant-admin"]
    assert "app:write" in claims["permissions"]
    assert "tenant:write" not in claims["permissions"]
    assert "users:read_self" not in claims["permissions"]  # core permissions are for users


async def test_a_client_without_roles_gets_an_empty_permission_list(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    claims = claims_of(
        await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    )
    assert claims["roles"] == []
    assert claims["permissions"] == []


async def test_public_clients_have_no_secret_and_cannot_use_client_credentials(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(
        tenant,
        world["region"]["code"],
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=["https://app.example.com/cb"],
    )
    public = await admin.post(
        clients_path(tenant), {"display_name": "SPA", "confidential": False, "apps": [app["slug"]]}
    )
    assert public.status_code == 201, public.text
    assert "client_secret" not in public.json()
    assert public.json()["grant_types"] == ["authorization_code"]
    assert public.json()["secrets"] == []
    refused = await admin.post(
        clients_path(tenant),
        {
            "display_name": "SPA 2",
            "confidential": False,
            "apps": [app["slug"]],
            "grant_types": ["client_credentials"],
        },
    )
    assert refused.status_code == 400
    assert {(e["field"], e["reason"]) for e in refused.json()["errors"]} == {
        ("grant_types[0]", "PUBLIC_CLIENT_GRANT")
    }
    no_secret = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": public.json()["client_id"]},
    )
    # RFC 6749 §4.4.2: client_credentials needs client authentication, which a public client
    # cannot give; answered exactly like an unknown client (no oracle, §7).
    assert no_secret.status_code == 401
    assert no_secret.json()["error"] == "invalid_client"


async def test_unknown_apps_and_roles_are_reported_field_by_field(
    admin: Api, world: dict[str, Any]
) -> None:
    response = await admin.post(
        clients_path(world["tenant"]["slug"]),
        {
            "display_name": "X",
            "apps": ["tessera", "nope"],
            "roles": ["ghost"],
            "scopes": ["missing"],
        },
    )
    assert response.status_code == 400
    assert {(e["field"], e["reason"]) for e in response.json()["errors"]} == {
        ("apps[1]", "APP_NOT_FOUND"),
        ("roles[0]", "ROLE_NOT_FOUND"),
        ("scopes[0]", "SCOPE_NOT_FOUND"),
    }
    empty = await admin.post(
        clients_path(world["tenant"]["slug"]), {"display_name": "X", "apps": []}
    )
    assert {(e["field"], e["reason"]) for e in empty.json()["errors"]} == {
        ("apps", "CLIENT_APPS_REQUIRED")
    }


async def test_reads_expose_secret_metadata_never_the_secret(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    before = (await admin.get(clients_path(tenant, f"/{app['client_id']}"))).json()
    assert [s["last_used_at"] for s in before["secrets"]] == [None]
    await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
    after = await admin.get(clients_path(tenant, f"/{app['client_id']}"))
    assert after.json()["secrets"][0]["last_used_at"] is not None
    assert app["client_secret"] not in after.text
    listed = await admin.get(clients_path(tenant), params={"app": app["slug"]})
    assert [c["client_id"] for c in listed.json()["items"]] == [app["client_id"]]
    assert app["client_secret"] not in listed.text


async def test_no_plaintext_secret_is_stored_anywhere_in_the_registry(
    admin: Api, world: dict[str, Any], registry_rows: Any
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    regenerated = (await admin.post(clients_path(tenant, f"/{app['client_id']}/secret"), {})).json()
    dump = " ".join(
        str(row)
        for table in (t.clients, t.client_secrets, t.apps, t.audit_events, t.tenants)
        for row in registry_rows(select(table))
    )
    for secret in (
        app["client_secret"],
        regenerated["client_secret"],
        world["tenant"]["admin_client"]["client_secret"],
    ):
        assert secret not in dump
        assert secret.removeprefix("tsk_") not in dump
    hashes = [r[0] for r in registry_rows(select(t.client_secrets.c.secret_hash))]
    assert all(h.startswith("hmac-sha256$") for h in hashes)


async def test_updating_a_client_replaces_apps_and_disabling_it_stops_tokens(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    first = await admin.app(tenant, world["region"]["code"])
    second = await admin.app(tenant, world["region"]["code"])
    path = clients_path(tenant, f"/{first['client_id']}")
    both = await admin.patch(
        path, {"apps": [first["slug"], second["slug"]]}, headers={"If-Match": '"1"'}
    )
    assert both.status_code == 200, both.text
    assert both.json()["apps"] == sorted([first["slug"], second["slug"]])
    ambiguous = await client_credentials(
        admin.http, tenant, first["client_id"], first["client_secret"]
    )
    assert ambiguous.status_code == 400
    assert ambiguous.json()["error"] == "invalid_request"
    chosen = claims_of(
        await client_credentials(
            admin.http, tenant, first["client_id"], first["client_secret"], app=second["slug"]
        )
    )
    assert chosen["app_code"] == second["slug"]
    stale = await admin.patch(path, {"enabled": False}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    await admin.patch(path, {"enabled": False})
    disabled = await client_credentials(
        admin.http, tenant, first["client_id"], first["client_secret"], app=first["slug"]
    )
    assert disabled.status_code == 401
    assert disabled.json()["error"] == "invalid_client"


async def test_client_endpoints_refuse_other_tenants_admins(
    admin: Api, world: dict[str, Any]
) -> None:
    other = world["tenant"]["slug"]
    victim = await admin.app(other, world["region"]["code"])
    own = await tenant_admin(admin.http, await admin.tenant())
    for request in (
        own.get(clients_path(other)),
        own.get(clients_path(other, f"/{victim['client_id']}")),
        own.post(clients_path(other), {"display_name": "X", "apps": ["tessera"]}),
        own.patch(clients_path(other, f"/{victim['client_id']}"), {"enabled": False}),
    ):
        response = await request
        assert response.status_code == 403, response.request.url
        assert response.json()["reason"] == "TENANT_FORBIDDEN"


async def test_client_writes_are_audited(admin: Api, world: dict[str, Any]) -> None:
    tenant = world["tenant"]["slug"]
    created = (
        await admin.post(clients_path(tenant), {"display_name": unique("C"), "apps": ["tessera"]})
    ).json()
    await admin.patch(clients_path(tenant, f"/{created['client_id']}"), {"description": "x"})
    events = (
        await admin.get(
            f"/api/v1/tenants/{tenant}/audit-events", params={"target_id": created["client_id"]}
        )
    ).json()["items"]
    assert [e["action"] for e in events] == ["client.update", "client.create"]
    assert {e["actor_id"] for e in events} == {"control-plane/tessera-admin"}
