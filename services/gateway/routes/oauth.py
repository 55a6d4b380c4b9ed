"""Per-tenant OAuth 2.0 / OpenID Connect endpoints: token, discovery, JWKS.

Errors here use RFC 6749 §5.2 bodies, never problem+json.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from tessera.token.v1 import token_pb2

from services.common.grpc_errors import RemoteError
from services.common.vocabulary import SUPPORTED_GRANT_TYPES, TENANT_SLUG_PATTERN
from services.gateway.clients import GatewayClients, call
from services.gateway.problems import (
    OAuthError,
    Problem,
    oauth_error,
    oauth_error_response,
    problem_from_remote,
)
from services.gateway.rate_limits import FailedAuthLimiter

# A token request is a handful of short parameters: the gateway's edge refuses bodies over
# 16 KiB here (services.gateway.edge).
router = APIRouter(tags=["oauth2"])
_JWKS_MAX_AGE = 300


def _clients(request: Request) -> GatewayClients:
    gateway_clients: GatewayClients = request.app.state.clients
    return gateway_clients


def _issuer(request: Request, tenant: str) -> str:
    public_url: str = request.app.state.settings.public_url
    return f"{public_url}/t/{tenant}"


class MalformedBasic(ValueError):
    """The Authorization header says Basic but does not carry ``base64(id:secret)``."""


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64 encoding."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise MalformedBasic("its value is not base64 of UTF-8 text") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise MalformedBasic("the decoded value is not 'client_id:client_secret'")
    return unquote_plus(client_id), unquote_plus(secret)


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


async def _failed(
    error: RemoteError,
    basic_auth_used: bool,
    limiter: FailedAuthLimiter,
    tenant: str,
    client_id: str,
    address: str,
) -> Response:
    """The RFC 6749 answer to a failed request; a failed client authentication also counts
    against the client and the address (and says how much is left)."""
    response = oauth_error_response(error, basic_auth_used=basic_auth_used)
    if response.status_code == 401:
        response.headers.update(await limiter.record_failure(tenant, client_id, address))
    return response


@router.post(
    "/t/{tenant}/oauth2/token",
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
async def token_endpoint(tenant: str, request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return oauth_error(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    raw = await request.body()
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params and key != "resource":
            # RFC 6749 §3.2: parameters must not be included more than once.
            return oauth_error("invalid_request", f"The parameter {key!r} is repeated.")
        params[key] = value
    resources = [v for k, v in pairs if k == "resource"]

    try:
        basic = _basic_credentials(request.headers.get("authorization", ""))
    except MalformedBasic as exc:
        return oauth_error(
            "invalid_request",
            f"The Authorization header is not valid HTTP Basic: {exc}. Send "
            "'Basic base64(urlencode(client_id) + \":\" + urlencode(client_secret))' "
            "(RFC 6749 §2.3.1), or client_id and client_secret as form fields.",
        )
    if basic is not None and ("client_secret" in params):
        return oauth_error(
            "invalid_request", "Use one client authentication method, not Basic and form both."
        )
    if basic is not None:
        client_id, secret, method = basic[0], basic[1], "client_secret_basic"
        if params.get("client_id") not in (None, client_id):
            return oauth_error(
                "invalid_request", "client_id in the body differs from the Basic credentials."
            )
    else:
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        method = "client_secret_post" if secret else "none"
    limiter: FailedAuthLimiter = request.app.state.failed_auth
    address = request.client.host if request.client else ""
    refused = await limiter.refusal(tenant, client_id, address)
    if refused is not None:
        return oauth_error(
            "temporarily_unavailable",
            "Too many failed client authentications for this client or from this address; "
            f"retry after {refused.retry_after} seconds.",
            status=429,
            headers=refused.headers,
        )
    if not TENANT_SLUG_PATTERN.fullmatch(tenant):
        # Exactly the answer an unknown tenant gets from the registry: no oracle (§7).
        unknown = RemoteError(
            grpc.StatusCode.UNAUTHENTICATED,
            "Client authentication failed.",
            "INVALID_CLIENT",
            metadata={"oauth_error": "invalid_client"},
        )
        return await _failed(unknown, basic is not None, limiter, tenant, client_id, address)

    exchange = token_pb2.ExchangeRequest(
        tenant=tenant,
        grant_type=params.get("grant_type", ""),
        client_id=client_id,
        client_secret=secret,
        scope=params.get("scope", ""),
        app=params.get("app", ""),
        resource=resources,
        client_auth_method=method,
    )
    try:
        issued = await call(_clients(request).token.Exchange, exchange)
    except RemoteError as error:
        return await _failed(error, basic is not None, limiter, tenant, client_id, address)
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
    }
    if issued.scope:
        body["scope"] = issued.scope
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    if issued.id_token:
        body["id_token"] = issued.id_token
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


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


__all__ = ["router"]
