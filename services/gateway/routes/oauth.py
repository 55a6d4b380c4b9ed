"""Per-tenant OAuth 2.0 / OpenID Connect endpoints: discovery and JWKS, and the token
endpoint's description (it is served by services.gateway.token_endpoint).

Errors of the token endpoint use RFC 6749 §5.2 bodies, never problem+json.

How long relying parties may cache the JWKS and discovery (``Cache-Control: public,
max-age=N``, N = ``settings.jwks_cache_seconds``, ``min(TESSERA_JWKS_MAX_AGE_SECONDS, the
default rotation lead)``), and why that is enough (services.token.domain.keys):

- A key must be in every cached copy before it signs. A rotation publishes its key at once and
  lets it sign only after its lead time, and no rotation may use a lead shorter than N: a copy
  fetched just before the rotation expires before the new key's first token exists. So
  N ≤ every lead time, whenever the rotation happens; the next key's ``activates_at`` need not
  be known here, and a copy taken while a key is pending already holds it.
- Nothing retired vanishes while a token it signed can still be presented: a retired key
  stays published until its last token expired plus a margin, so every copy fetched while
  such a token lives holds it. A copy that outlives the key's window by up to N verifies only
  tokens that have all expired, so the end of that window does not shorten N.
- Discovery lists the algorithms of the published keys, which change only with them: the
  same N.
"""

from __future__ import annotations

import json
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
# RFC 8414 §2 order of preference: the default first.
_SIGNING_ALGS = ("ES256", "EdDSA")
_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _clients(request: Request) -> GatewayClients:
    gateway_clients: GatewayClients = request.app.state.clients
    return gateway_clients


def _issuer(request: Request, tenant: str) -> str:
    public_url: str = request.app.state.settings.public_url
    return f"{public_url}/t/{tenant}"


def _cacheable(request: Request) -> dict[str, str]:
    """The Cache-Control of the JWKS and discovery (see the module docstring)."""
    max_age: int = request.app.state.settings.jwks_cache_seconds
    return {"Cache-Control": f"public, max-age={max_age}"}


def _signing_algs(jwks: bytes) -> list[str]:
    """The algorithms of the tenant's published keys (ES256 and/or EdDSA)."""
    used = {key.get("alg") for key in json.loads(jwks).get("keys", [])}
    return [alg for alg in _SIGNING_ALGS if alg in used]


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
    """RFC 8414 §2 metadata. ``access_token_signing_alg_values_supported`` lists the
    algorithms of the keys published in the JWKS (a rotation to EdDSA appears here when its
    key is published, before it signs)."""
    try:
        # Answers 404 for an unknown tenant, and makes sure the keys it points to exist.
        jwks = await _published_jwks(request, tenant)
    except RemoteError as error:
        return _uncacheable(error, request)
    issuer = _issuer(request, tenant)
    document = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": list(SUPPORTED_GRANT_TYPES),
        "token_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "introspection_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "revocation_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "response_types_supported": [],
        "scopes_supported": [],
        "access_token_signing_alg_values_supported": _signing_algs(jwks),
        "service_documentation": f"{request.app.state.settings.public_url}/docs",
    }
    return JSONResponse(document, headers=_cacheable(request))


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
        content=document, media_type="application/jwk-set+json", headers=_cacheable(request)
    )


__all__ = ["TOKEN_ENDPOINT_DOCS", "router"]
