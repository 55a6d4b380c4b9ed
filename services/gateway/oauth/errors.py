"""Error responses of the token endpoint (RFC 6749 §5.2): a JSON object with ``error`` and
``error_description``, status 400, or 401 with ``WWW-Authenticate`` for ``invalid_client``
(§5.2: "the authorization server MAY return an HTTP 401 ... and MUST include the
WWW-Authenticate response header field" when the client used HTTP Basic)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc

from services.common.dependency_failures import RETRY_AFTER_SECONDS
from services.common.grpc_errors import RemoteError

# RFC 6749 §5.1/§5.2: token responses and errors must not be cached.
NO_STORE = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
JSON = (b"content-type", b"application/json")

# The OAuth error a service failure means when the service named none (metadata oauth_error).
_DEFAULT_ERRORS: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAUTHENTICATED: "invalid_client",
    grpc.StatusCode.PERMISSION_DENIED: "unauthorized_client",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_request",
    grpc.StatusCode.FAILED_PRECONDITION: "invalid_grant",
    grpc.StatusCode.UNAVAILABLE: "temporarily_unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "temporarily_unavailable",
}


@dataclass(frozen=True)
class Rendered:
    """An HTTP response as the ASGI server sends it."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


@dataclass(frozen=True)
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400
    headers: tuple[tuple[str, str], ...] = ()

    def render(self) -> Rendered:
        body = json.dumps({"error": self.error, "error_description": self.description})
        extra = tuple((k.lower().encode(), v.encode()) for k, v in self.headers)
        return Rendered(self.status, (JSON, *NO_STORE, *extra), body.encode())


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def from_remote(error: RemoteError, *, basic_auth_used: bool) -> OAuthError:
    """The token service's (or registry's) failure as the client hears it."""
    code = error.metadata.get("oauth_error") or _DEFAULT_ERRORS.get(error.code, "server_error")
    if code == "invalid_client":
        challenge = 'Basic realm="tessera"' if basic_auth_used else "Bearer"
        return OAuthError(code, error.message, 401, (("WWW-Authenticate", challenge),))
    if code == "server_error":
        return OAuthError(code, error.message, 500)
    if code == "temporarily_unavailable":
        return OAuthError(code, error.message, 503, (("Retry-After", str(RETRY_AFTER_SECONDS)),))
    return OAuthError(code, error.message)
