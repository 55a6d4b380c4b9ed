"""Issue 2 vertical slice: admin creates tenant, region, app; the app gets a verifiable token."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.conftest import PUBLIC_URL, Api, client_credentials, unique

pytestmark = pytest.mark.integration


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


async def _verify_with_jwks_only(
    http: httpx.AsyncClient, tenant: str, token: str
) -> dict[str, Any]:
    """What any resource server can do: fetch the published JWKS and verify with PyJWT."""
    jwks = (await http.get(f"/t/{tenant}/.well-known/jwks.json")).json()
    kid = _header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return dict(
        jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            issuer=f"{PUBLIC_URL}/t/{tenant}",
            options={"verify_aud": False},
        )
    )


async def test_created_app_gets_es256_at_jwt_verifiable_with_published_jwks(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]
    app = await admin.app(tenant, region["code"])
    assert app["client_secret"].startswith("tsk_")

    response = await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    header = _header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    claims = await _verify_with_jwks_only(admin.http, tenant, body["access_token"])
    assert claims["sub"] == app["client_id"]
    assert claims["client_id"] == app["client_id"]
    # Issuer-qualified: another tenant's app with the same slug has another audience.
    assert claims["aud"] == f"{PUBLIC_URL}/t/{tenant}/apps/{app['slug']}"
    assert claims["tenant"] == tenant
    assert claims["app_id"] == app["id"]
    assert claims["app_code"] == app["slug"]
    assert claims["region"] == region["code"]
    assert claims["db_code"] == region["databases"][0]["db_code"]
    assert claims["exp"] - claims["iat"] == 900
    assert "entitlements" not in claims  # no plan → no entitlements claim (TrueParser seed)


async def test_client_secret_post_form_authentication_works(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    response = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    claims = await _verify_with_jwks_only(admin.http, tenant, response.json()["access_token"])
    assert claims["client_id"] == app["client_id"]


async def test_wrong_secret_unknown_client_and_unknown_tenant_look_identical(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    attempts = [
        await client_credentials(admin.http, tenant, app["client_id"], "tsk_wrong"),
        await client_credentials(admin.http, tenant, "tc_doesnotexist", app["client_secret"]),
        await client_credentials(
            admin.http, "no-such-tenant", app["client_id"], app["client_secret"]
        ),
        await client_credentials(
            admin.http, "control-plane", app["client_id"], app["client_secret"]
        ),
        await client_credentials(admin.http, "Not_A_Slug", app["client_id"], app["client_secret"]),
    ]
    for response in attempts:
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_client",
            "error_description": "Client authentication failed.",
        }
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_token_endpoint_rejects_malformed_requests_with_rfc6749_bodies(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    unsupported = await client_credentials(
        admin.http, tenant, app["client_id"], app["client_secret"], grant_type="urn:example:nope"
    )
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"

    both = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        auth=(app["client_id"], app["client_secret"]),
        data={"grant_type": "client_credentials", "client_secret": app["client_secret"]},
    )
    assert both.status_code == 400
    assert both.json()["error"] == "invalid_request"

    repeated = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        auth=(app["client_id"], app["client_secret"]),
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"] == "invalid_request"

    oversized = await admin.http.post(
        f"/t/{tenant}/oauth2/token",
        auth=(app["client_id"], app["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "x" * 20_000},
    )
    assert oversized.status_code == 413
    assert oversized.json()["error"] == "invalid_request"

    json_body = await admin.http.post(
        f"/t/{tenant}/oauth2/token", json={"grant_type": "client_credentials"}
    )
    assert json_body.status_code == 400
    assert json_body.json()["error"] == "invalid_request"

    scope = await client_credentials(
        admin.http, tenant, app["client_id"], app["client_secret"], scope="admin"
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"


async def test_discovery_document_names_the_tenant_issuer_and_endpoints(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    document = (await admin.http.get(f"/t/{tenant}/.well-known/openid-configuration")).json()
    issuer = f"{PUBLIC_URL}/t/{tenant}"
    assert document["issuer"] == issuer
    assert document["token_endpoint"] == f"{issuer}/oauth2/token"
    assert document["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert "client_credentials" in document["grant_types_supported"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


async def test_each_tenant_signs_with_its_own_key(admin: Api, world: dict[str, Any]) -> None:
    first = world["tenant"]["slug"]
    second = (await admin.tenant())["slug"]
    kids = []
    for tenant in (first, second):
        app = await admin.app(tenant, world["region"]["code"])
        token = (
            await client_credentials(admin.http, tenant, app["client_id"], app["client_secret"])
        ).json()
        keys = (await admin.http.get(f"/t/{tenant}/.well-known/jwks.json")).json()["keys"]
        assert [k["kid"] for k in keys] == [_header(token["access_token"])["kid"]]
        assert all(k["alg"] == "ES256" and "d" not in k for k in keys)
        kids.append(keys[0]["kid"])
    assert kids[0] != kids[1]


async def test_asking_for_jwks_or_presenting_forged_issuers_never_creates_keys(
    admin: Api, platform: Any
) -> None:
    from sqlalchemy import create_engine, func, select

    from services.token.storage.tables import signing_keys

    ghost = unique("ghost")
    for path in (".well-known/jwks.json", ".well-known/openid-configuration"):
        unknown = await admin.http.get(f"/t/{ghost}/{path}")
        assert unknown.status_code == 404
        assert unknown.json()["reason"] == "TENANT_NOT_FOUND"
        assert unknown.headers["cache-control"] == "no-store"
        assert (await admin.http.get(f"/t/{'x' * 200}/{path}")).status_code == 404
    forged = jwt.encode(
        {"iss": f"{PUBLIC_URL}/t/{ghost}", "sub": "x", "jti": "j", "iat": 1, "exp": 9999999999},
        "k" * 32,
        algorithm="HS256",
        headers={"typ": "at+jwt", "kid": "k"},
    )
    assert (
        await admin.http.get("/api/v1/tenants", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    engine = create_engine(platform.settings.database_url).execution_options(
        schema_translate_map={None: f"{platform.settings.db_schema_prefix}token"}
    )
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(signing_keys).where(signing_keys.c.tenant == ghost)
        ).scalar_one()
    engine.dispose()
    assert count == 0


async def test_admin_api_without_token_is_401_problem_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reason"] == "BEARER_MISSING"
    assert body["status"] == 401
    assert "Authorization: Bearer" in body["detail"]


async def test_forged_token_signed_with_hs256_is_refused(http: httpx.AsyncClient) -> None:
    forged = jwt.encode(
        {"iss": f"{PUBLIC_URL}/t/control-plane", "sub": "x", "permissions": ["tenant:write"]},
        "secret-key-of-at-least-32-bytes-long!",
        algorithm="HS256",
        headers={"typ": "at+jwt", "kid": "k"},
    )
    response = await http.get("/api/v1/tenants", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["reason"] == "TOKEN_ALGORITHM_NOT_ALLOWED"


async def test_validation_errors_list_every_bad_field(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.post(
        f"/api/v1/tenants/{world['tenant']['slug']}/apps",
        {
            "slug": "Bad_Slug",
            "display_name": "",
            "region": world["region"]["code"],
            "allowed_domains": ["*.example.com"],
        },
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reason"] == "VALIDATION_FAILED"
    fields = {(e["field"], e["reason"]) for e in body["errors"]}
    assert ("slug", "SLUG_INVALID") in fields
    assert ("display_name", "DISPLAY_NAME_EMPTY") in fields
    assert ("allowed_domains[0]", "ALLOWED_DOMAIN_WILDCARD") in fields


async def test_shape_errors_are_problem_json_too(admin: Api, world: dict[str, Any]) -> None:
    response = await admin.post(
        f"/api/v1/tenants/{world['tenant']['slug']}/apps", {"slug": 3, "surprise": True}
    )
    assert response.status_code == 400
    body = response.json()
    fields = {e["field"] for e in body["errors"]}
    assert {"display_name", "region", "surprise"} <= fields


async def test_a_new_tenants_jwks_already_holds_the_key_its_first_token_is_signed_with(
    admin: Api,
) -> None:
    """A relying party that fetches (and caches) the JWKS before the first token is minted
    must be able to verify that token."""
    tenant = await admin.tenant()
    early = await admin.http.get(f"/t/{tenant['slug']}/.well-known/jwks.json")
    assert early.status_code == 200
    kids = {key["kid"] for key in early.json()["keys"]}
    assert kids
    discovery = await admin.http.get(f"/t/{tenant['slug']}/.well-known/openid-configuration")
    assert discovery.json()["issuer"] == f"{PUBLIC_URL}/t/{tenant['slug']}"
    credentials = tenant["admin_client"]
    token = await client_credentials(
        admin.http, tenant["slug"], credentials["client_id"], credentials["client_secret"]
    )
    assert _header(token.json()["access_token"])["kid"] in kids
