"""The ASGI token endpoint in front of the framework: what reaches the token service, what
the client hears, what the failed-authentication limits count (services.gateway.token_endpoint)."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import httpx
import pytest
from limits.aio.storage import MemoryStorage
from tessera.token.v1 import token_pb2

from services.common.grpc_errors import RemoteError
from services.gateway.edge import EdgeGuard
from services.gateway.rate_limits import FailedAuthLimiter, MemoryBlocks
from services.gateway.token_endpoint import TokenEndpoint

AUTH = "Basic " + base64.b64encode(b"tc_1:tsk_secret").decode()
FORM = {"content-type": "application/x-www-form-urlencoded", "authorization": AUTH}


class FakePort:
    def __init__(self, failure: Exception | None = None) -> None:
        self.requests: list[token_pb2.ExchangeRequest] = []
        self.failure = failure

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        return token_pb2.TokenResponse(access_token="jwt", token_type="Bearer", expires_in=900)


async def fallback(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def client(port: FakePort, limit: str = "100/minute") -> httpx.AsyncClient:
    limiter = FailedAuthLimiter(MemoryStorage(), MemoryBlocks(), limit, "100/minute")
    app = EdgeGuard(TokenEndpoint(fallback, port, limiter))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_token_request_reaches_the_token_service_as_the_client_sent_it() -> None:
    port = FakePort()
    async with client(port) as http:
        answer = await http.post(
            "/t/acme/oauth2/token",
            content=b"grant_type=client_credentials&scope=a&app=billing&resource=urn%3Ax",
            headers=FORM,
        )
    assert answer.status_code == 200
    assert answer.json() == {"access_token": "jwt", "token_type": "Bearer", "expires_in": 900}
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"  # the edge still wraps it
    [sent] = port.requests
    assert (sent.tenant, sent.client_id, sent.client_secret, sent.client_auth_method) == (
        "acme",
        "tc_1",
        "tsk_secret",
        "client_secret_basic",
    )
    assert (sent.scope, sent.app, list(sent.resource)) == ("a", "billing", ["urn:x"])


async def test_other_paths_pass_through_and_other_methods_are_405() -> None:
    async with client(FakePort()) as http:
        assert (await http.get("/t/acme/.well-known/jwks.json")).status_code == 204
        refused = await http.get("/t/acme/oauth2/token")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"


async def test_a_name_that_cannot_be_a_tenant_is_an_unknown_client_without_asking() -> None:
    port = FakePort()
    async with client(port) as http:
        answer = await http.post(
            "/t/Not_A_Tenant/oauth2/token", content=b"grant_type=x", headers=FORM
        )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert port.requests == []


async def test_failed_authentications_are_counted_and_then_refused_before_the_service() -> None:
    port = FakePort(
        RemoteError(
            grpc.StatusCode.UNAUTHENTICATED,
            "Client authentication failed.",
            "INVALID_CLIENT",
            metadata={"oauth_error": "invalid_client"},
        )
    )
    async with client(port, limit="2/minute") as http:
        answers = [
            await http.post("/t/acme/oauth2/token", content=b"grant_type=x", headers=FORM)
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[0].headers["ratelimit"].startswith('"client";r=1;')
    assert answers[0].headers["www-authenticate"] == 'Basic realm="tessera"'
    assert int(answers[2].headers["retry-after"]) >= 1
    assert len(port.requests) == 2


async def test_an_unexpected_failure_is_server_error_with_a_reference() -> None:
    async with client(FakePort(RuntimeError("boom"))) as http:
        answer = await http.post("/t/acme/oauth2/token", content=b"grant_type=x", headers=FORM)
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "server_error"
    assert "boom" not in body["error_description"]
    assert "reference" in body["error_description"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [(b"grant_type=x&s=" + b"a" * 20_000, 413, "16 KiB"), (b"grant_type=%00", 400, "NUL")],
)
async def test_an_edge_refusal_while_the_body_is_read_is_an_oauth_error(
    body: bytes, status: int, words: str
) -> None:
    headers = {**FORM, "transfer-encoding": "chunked"}

    async def chunks() -> Any:
        yield body

    async with client(FakePort()) as http:
        answer = await http.post("/t/acme/oauth2/token", content=chunks(), headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"] == "invalid_request"
    assert words in answer.json()["error_description"]
    assert json.loads(answer.content)["error_description"]
