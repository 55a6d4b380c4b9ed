"""Introspection (RFC 7662) and revocation (RFC 7009) against the running gateway, driven by a
real OAuth client library: Authlib's httpx client fetches client_credentials tokens,
introspects and revokes them. Every reason a token is inactive answers exactly
``{"active": false}``; a revocation is seen by the very next introspection; revoking what the
caller may not revoke is 200 with nothing done; failed client authentication is 401
invalid_client, counted like the token endpoint's. The SDK verifier's introspection mode runs
against the same endpoint."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from fastapi import FastAPI, Request
from sqlalchemy import create_engine, select, update

from services.platform import Platform
from services.registry import schema as t
from tessera_sdk.integrations import require_token
from tessera_sdk.introspection import ClientCredentials, Introspector
from tessera_sdk.verifier import HttpJwksSource, TokenRejected, TokenVerifier, app_audience
from tests.integration.conftest import Api, unique

with warnings.catch_warnings():
    # Authlib 1.9 announces at import that it will want the httpx2 package; plain httpx is
    # what this project (and Authlib's client, through its fallback) uses.
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

pytestmark = pytest.mark.integration

INACTIVE = {"active": False}


class Endpoints:
    def __init__(self, platform: Platform, tenant: str) -> None:
        base = f"{platform.gateway_url}/t/{tenant}/oauth2"
        self.token = f"{base}/token"
        self.introspect = f"{base}/introspect"
        self.revoke = f"{base}/revoke"


class Client:
    """One OAuth client of a tenant, as Authlib drives it."""

    def __init__(self, platform: Platform, tenant: str, client_id: str, secret: str) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.secret = secret
        self.endpoints = Endpoints(platform, tenant)
        self.oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic",
            revocation_endpoint_auth_method="client_secret_basic",
            timeout=30,
        )

    async def fetch(self, **params: Any) -> str:
        token = await self.oauth.fetch_token(
            self.endpoints.token, grant_type="client_credentials", **params
        )
        assert token["token_type"] == "Bearer"
        return str(token["access_token"])

    async def introspect(self, token: str, **params: Any) -> dict[str, Any]:
        response = await self.oauth.introspect_token(
            self.endpoints.introspect, token=token, **params
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        return dict(response.json())

    async def revoke(self, token: str, **params: Any) -> httpx.Response:
        response = await self.oauth.revoke_token(self.endpoints.revoke, token=token, **params)
        assert response.status_code == 200, response.text
        assert (response.content, response.headers["cache-control"]) == (b"", "no-store")
        return response


@pytest.fixture
async def scene(
    platform: Platform, admin: Api, world: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """A tenant with app ``worker`` (its client mints tokens) and a resource server's own
    client (serving another app) that introspects them."""
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    other_app = await admin.app(tenant, world["region"]["code"])
    created = await admin.post(
        f"/api/v1/tenants/{tenant}/clients",
        {"display_name": unique("Resource server"), "apps": [other_app["slug"]]},
    )
    assert created.status_code == 201, created.text
    rs = created.json()
    worker = Client(platform, tenant, app["client_id"], app["client_secret"])
    resource_server = Client(platform, tenant, rs["client_id"], rs["client_secret"])
    yield {
        "tenant": tenant,
        "app": app,
        "worker": worker,
        "rs": resource_server,
        "platform": platform,
    }
    for client in (worker, resource_server):
        await client.oauth.aclose()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def resigned(platform: Platform, tenant: str, token: str, **changes: Any) -> str:
    """``token`` with ``changes`` to its claims, signed again with the tenant's own signing
    key: a token the platform could have minted at another moment."""
    key = await platform.components["token"].keys.signing_key(tenant)  # type: ignore[attr-defined]
    return jwt.encode(
        {**claims_of(token), **changes},
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "at+jwt"},
    )


# -- the round trip ----------------------------------------------------------------------------


async def test_authlib_fetches_introspects_and_revokes_a_token(scene: dict[str, Any]) -> None:
    worker, rs = scene["worker"], scene["rs"]
    token = await worker.fetch()
    answer = await rs.introspect(token, token_type_hint="access_token")
    assert answer == {"active": True, "token_type": "Bearer", **claims_of(token)}
    assert (answer["client_id"], answer["tenant"], answer["app_code"]) == (
        worker.client_id,
        scene["tenant"],
        scene["app"]["slug"],
    )
    assert (await worker.introspect(token))["active"] is True  # its own client may ask too
    kept = await worker.fetch()
    await worker.revoke(token, token_type_hint="access_token")
    # Seen at once, by every client that asks.
    assert await rs.introspect(token) == INACTIVE
    assert await worker.introspect(token) == INACTIVE
    assert (await rs.introspect(kept))["active"] is True
    await worker.revoke(token)  # again: nothing changes
    assert await rs.introspect(token) == INACTIVE


# -- inactive tokens ---------------------------------------------------------------------------


async def test_an_expired_token_is_inactive(scene: dict[str, Any]) -> None:
    token = await scene["worker"].fetch()
    claims = claims_of(token)
    expired = await resigned(
        scene["platform"],
        scene["tenant"],
        token,
        iat=claims["iat"] - 1000,
        nbf=claims["nbf"] - 1000,
        exp=claims["iat"] - 100,
    )
    assert await scene["rs"].introspect(expired) == INACTIVE


async def test_a_disabled_app_makes_its_tokens_inactive_until_enabled_again(
    admin: Api, scene: dict[str, Any]
) -> None:
    token = await scene["worker"].fetch()
    path = f"/api/v1/tenants/{scene['tenant']}/apps/{scene['app']['id']}"
    assert (await admin.patch(path, {"enabled": False})).status_code == 200
    assert await scene["rs"].introspect(token) == INACTIVE
    assert (await admin.patch(path, {"enabled": True})).status_code == 200
    assert (await scene["rs"].introspect(token))["active"] is True


async def test_a_disabled_or_deleted_client_makes_its_tokens_inactive(
    admin: Api, scene: dict[str, Any]
) -> None:
    worker, rs = scene["worker"], scene["rs"]
    token = await worker.fetch()
    path = f"/api/v1/tenants/{scene['tenant']}/clients/{worker.client_id}"
    assert (await admin.patch(path, {"enabled": False})).status_code == 200
    assert await rs.introspect(token) == INACTIVE
    assert (await admin.patch(path, {"enabled": True})).status_code == 200
    assert (await rs.introspect(token))["active"] is True
    assert (await admin.delete(path)).status_code == 204
    assert await rs.introspect(token) == INACTIVE


def backdate_secrets(platform: Platform, client_id: str, seconds: int) -> None:
    """Make the client's secrets ``seconds`` older in the registry (before anything cached
    them): a token can then be minted after the secret's creation and before a regeneration
    in a second of its own, without the test waiting for the clock."""
    assert platform.settings.database_url
    engine = create_engine(platform.settings.database_url).execution_options(
        schema_translate_map={None: f"{platform.settings.db_schema_prefix}registry"}
    )
    owner = select(t.clients.c.id).where(t.clients.c.client_id == client_id).scalar_subquery()
    with engine.begin() as connection:
        connection.execute(
            update(t.client_secrets)
            .where(t.client_secrets.c.client_pk == owner)
            .values(created_at=t.client_secrets.c.created_at - timedelta(seconds=seconds))
        )
    engine.dispose()


async def test_a_regenerated_secret_makes_the_tokens_minted_before_it_inactive(
    admin: Api, scene: dict[str, Any]
) -> None:
    worker, rs = scene["worker"], scene["rs"]
    backdate_secrets(scene["platform"], worker.client_id, 10)
    token = await worker.fetch()
    # Minted two seconds before the regeneration (iat counts whole seconds), eight after the
    # secret it was minted with.
    before = await resigned(
        scene["platform"], scene["tenant"], token, iat=claims_of(token)["iat"] - 2
    )
    assert (await rs.introspect(before))["active"] is True
    regenerated = await admin.post(
        f"/api/v1/tenants/{scene['tenant']}/clients/{worker.client_id}/secret", {}
    )
    assert regenerated.status_code == 200, regenerated.text
    assert await rs.introspect(before) == INACTIVE
    renewed = Client(
        scene["platform"], scene["tenant"], worker.client_id, regenerated.json()["client_secret"]
    )
    after = await renewed.fetch()
    assert (await rs.introspect(after))["active"] is True
    await renewed.oauth.aclose()


async def test_another_tenants_token_is_inactive_and_cannot_be_revoked_here(
    platform: Platform, admin: Api, scene: dict[str, Any]
) -> None:
    other = await admin.tenant()
    region = await admin.region()
    app = await admin.app(other["slug"], region["code"])
    theirs_client = Client(platform, other["slug"], app["client_id"], app["client_secret"])
    theirs = await theirs_client.fetch()
    assert await scene["rs"].introspect(theirs) == INACTIVE
    await scene["worker"].revoke(theirs)
    assert (await theirs_client.introspect(theirs))["active"] is True
    await theirs_client.oauth.aclose()


# -- what revocation does not do ---------------------------------------------------------------


async def test_revoking_an_unknown_malformed_or_another_clients_token_is_200_with_nothing_done(
    scene: dict[str, Any],
) -> None:
    worker, rs = scene["worker"], scene["rs"]
    others = await rs.fetch()
    for token in ("not-a-token", "a.b.c", others):
        await worker.revoke(token)
    await worker.revoke(others, token_type_hint="refresh_token")
    assert (await rs.introspect(others))["active"] is True
    assert await rs.introspect("not-a-token") == INACTIVE


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
async def test_a_client_that_fails_to_authenticate_is_401_invalid_client_and_counted(
    platform: Platform, scene: dict[str, Any], endpoint: str
) -> None:
    worker = scene["worker"]
    token = await worker.fetch()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as http:
        for tenant, client_id, secret in (
            (scene["tenant"], worker.client_id, "tsk_" + "x" * 43),
            (scene["tenant"], "tc_" + "a" * 26, worker.secret),
            ("no-such-tenant", worker.client_id, worker.secret),
            ("Not_A_Tenant", worker.client_id, worker.secret),
        ):
            response = await http.post(
                f"/t/{tenant}/oauth2/{endpoint}",
                data={"token": token},
                auth=(client_id, secret),
            )
            assert response.status_code == 401, (tenant, client_id, response.text)
            assert response.json() == {
                "error": "invalid_client",
                "error_description": "Client authentication failed.",
            }
            assert response.headers["www-authenticate"] == 'Basic realm="tessera"'
            assert response.headers["cache-control"] == "no-store"
            # Counted against the token endpoint's limits (RateLimit fields of that policy).
            assert response.headers["ratelimit"].startswith('"')
        missing = await http.post(
            f"/t/{scene['tenant']}/oauth2/{endpoint}",
            data={"token_type_hint": "access_token"},
            auth=(worker.client_id, worker.secret),
        )
        assert missing.status_code == 400
        assert missing.json()["error"] == "invalid_request"
        assert "token parameter is required" in missing.json()["error_description"]
        wrong_method = await http.get(f"/t/{scene['tenant']}/oauth2/{endpoint}")
        assert wrong_method.status_code == 405
    assert (await scene["rs"].introspect(token))["active"] is True


async def test_a_public_client_cannot_introspect(admin: Api, scene: dict[str, Any]) -> None:
    public = await admin.post(
        f"/api/v1/tenants/{scene['tenant']}/clients",
        {"display_name": unique("SPA"), "confidential": False, "apps": [scene["app"]["slug"]]},
    )
    assert public.status_code == 201, public.text
    token = await scene["worker"].fetch()
    async with httpx.AsyncClient(base_url=scene["platform"].gateway_url, timeout=30) as http:
        response = await http.post(
            f"/t/{scene['tenant']}/oauth2/introspect",
            data={"token": token, "client_id": public.json()["client_id"]},
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == "Bearer"


# -- the SDK's introspection mode --------------------------------------------------------------


async def test_the_sdk_verifier_in_introspection_mode_refuses_a_revoked_token_at_once(
    platform: Platform, scene: dict[str, Any]
) -> None:
    tenant, worker, rs = scene["tenant"], scene["worker"], scene["rs"]
    public_url = platform.settings.public_url
    async with httpx.AsyncClient(timeout=30) as http:
        introspector = Introspector(
            platform.gateway_url,
            http,
            {tenant: ClientCredentials(rs.client_id, rs.secret)},
            cache_seconds=0,
        )
        verifier = TokenVerifier(
            public_url,
            HttpJwksSource(platform.gateway_url, http),
            tenants=[tenant],
            audience=app_audience(public_url, tenant, scene["app"]["slug"]),
            introspection=introspector,
        )
        plain = TokenVerifier(
            public_url,
            HttpJwksSource(platform.gateway_url, http),
            tenants=[tenant],
            audience=app_audience(public_url, tenant, scene["app"]["slug"]),
        )
        token = await worker.fetch()
        assert (await verifier.verify(token)).claims["client_id"] == worker.client_id
        await worker.revoke(token)
        with pytest.raises(TokenRejected) as caught:
            await verifier.verify(token)
        assert caught.value.reason == "INACTIVE"
        # Without introspection the JWT stays valid until it expires: the trade-off.
        assert (await plain.verify(token)).claims["jti"] == claims_of(token)["jti"]
        assert introspector.calls == 2

        # The same through the FastAPI dependency: 401 invalid_token.
        app = FastAPI()
        dependency = require_token(verifier)

        @app.get("/orders")
        async def orders(request: Request) -> dict[str, str]:
            verified = await dependency(request)
            return {"sub": verified.claims["sub"]}

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rs"
        ) as resource:
            fresh = await worker.fetch()
            ok = await resource.get("/orders", headers={"Authorization": f"Bearer {fresh}"})
            assert ok.json() == {"sub": worker.client_id}
            await worker.revoke(fresh)
            refused = await resource.get("/orders", headers={"Authorization": f"Bearer {fresh}"})
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
