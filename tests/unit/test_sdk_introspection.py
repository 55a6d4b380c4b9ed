"""The SDK verifier's introspection mode (tessera_sdk.introspection): a token verified locally
is confirmed active by the issuer's introspection endpoint (RFC 7662), answers are cached per
jti for ``cache_seconds`` and shared by concurrent requests, and an endpoint that cannot answer
is unavailable (503), never a verdict on the token.

No ``from __future__ import annotations``: FastAPI evaluates the route's ``Annotated``
parameter.
"""

import asyncio
import base64
import time
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from tessera_sdk.integrations import require_token
from tessera_sdk.introspection import ClientCredentials, IntrospectionUnavailable, Introspector
from tessera_sdk.verifier import KeysUnavailable, TokenRejected, TokenVerifier, VerifiedToken
from tests.unit.test_verifier import BASE, StaticJwks, _key, _token

CREDENTIALS = {"acme": ClientCredentials("tc_rs:1", "tsk_s+cret")}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """The issuer's introspection endpoint: answers from ``active`` (jti → bool), or with
    ``status``; records what it was sent. ``gate`` holds every answer while it is clear."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {}
        self.status = 200
        self.body: bytes | None = None
        self.requests: list[httpx.Request] = []
        self.extra: dict[str, Any] = {}  # more members of every active answer
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await self.gate.wait()
        if self.status != 200 or self.body is not None:
            return httpx.Response(self.status, content=self.body or b"{}")
        token = parse_qs(request.content.decode())["token"][0]
        jti = token_jti(token)
        if not self.active.get(jti, False):
            return httpx.Response(200, json={"active": False})
        return httpx.Response(
            200, json={"active": True, "jti": jti, "token_type": "Bearer", **self.extra}
        )


def token_jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def world(cache_seconds: float = 5.0) -> tuple[Any, TokenVerifier, Endpoint, Introspector, Clock]:
    private, jwk = _key("k1")
    endpoint, clock = Endpoint(), Clock()
    introspector = Introspector(
        BASE,
        httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
        CREDENTIALS,
        cache_seconds=cache_seconds,
        clock=clock,
    )
    verifier = TokenVerifier(
        BASE, StaticJwks([jwk]), tenants=["acme"], audience="billing", introspection=introspector
    )
    return private, verifier, endpoint, introspector, clock


async def test_a_verified_token_is_confirmed_active_by_the_issuers_endpoint() -> None:
    private, verifier, endpoint, introspector, _ = world()
    token = _token(private, jti="j1")
    endpoint.active["j1"] = True
    verified = await verifier.verify(token)
    assert verified.claims["jti"] == "j1"
    [sent] = endpoint.requests
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}/t/acme/oauth2/introspect")
    assert parse_qs(sent.content.decode()) == {
        "token": [token],
        "token_type_hint": ["access_token"],
    }
    # RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
    expected = base64.b64encode(b"tc_rs%3A1:tsk_s%2Bcret").decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert introspector.calls == 1


async def test_an_inactive_token_is_rejected_and_a_locally_invalid_one_costs_no_call() -> None:
    private, verifier, _, introspector, _ = world()
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(_token(private, jti="revoked"))
    assert (caught.value.reason, caught.value.message) == (
        "INACTIVE",
        "The token is no longer active.",
    )
    with pytest.raises(TokenRejected) as expired:
        await verifier.verify(_token(private, jti="j2", exp=int(time.time()) - 3600))
    assert expired.value.reason == "EXPIRED"
    assert introspector.calls == 1


async def test_answers_are_cached_per_token_for_cache_seconds_then_asked_again() -> None:
    private, verifier, endpoint, introspector, clock = world(cache_seconds=5)
    token, other = _token(private, jti="j1"), _token(private, jti="j2")
    endpoint.active.update(j1=True, j2=True)
    await verifier.verify(token)
    await verifier.verify(other)
    endpoint.active["j1"] = False  # revoked at the issuer
    clock.now += 4.9
    await verifier.verify(token)  # within the interval: the cached answer
    assert introspector.calls == 2
    clock.now += 0.1
    with pytest.raises(TokenRejected):
        await verifier.verify(token)
    assert introspector.calls == 3


async def test_cache_seconds_zero_asks_on_every_request() -> None:
    private, verifier, endpoint, introspector, _ = world(cache_seconds=0)
    token = _token(private, jti="j1")
    endpoint.active["j1"] = True
    await verifier.verify(token)
    await verifier.verify(token)
    endpoint.active["j1"] = False
    with pytest.raises(TokenRejected):
        await verifier.verify(token)
    assert introspector.calls == 3


async def test_concurrent_requests_for_one_token_share_one_call() -> None:
    private, verifier, endpoint, introspector, _ = world()
    token = _token(private, jti="j1")
    endpoint.active["j1"] = True
    endpoint.gate.clear()
    waiting = [asyncio.ensure_future(verifier.verify(token)) for _ in range(5)]
    for _ in range(100):  # let every request run until it waits for the one call
        await asyncio.sleep(0)
    assert len(endpoint.requests) == 1
    endpoint.gate.set()
    assert [v.claims["jti"] for v in await asyncio.gather(*waiting)] == ["j1"] * 5
    assert introspector.calls == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, b"{}", "answered 503"),
        (500, b"{}", "answered 500"),
        (401, b'{"error": "invalid_client"}', "refused this resource server's client"),
        (200, b"<html>", "did not answer JSON"),
        (200, b'{"active": "yes"}', "did not answer RFC 7662 JSON"),
    ],
)
async def test_an_endpoint_that_cannot_answer_is_unavailable_never_a_verdict(
    status: int, body: bytes, message: str
) -> None:
    private, verifier, endpoint, _, _ = world()
    endpoint.status, endpoint.body = status, body
    with pytest.raises(IntrospectionUnavailable) as caught:
        await verifier.verify(_token(private, jti="j1"))
    assert message in str(caught.value)
    assert isinstance(caught.value, KeysUnavailable)  # 503 in the integrations


async def test_an_unreachable_endpoint_is_unavailable_and_nothing_is_cached() -> None:
    private, jwk = _key("k1")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    introspector = Introspector(
        BASE, httpx.AsyncClient(transport=httpx.MockTransport(refuse)), CREDENTIALS
    )
    verifier = TokenVerifier(
        BASE, StaticJwks([jwk]), tenants=["acme"], audience="billing", introspection=introspector
    )
    for _ in range(2):
        with pytest.raises(IntrospectionUnavailable) as caught:
            await verifier.verify(_token(private, jti="j1"))
        assert "cannot be reached" in str(caught.value)
    assert introspector.calls == 2


def test_a_verifier_needs_credentials_for_every_tenant_it_accepts() -> None:
    _, jwk = _key("k1")
    introspector = Introspector(BASE, httpx.AsyncClient(), CREDENTIALS)
    with pytest.raises(ValueError, match=r"none for \['globex'\]"):
        TokenVerifier(
            BASE, StaticJwks([jwk]), tenants=["acme", "globex"], introspection=introspector
        )
    with pytest.raises(ValueError, match="credentials="):
        Introspector(BASE, httpx.AsyncClient(), {})
    with pytest.raises(ValueError, match="cache_seconds"):
        Introspector(BASE, httpx.AsyncClient(), CREDENTIALS, cache_seconds=-1)
    assert "tsk_" not in repr(CREDENTIALS["acme"])


async def test_the_fastapi_dependency_answers_401_when_inactive_and_503_when_unknown() -> None:
    private, verifier, endpoint, _, _ = world()
    app = FastAPI()
    Token = Annotated[VerifiedToken, Depends(require_token(verifier))]

    @app.get("/orders")
    async def orders(token: Token) -> dict[str, str]:
        return {"jti": token.claims["jti"]}

    async def get(jti: str) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            headers = {"Authorization": f"Bearer {_token(private, jti=jti)}"}
            return await client.get("/orders", headers=headers)

    endpoint.active["live"] = True
    assert (await get("live")).json() == {"jti": "live"}
    inactive = await get("revoked")
    assert inactive.status_code == 401
    assert 'error_description="INACTIVE"' in inactive.headers["www-authenticate"]
    endpoint.status = 503
    unknown = await get("unknown")
    assert (unknown.status_code, unknown.headers["retry-after"]) == (503, "2")


async def test_a_token_without_its_permissions_gets_them_from_introspection() -> None:
    private, verifier, endpoint, _, _ = world()
    token = _token(private, jti="big", permissions_omitted=True)
    endpoint.active["big"] = True
    endpoint.extra = {"permissions": ["a:read", "b:write"]}
    verified = await verifier.verify(token)
    assert verified.permissions == frozenset({"a:read", "b:write"})
    assert "permissions_omitted" not in verified.claims


async def test_without_introspection_a_token_without_its_permissions_is_refused_clearly() -> None:
    private, jwk = _key("k1")
    plain = TokenVerifier(BASE, StaticJwks([jwk]), tenants=["acme"], audience="billing")
    with pytest.raises(TokenRejected) as caught:
        await plain.verify(_token(private, permissions_omitted=True))
    assert caught.value.reason == "PERMISSIONS_OMITTED"
    assert "introspection=" in caught.value.message
