"""Per-tenant OAuth 2.0 / OpenID Connect endpoints: discovery and JWKS, and the token
endpoint's description (it is served by services.gateway.token_endpoint).

Errors of the token endpoint use RFC 6749 §5.2 bodies, never problem+json.
"""

from __future__ import annotations

from typing import Any

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from tessera.token.v1 import token_pb2

from services.common.grpc_errors import RemoteError
from services.common.vocabulary import SUPPORTED_GRANT_TYPES, TENANT_SLUG_PATTERN
from services.gateway.clients import GatewayClients, call
from services.gateway.problems import (
    OAuthError,
    Problem,
    problem_from_remote,
)

router = APIRouter(tags=["oauth2"])
_JWKS_MAX_AGE = 300


def _clients(request: Request) -> GatewayClients:
    gateway_clients: GatewayClients = request.app.state.clients
    return gateway_clients


def _issuer(request: Request, tenant: str) -> str:
    public_url: str = request.app.state.settings.public_url
    return f"{public_url}/t/{tenant}"


_TOKEN_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": list(SUPPORTED_GRANT_TYPES)},
        "client_id": {"type": "string", "description": "With client_secret_post (or Basic)."},
        "client_secret": {"type": "string", "description": "client_secret_post only."},
        "scope": {"type": "string", "description": "Space-separated scopes (RFC 6749 §3.3)."},
        "app": {"type": "string", "description": "Which app, when the client serves several."},
        "resource": {"type": "string", "description": "RFC 8707 resource indicator."},
    },
}


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None


def _oauth_failure(description: str) -> dict[str, Any]:
    return {"model": OAuthError, "description": description}


async def _served_by_token_endpoint(tenant: str) -> TokenResponse:
    """Never routed: :class:`services.gateway.token_endpoint.TokenEndpoint` answers this path
    in front of the framework. This declaration only describes it in the OpenAPI document."""
    raise RuntimeError(f"the token endpoint of {tenant!r} is served by TokenEndpoint")


# Described in the OpenAPI document (services.gateway.app), not added to the router.
TOKEN_ENDPOINT_DOCS = APIRoute(
    "/t/{tenant}/oauth2/token",
    _served_by_token_endpoint,
    methods=["POST"],
    tags=["oauth2"],
    summary="Token endpoint (RFC 6749 §3.2)",
    response_model=TokenResponse,
    responses={
        400: _oauth_failure(
            "invalid_request, invalid_scope, invalid_target, unauthorized_client, "
            "unsupported_grant_type (RFC 6749 §5.2)."
        ),
        401: _oauth_failure("invalid_client: client authentication failed."),
        413: _oauth_failure("The request body exceeds 16 KiB."),
        414: _oauth_failure("The request target is too long."),
        429: _oauth_failure("Too many failed client authentications; retry after Retry-After."),
        431: _oauth_failure("The headers are too large."),
        500: _oauth_failure("server_error, with a reference to quote."),
        503: _oauth_failure("temporarily_unavailable; retry after Retry-After."),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _TOKEN_REQUEST_SCHEMA}},
        }
    },
)


async def _published_jwks(request: Request, tenant: str) -> bytes:
    """The tenant's JWK Set; RemoteError NOT_FOUND for an unknown (or malformed) tenant."""
    if not TENANT_SLUG_PATTERN.fullmatch(tenant):
        raise RemoteError(
            grpc.StatusCode.NOT_FOUND, f"There is no tenant {tenant!r}.", "TENANT_NOT_FOUND"
        )
    result = await call(_clients(request).token.GetJwks, token_pb2.GetJwksRequest(tenant=tenant))
    return result.json.encode()


def _uncacheable(error: RemoteError, request: Request) -> Response:
    # An error must never be cached by a relying party in place of the document.
    response = problem_from_remote(error, instance=str(request.url.path))
    response.headers["Cache-Control"] = "no-store"
    return response


_PUBLIC_DOCUMENT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "There is no such tenant."},
    503: {"model": Problem, "description": "Temporarily unavailable; retry after Retry-After."},
}


@router.get(
    "/t/{tenant}/.well-known/openid-configuration",
    summary="Discovery (OIDC Discovery / RFC 8414)",
    responses=_PUBLIC_DOCUMENT_ERRORS,
)
async def discovery(tenant: str, request: Request) -> Response:
    try:
        # Answers 404 for an unknown tenant, and makes sure the keys it points to exist.
        await _published_jwks(request, tenant)
    except RemoteError as error:
        return _uncacheable(error, request)
    issuer = _issuer(request, tenant)
    document = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
        "scopes_supported": [],
        "access_token_signing_alg_values_supported": ["ES256"],
        "service_documentation": f"{request.app.state.settings.public_url}/docs",
    }
    return JSONResponse(document, headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"})


@router.get(
    "/t/{tenant}/.well-known/jwks.json",
    summary="The tenant's public signing keys (RFC 7517)",
    responses={
        200: {
            "description": "The JWK Set: never empty for a tenant that exists.",
            "content": {"application/jwk-set+json": {"schema": {"type": "object"}}},
        },
        **_PUBLIC_DOCUMENT_ERRORS,
    },
)
async def jwks(tenant: str, request: Request) -> Response:
    try:
        document = await _published_jwks(request, tenant)
    except RemoteError as error:
        return _uncacheable(error, request)
    return Response(
        content=document,
        media_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"},
    )


__all__ = ["TOKEN_ENDPOINT_DOCS", "router"]
