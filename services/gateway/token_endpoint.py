"""``POST /t/{tenant}/oauth2/token`` served in front of the web framework (ARCHITECTURE §5: the
path every deployment calls most). The request is parsed by the framework-free OAuth core
(services.gateway.oauth), checked against the failed-authentication limits, handed to the
token service through its port, and the answer rendered by the core. Everything else passes
through to the FastAPI app; the edge limits and CORS still wrap this endpoint."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from tessera.token.v1 import token_pb2

from services.common.grpc_errors import RemoteError
from services.common.vocabulary import TENANT_SLUG_PATTERN
from services.gateway.edge import EdgeRefusal
from services.gateway.oauth.client_auth import ClientCredentials
from services.gateway.oauth.errors import OAuthError, Rendered, from_remote
from services.gateway.oauth.token_request import TokenRequest, parse_token_request
from services.gateway.oauth.token_response import render_token
from services.gateway.problems import problem
from services.gateway.rate_limits import FailedAuthLimiter
from services.gateway.token_port import TokenPort

log = structlog.get_logger("tessera.gateway")

TOKEN_PATH = re.compile(r"/t/([^/]*)/oauth2/token")
Answer = TypeVar("Answer")

# Exactly the answer the token service gives an unknown tenant: a name that cannot be a tenant
# is one that does not exist (no oracle, ARCHITECTURE §7).
_UNKNOWN_TENANT = RemoteError(
    grpc.StatusCode.UNAUTHENTICATED,
    "Client authentication failed.",
    "INVALID_CLIENT",
    metadata={"oauth_error": "invalid_client"},
)


class TokenEndpoint:
    def __init__(self, app: ASGIApp, port: TokenPort, limiter: FailedAuthLimiter) -> None:
        self._app = app
        self._port = port
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = TOKEN_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self._app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = problem(
                405, "METHOD_NOT_ALLOWED", "Method Not Allowed", headers={"Allow": "POST"}
            )
            await response(scope, receive, send)
            return
        try:
            rendered = await self._answer(match[1], scope, receive)
        except EdgeRefusal as refused:  # the body broke an edge limit while it was read
            refusal = OAuthError("invalid_request", str(refused.detail), refused.status_code)
            rendered = refusal.render()
        except Exception:
            reference = uuid.uuid4().hex[:16]
            log.exception("unhandled token endpoint error", reference=reference)
            rendered = OAuthError(
                "server_error",
                f"Internal error; quote reference {reference} when reporting it.",
                500,
            ).render()
        await send(
            {"type": "http.response.start", "status": rendered.status, "headers": rendered.headers}
        )
        await send({"type": "http.response.body", "body": rendered.body})

    async def _answer(self, tenant: str, scope: Scope, receive: Receive) -> Rendered:
        content_type = authorization = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        try:
            request = parse_token_request(content_type, authorization, await _body(receive))
        except OAuthError as malformed:
            return malformed.render()
        address = scope["client"][0] if scope.get("client") else ""

        async def exchange() -> token_pb2.TokenResponse:
            return await self._port.exchange(_exchange(tenant, request))

        issued = await as_client(self._limiter, tenant, request.client, address, exchange)
        if isinstance(issued, Rendered):
            return issued
        return render_token(
            issued.access_token,
            issued.token_type,
            issued.expires_in,
            scope=issued.scope,
            refresh_token=issued.refresh_token,
            id_token=issued.id_token,
        )


async def as_client(
    limiter: FailedAuthLimiter,
    tenant: str,
    client: ClientCredentials,
    address: str,
    call: Callable[[], Awaitable[Answer]],
) -> Answer | Rendered:
    """What the OAuth endpoints (token, introspection, revocation) share around a call to the
    token service on behalf of ``client``: a client or address over its failed-authentication
    limit is refused (429) before any credential is checked; a name that cannot be a tenant is
    an unknown client; a failed client authentication (401) is counted. The call's answer, or
    the refusal as rendered by the OAuth core."""
    refused = await limiter.refusal(tenant, client.client_id, address)
    if refused is not None:
        return OAuthError(
            "temporarily_unavailable",
            "Too many failed client authentications for this client or from this address; "
            f"retry after {refused.retry_after} seconds.",
            429,
            tuple(refused.headers.items()),
        ).render()
    try:
        if not TENANT_SLUG_PATTERN.fullmatch(tenant):
            raise _UNKNOWN_TENANT
        return await call()
    except RemoteError as failure:
        answer = from_remote(failure, basic_auth_used=client.basic)
        if answer.status == 401:
            counted = await limiter.record_failure(tenant, client.client_id, address)
            answer = OAuthError(
                answer.error, answer.description, 401, (*answer.headers, *counted.items())
            )
        return answer.render()


def _exchange(tenant: str, request: TokenRequest) -> token_pb2.ExchangeRequest:
    return token_pb2.ExchangeRequest(
        tenant=tenant,
        grant_type=request.grant_type,
        client_id=request.client.client_id,
        client_secret=request.client.secret,
        scope=request.scope,
        app=request.app,
        resource=list(request.resources),
        client_auth_method=request.client.method,
    )


async def _body(receive: Receive) -> bytes:
    """The whole request body (the edge guard in front bounds its size)."""
    chunks: list[bytes] = []
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
