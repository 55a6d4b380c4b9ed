"""Per-tenant OAuth 2.0 / OpenID Connect endpoints: token, discovery, JWKS.

Errors here use RFC 6749 §5.2 bodies, never problem+json.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from tessera.token.v1 import token_pb2

from services.common.grpc_errors import RemoteError
from services.gateway.clients import GatewayClients, call
from services.gateway.problems import oauth_error, oauth_error_response, problem_from_remote

router = APIRouter(tags=["oauth2"])
_TENANT = re.compile(r"[a-z][a-z0-9-]{1,62}")
_JWKS_MAX_AGE = 300
# A token request is a handful of short parameters; anything larger is abuse.
MAX_TOKEN_REQUEST_BYTES = 16 * 1024


def _clients(request: Request) -> GatewayClients:
    gateway_clients: GatewayClients = request.app.state.clients
    return gateway_clients


def _issuer(request: Request, tenant: str) -> str:
    public_url: str = request.app.state.settings.public_url
    return f"{public_url}/t/{tenant}"


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64 encoding."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return ("", "")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post("/t/{tenant}/oauth2/token", summary="Token endpoint (RFC 6749 §3.2)")
async def token_endpoint(tenant: str, request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return oauth_error(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_TOKEN_REQUEST_BYTES:
        # Refuse before reading: a declared length is enough to know.
        return oauth_error(
            "invalid_request", f"The request body exceeds {MAX_TOKEN_REQUEST_BYTES} bytes."
        )
    raw = await request.body()
    if len(raw) > MAX_TOKEN_REQUEST_BYTES:
        return oauth_error(
            "invalid_request", f"The request body exceeds {MAX_TOKEN_REQUEST_BYTES} bytes."
        )
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params and key != "resource":
            # RFC 6749 §3.2: parameters must not be included more than once.
            return oauth_error("invalid_request", f"The parameter {key!r} is repeated.")
        params[key] = value
    resources = [v for k, v in pairs if k == "resource"]

    basic = _basic_credentials(request.headers.get("authorization", ""))
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
    if not _TENANT.fullmatch(tenant):
        # Exactly the answer an unknown tenant gets from the registry: no oracle (§7).
        unknown = RemoteError(
            grpc.StatusCode.UNAUTHENTICATED,
            "Client authentication failed.",
            "INVALID_CLIENT",
            metadata={"oauth_error": "invalid_client"},
        )
        return oauth_error_response(unknown, basic_auth_used=basic is not None)

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
        return oauth_error_response(error, basic_auth_used=basic is not None)
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


@router.get(
    "/t/{tenant}/.well-known/openid-configuration", summary="Discovery (OIDC Discovery / RFC 8414)"
)
async def discovery(tenant: str, request: Request) -> Response:
    issuer = _issuer(request, tenant)
    document = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
        "scopes_supported": [],
        "access_token_signing_alg_values_supported": ["ES256"],
        "service_documentation": f"{request.app.state.settings.public_url}/docs",
    }
    return JSONResponse(document, headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"})


@router.get(
    "/t/{tenant}/.well-known/jwks.json", summary="The tenant's public signing keys (RFC 7517)"
)
async def jwks(tenant: str, request: Request) -> Response:
    if not _TENANT.fullmatch(tenant):
        return JSONResponse({"keys": []}, status_code=404)
    try:
        result = await call(
            _clients(request).token.GetJwks, token_pb2.GetJwksRequest(tenant=tenant)
        )
    except RemoteError as error:
        return problem_from_remote(error, instance=str(request.url.path))
    return Response(
        content=result.json,
        media_type="application/jwk-set+json",
        headers={"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"},
    )


__all__ = ["json", "router"]
