"""The gateway's FastAPI application: REST admin API, OAuth/OIDC endpoints, health."""

from __future__ import annotations

import uuid

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.grpc_errors import RemoteError
from services.common.settings import Settings
from services.gateway.clients import GatewayClients
from services.gateway.problems import problem, problem_from_remote
from services.gateway.routes import admin, catalog, directory, oauth

log = structlog.get_logger("tessera.gateway")

DESCRIPTION = """
Tessera's admin REST API and per-tenant OAuth 2.0 endpoints.

Authenticate admin calls with a bearer token from
`POST /t/{tenant}/oauth2/token` (client_credentials). Errors are RFC 9457
`application/problem+json` documents with a stable `reason` and, for validation failures,
an `errors` list of `{field, reason, message}`.
"""


def _field_path(location: tuple[object, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


def create_app(settings: Settings, clients: GatewayClients) -> FastAPI:
    app = FastAPI(
        title="Tessera",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.clients = clients

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
        reason = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            error.status_code, "HTTP_ERROR"
        )
        return problem(error.status_code, reason, str(error.detail), instance=request.url.path)

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

    app.include_router(admin.router)
    app.include_router(catalog.router)
    app.include_router(directory.router)
    app.include_router(oauth.router)
    return app
