"""gRPC status → HTTP, in one table (STYLE habit 4).

Admin API errors are RFC 9457 ``application/problem+json``; OAuth endpoints answer with
RFC 6749 §5.2 bodies instead (services.gateway.oauth.errors). Every ``grpc.StatusCode`` has an
entry; the test suite checks the table is total.
"""

from __future__ import annotations

from typing import Any

import grpc
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.common.dependency_failures import RETRY_AFTER_SECONDS
from services.common.errors import DomainError
from services.common.grpc_errors import KIND_TO_CODE, RemoteError
from services.gateway.oauth import errors as oauth_errors

GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    # A Tessera service that does not answer in time is a dependency outage to the caller:
    # 503 with Retry-After like every other (ARCHITECTURE §7), not 504.
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    # The request conflicts with the current state (app limit, blockers, inactive region).
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    # Tessera raises ABORTED only for a stale optimistic-concurrency version (If-Match).
    grpc.StatusCode.ABORTED: 412,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FieldError(BaseModel):
    field: str
    reason: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every admin API error is rendered."""

    type: str
    title: str
    status: int
    detail: str
    reason: str = Field(description="Stable, machine-readable reason (never reworded).")
    instance: str | None = None
    errors: list[FieldError] | None = Field(None, description="One entry per invalid field.")
    blockers: list[str] | None = Field(None, description="What must go first (409).")
    metadata: dict[str, str] | None = None
    reference: str | None = Field(None, description="Quote it when reporting a 500.")


class OAuthError(BaseModel):
    """RFC 6749 §5.2 error response."""

    error: str
    error_description: str | None = None


PROBLEM_TYPE_BASE = "https://tessera.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    reason: str,
    detail: str,
    *,
    instance: str = "",
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem document. ``type`` is stable per reason; ``errors`` lists fields."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + reason.lower().replace("_", "-"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "reason": reason,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_from_domain(error: DomainError, instance: str = "") -> JSONResponse:
    """A refusal decided at the gateway itself, rendered exactly as the registry's would be."""
    remote = RemoteError(
        KIND_TO_CODE[error.kind],
        error.message,
        error.reason,
        metadata=error.metadata,
        violations=error.violations,
        blockers=error.blockers,
    )
    return problem_from_remote(remote, instance=instance)


def problem_from_remote(error: RemoteError, instance: str = "") -> JSONResponse:
    status = GRPC_TO_HTTP[error.code]
    extra: dict[str, Any] = {}
    if error.blockers:
        extra["blockers"] = error.blockers
    if error.metadata:
        extra["metadata"] = error.metadata
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="tessera"'}
    elif status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(
        status,
        error.reason or error.code.name,
        error.message,
        instance=instance,
        errors=[
            {"field": v.field, "reason": v.reason, "message": v.message} for v in error.violations
        ],
        extra=extra,
        headers=headers,
    )


def oauth_error(
    code: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    """An RFC 6749 §5.2 error as a Starlette response (edge refusals, framework errors on
    OAuth paths), rendered by the OAuth core like the token endpoint's own."""
    error = oauth_errors.OAuthError(code, description, status, tuple((headers or {}).items()))
    rendered = error.render()
    return Response(
        rendered.body,
        status_code=rendered.status,
        headers={name.decode(): value.decode() for name, value in rendered.headers},
    )
