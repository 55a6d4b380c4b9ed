"""The SDK verifier as a FastAPI dependency and a gRPC interceptor (RFC 6750 §3 answers).

No ``from __future__ import annotations`` here: FastAPI must evaluate the route's
``Annotated`` parameter, which refers to a verifier local to the test.
"""

from typing import Annotated, Any

import grpc
import httpx
import pytest
from fastapi import Depends, FastAPI

from tessera_sdk.integrations import TokenInterceptor, current_token, require_token
from tessera_sdk.verifier import TokenVerifier, VerifiedToken
from tests.unit.test_verifier import BASE, StaticJwks, _key, _token


@pytest.fixture
def signer() -> tuple[Any, TokenVerifier]:
    private, jwk = _key("k1")
    return private, TokenVerifier(BASE, StaticJwks([jwk]), tenants=["acme"], audience="billing")


def _app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()

    Token = Annotated[
        VerifiedToken,
        Depends(require_token(verifier, permissions=["orders:read"], app_code="billing")),
    ]

    @app.get("/orders")
    async def orders(token: Token) -> dict[str, str]:
        return {"sub": token.claims["sub"]}

    return app


async def _get(app: FastAPI, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        return await client.get("/orders", headers=headers)


async def test_fastapi_dependency_accepts_a_token_with_the_permission(
    signer: tuple[Any, TokenVerifier],
) -> None:
    private, verifier = signer
    response = await _get(
        _app(verifier), _token(private, app_code="billing", permissions=["orders:read"])
    )
    assert response.status_code == 200
    assert response.json() == {"sub": "tc_1"}


@pytest.mark.parametrize(
    ("claims", "status", "challenge"),
    [
        (None, 401, "Bearer"),
        (
            {"aud": "shipping", "app_code": "billing", "permissions": ["orders:read"]},
            401,
            'error="invalid_token"',
        ),
        (
            {"app_code": "shipping", "permissions": ["orders:read"]},
            403,
            'error="insufficient_scope"',
        ),
        ({"app_code": "billing", "permissions": []}, 403, 'error="insufficient_scope"'),
    ],
)
async def test_fastapi_dependency_refuses_with_rfc6750_challenges(
    signer: tuple[Any, TokenVerifier], claims: dict[str, Any] | None, status: int, challenge: str
) -> None:
    private, verifier = signer
    token = _token(private, **claims) if claims is not None else None
    response = await _get(_app(verifier), token)
    assert response.status_code == status
    assert challenge in response.headers["www-authenticate"]


def _identity(data: bytes) -> bytes:
    return data


async def _serve(verifier: TokenVerifier) -> tuple[grpc.aio.Server, int]:
    async def whoami(request: bytes, context: Any) -> bytes:
        token = current_token.get()
        assert token is not None
        return str(token.claims["sub"]).encode()

    server = grpc.aio.server(interceptors=[TokenInterceptor(verifier, permissions=["orders:read"])])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Who",
                {
                    "Ami": grpc.unary_unary_rpc_method_handler(
                        whoami, request_deserializer=_identity, response_serializer=_identity
                    )
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def test_grpc_interceptor_verifies_every_call(signer: tuple[Any, TokenVerifier]) -> None:
    private, verifier = signer
    server, port = await _serve(verifier)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                "/test.Who/Ami", request_serializer=_identity, response_deserializer=_identity
            )
            good = _token(private, permissions=["orders:read"])
            assert await call(b"", metadata=(("authorization", f"Bearer {good}"),)) == b"tc_1"
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await call(b"")
            assert missing.value.code() is grpc.StatusCode.UNAUTHENTICATED
            weak = _token(private, permissions=[])
            with pytest.raises(grpc.aio.AioRpcError) as forbidden:
                await call(b"", metadata=(("authorization", f"Bearer {weak}"),))
            assert forbidden.value.code() is grpc.StatusCode.PERMISSION_DENIED
    finally:
        await server.stop(0)


async def test_fastapi_dependency_answers_503_when_the_issuers_keys_are_out_of_reach(
    signer: tuple[Any, TokenVerifier],
) -> None:
    private, _ = signer

    class Down:
        async def fetch(self, tenant: str) -> dict[str, Any]:
            raise ConnectionError("refused")

    verifier = TokenVerifier(BASE, Down(), tenants=["acme"], audience="billing")
    response = await _get(
        _app(verifier), _token(private, app_code="billing", permissions=["orders:read"])
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
