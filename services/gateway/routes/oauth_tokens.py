"""``POST /t/{tenant}/oauth2/introspect`` (RFC 7662) and ``POST /t/{tenant}/oauth2/revoke``
(RFC 7009): parsed and rendered by the framework-free OAuth core
(services.gateway.oauth.introspection, .revocation), answered by the token service.

Both authenticate the calling client like the token endpoint (services.gateway.token_endpoint)
and count its failures against the same limits (app.state.failed_auth): a client or address
that used up its failed authentications gets 429 here as there, before any credential is
checked. Errors are RFC 6749 §5.2 bodies, never problem+json; nothing is cached.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from tessera.token.v1 import token_pb2

from services.gateway.oauth.client_auth import ClientCredentials
from services.gateway.oauth.errors import OAuthError, Rendered
from services.gateway.oauth.introspection import (
    parse_introspection_request,
    render_introspection,
)
from services.gateway.oauth.revocation import parse_revocation_request, render_revoked
from services.gateway.problems import OAuthError as OAuthErrorBody
from services.gateway.rate_limits import FailedAuthLimiter
from services.gateway.token_endpoint import as_client
from services.gateway.token_port import TokenPort

log = structlog.get_logger("tessera.gateway")

router = APIRouter(tags=["oauth2"])

Answer = TypeVar("Answer")


class IntrospectionResponse(BaseModel):
    """RFC 7662 §2.2: ``active`` alone for an inactive token; for an active one, the §2.2
    members and every claim of the token."""

    model_config = ConfigDict(extra="allow")

    active: bool
    token_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    jti: str | None = None


def _form(description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "description": description},
            "token_type_hint": {
                "type": "string",
                "description": "access_token or refresh_token; a hint only (ignored).",
            },
            "client_id": {"type": "string", "description": "With client_secret_post (or Basic)."},
            "client_secret": {"type": "string", "description": "client_secret_post only."},
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


def _failure(description: str) -> dict[str, Any]:
    return {"model": OAuthErrorBody, "description": description}


_FAILURES: dict[int | str, dict[str, Any]] = {
    400: _failure("invalid_request: no token, not a form, a repeated parameter (RFC 6749 §5.2)."),
    401: _failure("invalid_client: client authentication failed."),
    413: _failure("The request body exceeds 16 KiB."),
    429: _failure("Too many failed client authentications; retry after Retry-After."),
    500: _failure("server_error, with a reference to quote."),
    503: _failure("temporarily_unavailable; retry after Retry-After."),
}


@router.post(
    "/t/{tenant}/oauth2/introspect",
    summary="Token introspection (RFC 7662)",
    description=(
        "Any confidential client of the tenant may ask about any access token of the tenant. "
        'The answer is `{"active": false}` and nothing else for a token that is expired, '
        "revoked, of a disabled app or a disabled or deleted client, minted before its "
        "client's secret was regenerated, of another tenant, or no token at all."
    ),
    response_model=IntrospectionResponse,
    responses=_FAILURES,
    openapi_extra=_form("The access token to introspect."),
)
async def introspect(tenant: str, request: Request) -> Response:
    async def answer() -> Rendered:
        parsed = parse_introspection_request(*await _read(request))

        async def ask() -> token_pb2.IntrospectResponse:
            return await _port(request).introspect(
                token_pb2.IntrospectRequest(
                    tenant=tenant,
                    client=_authentication(parsed.client),
                    token=parsed.token,
                    token_type_hint=parsed.token_type_hint,
                )
            )

        result = await _as_client(request, tenant, parsed.client, ask)
        return (
            result if isinstance(result, Rendered) else render_introspection(result.json.encode())
        )

    return await _respond(answer)


@router.post(
    "/t/{tenant}/oauth2/revoke",
    summary="Token revocation (RFC 7009)",
    description=(
        "A client revokes an access token issued to it; the token is inactive at the "
        "introspection endpoint from then on (until it expires). Another client's or "
        "tenant's token, an expired, unknown or malformed token: 200 with nothing done."
    ),
    response_class=Response,
    responses={200: {"description": "Revoked, or nothing to revoke (empty body)."}, **_FAILURES},
    openapi_extra=_form("The access token to revoke."),
)
async def revoke(tenant: str, request: Request) -> Response:
    async def answer() -> Rendered:
        parsed = parse_revocation_request(*await _read(request))

        async def ask() -> token_pb2.RevokeResponse:
            return await _port(request).revoke(
                token_pb2.RevokeRequest(
                    tenant=tenant,
                    client=_authentication(parsed.client),
                    token=parsed.token,
                    token_type_hint=parsed.token_type_hint,
                )
            )

        result = await _as_client(request, tenant, parsed.client, ask)
        return result if isinstance(result, Rendered) else render_revoked()

    return await _respond(answer)


async def _read(request: Request) -> tuple[str, str, bytes]:
    """Content type, Authorization and the body (the edge guard bounds its size)."""
    headers = request.headers
    return headers.get("content-type", ""), headers.get("authorization", ""), await request.body()


def _authentication(client: ClientCredentials) -> token_pb2.ClientAuthentication:
    return token_pb2.ClientAuthentication(
        client_id=client.client_id, client_secret=client.secret, method=client.method
    )


def _port(request: Request) -> TokenPort:
    port: TokenPort = request.app.state.token
    return port


async def _as_client(
    request: Request,
    tenant: str,
    client: ClientCredentials,
    ask: Callable[[], Awaitable[Answer]],
) -> Answer | Rendered:
    """``ask`` the token service on behalf of ``client`` within the limits and refusals the
    token endpoint applies (services.gateway.token_endpoint.as_client)."""
    limiter: FailedAuthLimiter = request.app.state.failed_auth
    address = request.client.host if request.client else ""
    return await as_client(limiter, tenant, client, address, ask)


async def _respond(answer: Callable[[], Awaitable[Rendered]]) -> Response:
    try:
        rendered = await answer()
    except OAuthError as refused:
        rendered = refused.render()
    except HTTPException:
        raise  # an edge refusal while the body was read: the app renders it (RFC 6749 body)
    except Exception:
        reference = uuid.uuid4().hex[:16]
        log.exception("unhandled oauth endpoint error", reference=reference)
        rendered = OAuthError(
            "server_error", f"Internal error; quote reference {reference} when reporting it.", 500
        ).render()
    return Response(
        rendered.body,
        status_code=rendered.status,
        headers={name.decode(): value.decode() for name, value in rendered.headers},
    )
