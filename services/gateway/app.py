"""The gateway's FastAPI application: REST admin API, OAuth/OIDC endpoints, health."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from tessera.registry.v1 import registry_pb2

from services.common.auth import Authenticator, accept_every_tenant
from services.common.grpc_errors import RemoteError
from services.common.jwks import GrpcJwksSource
from services.common.settings import Settings
from services.gateway import docs
from services.gateway.access import AdminGate
from services.gateway.clients import GatewayClients, call
from services.gateway.cors import OriginPolicy, TenantCors
from services.gateway.edge import EdgeGuard, is_oauth_path
from services.gateway.problems import PROBLEM_MEDIA_TYPE, oauth_error, problem, problem_from_remote
from services.gateway.rate_limits import FailedAuthLimiter
from services.gateway.routes import admin, catalog, directory, keys, oauth, oauth_tokens
from services.gateway.token_endpoint import TokenEndpoint
from services.gateway.token_port import TokenPort
from tessera_sdk.verifier import BaseTokenVerifier

log = structlog.get_logger("tessera.gateway")

DESCRIPTION = """
Tessera's admin REST API and per-tenant OAuth 2.0 endpoints.

Authenticate admin calls with a bearer token from
`POST /t/{tenant}/oauth2/token` (client_credentials). Errors are RFC 9457
`application/problem+json` documents with a stable `reason` and, for validation failures,
an `errors` list of `{field, reason, message}`.
"""

_HTTP_REASONS = {
    404: "ROUTE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def _field_path(location: tuple[object, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with errors declared as they are sent: problem+json, and 400 (not
    FastAPI's default 422) for validation failures."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=[*app.routes, oauth.TOKEN_ENDPOINT_DOCS],
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)
                for response in responses.values():
                    content = response.get("content", {})
                    schema = content.get("application/json", {}).get("schema", {})
                    if schema.get("$ref", "").endswith("/Problem"):
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


def create_app(settings: Settings, clients: GatewayClients, token: TokenPort) -> FastAPI:
    app = FastAPI(
        title="Tessera",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.clients = clients
    app.state.token = token
    app.state.failed_auth = FailedAuthLimiter.create(
        settings.redis_url,
        settings.rate_limit_failed_auth_per_client,
        settings.rate_limit_failed_auth_per_address,
    )
    app.state.gate = AdminGate(
        Authenticator(
            BaseTokenVerifier(
                settings.public_url,
                GrpcJwksSource(lambda: clients.token),
                accept_tenant=accept_every_tenant,
            )
        )
    )

    async def origin_allowed(tenant: str, origin: str) -> bool:
        answer = await call(
            clients.registry.CheckOrigin,
            registry_pb2.CheckOriginRequest(tenant=tenant, origin=origin),
            timeout=5,
        )
        return bool(answer.allowed)

    # The last added runs first: limits and security headers wrap everything, CORS included;
    # the token endpoint answers inside both, before any routing.
    app.add_middleware(TokenEndpoint, port=token, limiter=app.state.failed_auth)
    app.add_middleware(TenantCors, policy=OriginPolicy(origin_allowed))
    app.add_middleware(EdgeGuard)

    @app.exception_handler(RemoteError)
    async def remote_error_handler(request: Request, error: RemoteError) -> Response:
        return problem_from_remote(error, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_handler(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {
                "field": _field_path(tuple(e.get("loc", ()))),
                "reason": str(e.get("type", "invalid")).upper(),
                "message": str(e.get("msg", "")),
            }
            for e in error.errors()
        ]
        return problem(
            400,
            "VALIDATION_FAILED",
            "The request has invalid fields.",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error_handler(request: Request, error: StarletteHTTPException) -> Response:
        detail = str(error.detail)
        if is_oauth_path(request.url.path) and error.status_code not in (404, 405):
            return oauth_error("invalid_request", detail, status=error.status_code)
        reason = getattr(error, "reason", None) or _HTTP_REASONS.get(
            error.status_code, "HTTP_ERROR"
        )
        return problem(error.status_code, reason, detail, instance=request.url.path)

    @app.exception_handler(Exception)
    async def unhandled(request: Request, error: Exception) -> Response:
        reference = uuid.uuid4().hex[:16]
        log.error(
            "unhandled gateway error", path=request.url.path, reference=reference, exc_info=error
        )
        return problem(
            500,
            "INTERNAL",
            f"Internal error; quote reference {reference} when reporting it.",
            instance=request.url.path,
            extra={"reference": reference},
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.include_router(docs.router)
    app.include_router(admin.router)
    app.include_router(catalog.router)
    app.include_router(directory.router)
    app.include_router(keys.router)
    app.include_router(oauth.router)
    app.include_router(oauth_tokens.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
