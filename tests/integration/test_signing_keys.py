"""Signing-key rotation end to end on PostgreSQL and Redis, through the REST API, the JWKS and
discovery documents, the SDK verifier and the ``tessera keys`` command.

A platform of its own whose token service reads the time from a clock the tests move forward
(lead times and retirement windows pass without waiting); tokens' own time claims, the
gateway and the verifiers stay on the real clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, select, text

from services.common.runtime import utc_now
from services.common.settings import CONTEXTS, Settings
from services.platform import Platform
from services.token.domain.keys import LONGEST_TOKEN_SECONDS
from services.token.storage.tables import signing_keys
from tessera_sdk.verifier import HttpJwksSource, TokenVerifier
from tests.integration.conftest import PUBLIC_URL, Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration

LEAD = 600  # TESSERA_KEY_ROTATION_LEAD_SECONDS of this platform
MAX_AGE = 120  # TESSERA_JWKS_MAX_AGE_SECONDS: also the shortest lead a rotation may ask for
MARGIN = 300  # TESSERA_KEY_RETIRE_MARGIN_SECONDS
ROOT = Path(__file__).resolve().parents[2]


class ShiftedClock:
    """The real time plus an offset the tests grow."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Keyed:
    platform: Platform
    http: httpx.AsyncClient
    operator: Api
    clock: ShiftedClock
    region: str

    @property
    def url(self) -> str:
        return self.platform.gateway_url


@pytest.fixture(scope="module")
async def keyed(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Keyed]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        public_url=PUBLIC_URL,
        data_dir=Path(tmp_path_factory.mktemp("signing-keys")),
        database_url=database_url,
        db_schema_prefix=prefix,
        redis_url=redis_url,
        http_port=0,
        registry_listen="127.0.0.1:0",
        token_listen="127.0.0.1:0",
        invites_listen="127.0.0.1:0",
        shutdown_grace_seconds=1,
        key_rotation_lead_seconds=LEAD,
        jwks_max_age_seconds=MAX_AGE,
        key_retire_margin_seconds=MARGIN,
    )
    clock = ShiftedClock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("services.token.wiring.utc_now", clock)
        running = Platform(settings)
        await running.start()
    http = httpx.AsyncClient(base_url=running.gateway_url, timeout=30)
    try:
        secret = running.runtime.keys.bootstrap_admin_secret
        assert secret
        token = await client_credentials(
            http, "control-plane", settings.bootstrap_admin_client_id, secret
        )
        operator = Api(http, token.json()["access_token"])
        yield Keyed(running, http, operator, clock, (await operator.region())["code"])
    finally:
        await http.aclose()
        await running.stop()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            for context in CONTEXTS:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{context}" CASCADE'))
        engine.dispose()


@dataclass
class Tenant:
    slug: str
    owner: Api  # its admin client
    record: dict[str, Any]
    app: dict[str, Any]

    @property
    def keys(self) -> str:
        return f"/api/v1/tenants/{self.slug}/signing-keys"


async def new_tenant(k: Keyed, *, quiet: bool = False) -> Tenant:
    """A tenant with one app. ``quiet``: its admin's token is not used yet (the operator
    makes the app), so no verifier has cached the tenant's keys."""
    record = await k.operator.tenant()
    owner = await tenant_admin(k.http, record)
    app = await (k.operator if quiet else owner).app(record["slug"], k.region)
    return Tenant(record["slug"], owner, record, app)


async def mint(k: Keyed, t: Tenant) -> str:
    response = await client_credentials(k.http, t.slug, t.app["client_id"], t.app["client_secret"])
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


class CountingSource(HttpJwksSource):
    """The SDK's HTTP JWKS source, counting its fetches."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        super().__init__(url, http)
        self.fetches = 0

    async def fetch(self, tenant: str) -> dict[str, Any]:
        self.fetches += 1
        return await super().fetch(tenant)


def sdk(k: Keyed, t: Tenant, **options: Any) -> tuple[TokenVerifier, CountingSource]:
    source = CountingSource(k.url, k.http)
    return TokenVerifier(PUBLIC_URL, source, tenants=[t.slug], **options), source


async def jwks(k: Keyed, t: Tenant) -> httpx.Response:
    response = await k.http.get(f"/t/{t.slug}/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    return response


async def published(k: Keyed, t: Tenant) -> dict[str, dict[str, Any]]:
    return {key["kid"]: key for key in (await jwks(k, t)).json()["keys"]}


async def listed(t: Tenant) -> dict[str, dict[str, Any]]:
    response = await t.owner.get(t.keys)
    assert response.status_code == 200, response.text
    return {key["kid"]: key for key in response.json()["items"]}


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


async def test_a_new_tenant_gets_its_first_key_without_anyone_asking(keyed: Keyed) -> None:
    """The registry's tenant notification (Redis) makes the key; no JWKS request or
    signature has happened yet."""
    slug = (await keyed.operator.tenant())["slug"]
    settings = keyed.platform.settings
    assert settings.database_url
    engine = create_engine(settings.database_url).execution_options(
        schema_translate_map={None: f"{settings.db_schema_prefix}token"}
    )
    try:
        rows: list[Any] = []
        for _ in range(200):  # delivery over Redis pub/sub: wait for it, at most 10 s
            with engine.connect() as connection:
                query = select(signing_keys.c.state, signing_keys.c.alg)
                rows = list(connection.execute(query.where(signing_keys.c.tenant == slug)))
            if rows:
                break
            await asyncio.sleep(0.05)
        assert [tuple(r) for r in rows] == [("current", "ES256")]
    finally:
        engine.dispose()


async def test_a_rotation_publishes_before_it_signs_and_retires_after_the_last_token(
    keyed: Keyed,
) -> None:
    t = await new_tenant(keyed)
    before = await mint(keyed, t)
    old = kid(before)
    early, early_source = sdk(keyed, t, min_refresh_seconds=0)
    assert (await early.verify(before)).claims["sub"] == t.app["client_id"]

    rotated = ok(await t.owner.post(f"{t.keys}/rotate", {}), 201)
    new = rotated["kid"]
    assert (rotated["state"], rotated["alg"]) == ("next", "ES256")
    assert at(rotated["activates_at"]) - at(rotated["created_at"]) == timedelta(seconds=LEAD)
    assert set(await published(keyed, t)) == {old, new}
    assert {k: v["state"] for k, v in (await listed(t)).items()} == {old: "current", new: "next"}
    assert kid(await mint(keyed, t)) == old  # published, not signing yet

    # A relying party that fetched the JWKS during the lead time already holds the new key.
    late, late_source = sdk(keyed, t)
    await late.verify(before)
    assert late_source.fetches == 1

    keyed.clock.advance(LEAD)
    after = await mint(keyed, t)
    assert kid(after) == new
    assert (await late.verify(after)).claims["sub"] == t.app["client_id"]
    assert (await late.verify(before)).claims["sub"] == t.app["client_id"]
    assert late_source.fetches == 1
    assert (await early.verify(after)).claims["sub"] == t.app["client_id"]
    assert early_source.fetches == 2  # an unknown kid: fetched again, found

    keys = await listed(t)
    assert (keys[new]["state"], keys[old]["state"]) == ("current", "retired")
    until = at(keys[new]["activated_at"]) + timedelta(seconds=LONGEST_TOKEN_SECONDS + MARGIN)
    assert at(keys[old]["publish_until"]) == until

    keyed.clock.advance(LONGEST_TOKEN_SECONDS + MARGIN - 60)
    assert set(await published(keyed, t)) == {old, new}  # its tokens may still be alive
    keyed.clock.advance(60)
    assert set(await published(keyed, t)) == {new}
    assert set(await listed(t)) == {new}


async def test_an_eddsa_rotation_end_to_end(keyed: Keyed) -> None:
    # Only the operator acts until the switch: no verifier holds this tenant's keys yet, as
    # none would after a real lead time (the test's clock skips it; theirs do not).
    t = await new_tenant(keyed, quiet=True)
    es256 = await mint(keyed, t)
    rotated = ok(
        await keyed.operator.post(f"{t.keys}/rotate", {"alg": "EdDSA", "lead_seconds": MAX_AGE}),
        201,
    )
    jwk = (await published(keyed, t))[rotated["kid"]]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "y" not in jwk
    assert "d" not in jwk
    discovery = ok(await keyed.http.get(f"/t/{t.slug}/.well-known/openid-configuration"))
    assert discovery["access_token_signing_alg_values_supported"] == ["ES256", "EdDSA"]

    keyed.clock.advance(MAX_AGE)
    eddsa = await mint(keyed, t)
    assert jwt.get_unverified_header(eddsa)["alg"] == "EdDSA"
    verifier, _ = sdk(keyed, t)
    assert (await verifier.verify(eddsa)).claims["app_code"] == t.app["slug"]
    assert (await verifier.verify(es256)).claims["app_code"] == t.app["slug"]

    # The tenant's admin token is EdDSA now too; the gateway, the registry and the token
    # service accept it.
    admin = await tenant_admin(keyed.http, t.record)
    assert jwt.get_unverified_header(admin.token)["alg"] == "EdDSA"
    assert (await admin.get(f"/api/v1/tenants/{t.slug}/apps")).status_code == 200
    keys = await listed(Tenant(t.slug, admin, t.record, t.app))
    assert {k["alg"] for k in keys.values()} == {"ES256", "EdDSA"}
    again = ok(await admin.post(f"{t.keys}/rotate", {"lead_seconds": MAX_AGE}), 201)
    assert again["alg"] == "EdDSA"  # no alg: the current key's

    keyed.clock.advance(MAX_AGE + LONGEST_TOKEN_SECONDS + MARGIN)
    await mint(keyed, t)  # activates the second EdDSA key
    discovery = ok(await keyed.http.get(f"/t/{t.slug}/.well-known/openid-configuration"))
    assert discovery["access_token_signing_alg_values_supported"] == ["EdDSA"]


async def test_the_jwks_and_discovery_are_cached_no_longer_than_the_shortest_lead(
    keyed: Keyed,
) -> None:
    t = await new_tenant(keyed)
    for path in (".well-known/jwks.json", ".well-known/openid-configuration"):
        response = await keyed.http.get(f"/t/{t.slug}/{path}")
        assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}", path
    missing = await keyed.http.get(f"/t/{unique('tn')}/.well-known/jwks.json")
    assert (missing.status_code, missing.headers["cache-control"]) == (404, "no-store")

    too_short = await t.owner.post(f"{t.keys}/rotate", {"lead_seconds": MAX_AGE - 1})
    assert too_short.status_code == 400, too_short.text
    assert [(e["field"], e["reason"]) for e in too_short.json()["errors"]] == [
        ("lead_seconds", "LEAD_OUT_OF_RANGE")
    ]
    assert set(await published(keyed, t)) == set(await listed(t))
    assert len(await listed(t)) == 1


async def test_discovery_names_the_introspection_and_revocation_endpoints(keyed: Keyed) -> None:
    t = await new_tenant(keyed)
    document = ok(await keyed.http.get(f"/t/{t.slug}/.well-known/openid-configuration"))
    issuer = f"{PUBLIC_URL}/t/{t.slug}"
    assert document["introspection_endpoint"] == f"{issuer}/oauth2/introspect"
    assert document["revocation_endpoint"] == f"{issuer}/oauth2/revoke"
    methods = ["client_secret_basic", "client_secret_post"]
    assert document["introspection_endpoint_auth_methods_supported"] == methods
    assert document["revocation_endpoint_auth_methods_supported"] == methods
    assert document["access_token_signing_alg_values_supported"] == ["ES256"]


async def test_one_rotation_at_a_time_and_only_supported_algorithms(keyed: Keyed) -> None:
    t = await new_tenant(keyed)
    first = ok(await t.owner.post(f"{t.keys}/rotate"), 201)  # no body: the defaults
    second = await t.owner.post(f"{t.keys}/rotate", {"alg": "EdDSA"})
    assert second.status_code == 409, second.text
    assert second.json()["reason"] == "ROTATION_PENDING"
    assert second.json()["metadata"]["kid"] == first["kid"]
    hs = await t.owner.post(f"{t.keys}/rotate", {"alg": "HS256"})
    assert (hs.status_code, hs.json()["errors"][0]["field"]) == (400, "alg"), hs.text


async def test_listing_needs_key_read_and_rotating_needs_key_write(keyed: Keyed) -> None:
    t = await new_tenant(keyed)
    base = f"/api/v1/tenants/{t.slug}"

    async def holder(*codes: str) -> Api:
        role = unique("role")
        ok(await t.owner.post(f"{base}/roles", {"code": role, "name": role}), 201)
        grants = {"permissions": [{"service": "tessera", "code": c} for c in codes]}
        ok(await t.owner.put(f"{base}/roles/{role}/permissions", grants))
        client = ok(
            await t.owner.post(
                f"{base}/clients", {"display_name": role, "apps": ["tessera"], "roles": [role]}
            ),
            201,
        )
        token = ok(
            await client_credentials(
                keyed.http, t.slug, client["client_id"], client["client_secret"]
            )
        )
        return Api(keyed.http, token["access_token"])

    reader = await holder("key:read")
    assert (await reader.get(t.keys)).status_code == 200
    refused = await reader.post(f"{t.keys}/rotate", {})
    assert refused.status_code == 403, refused.text
    assert (refused.json()["reason"], refused.json()["metadata"]) == (
        "PERMISSION_MISSING",
        {"permission": "key:write"},
    )
    nobody = await holder("app:read")
    assert (await nobody.get(t.keys)).json()["metadata"] == {"permission": "key:read"}

    other = await new_tenant(keyed)
    for response in (await other.owner.get(t.keys), await other.owner.post(f"{t.keys}/rotate")):
        assert (response.status_code, response.json()["reason"]) == (403, "TENANT_FORBIDDEN")
    assert (await keyed.http.get(t.keys)).status_code == 401
    assert len(await listed(t)) == 1  # nothing was rotated


async def test_an_operator_rotating_an_unknown_tenant_is_told_it_does_not_exist(
    keyed: Keyed,
) -> None:
    response = await keyed.operator.post(f"/api/v1/tenants/{unique('tn')}/signing-keys/rotate")
    assert (response.status_code, response.json()["reason"]) == (404, "TENANT_NOT_FOUND")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


async def tessera(*args: str, env: dict[str, str]) -> Ran:
    """``python -m services ARGS`` in a process of its own, as a shell would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        *args,
        env={"PATH": os.environ.get("PATH", ""), "COLUMNS": "200", **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def test_the_keys_command_lists_and_rotates_with_a_clients_credentials(
    keyed: Keyed,
) -> None:
    t = await new_tenant(keyed)
    credentials = t.record["admin_client"]
    env = {
        "TESSERA_URL": keyed.url,
        "TESSERA_CLIENT_ID": credentials["client_id"],
        "TESSERA_CLIENT_SECRET": credentials["client_secret"],
        "TESSERA_CLIENT_TENANT": t.slug,
    }
    rotate = ("keys", "rotate", t.slug, "--alg", "EdDSA", "--lead-seconds", "300", "--json")
    rotated = await tessera(*rotate, env=env)
    assert rotated.code == 0, rotated.stderr
    [key] = json.loads(rotated.stdout)
    assert (key["alg"], key["state"]) == ("EdDSA", "next")
    assert at(key["activates_at"]) - at(key["created_at"]) == timedelta(seconds=300)

    listing = await tessera("keys", "list", t.slug, "--json", env=env)
    assert listing.code == 0, listing.stderr
    assert {k["state"] for k in json.loads(listing.stdout)} == {"current", "next"}
    table = await tessera("keys", "list", t.slug, env=env)
    assert key["kid"] in table.stdout

    refused = await tessera("keys", "rotate", t.slug, env=env)
    assert refused.code == 1
    assert "409 ROTATION_PENDING" in refused.stderr
    unauthenticated = await tessera("keys", "list", t.slug, env={"TESSERA_URL": keyed.url})
    assert unauthenticated.code == 2
    assert "TESSERA_TOKEN" in unauthenticated.stderr
