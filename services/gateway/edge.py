"""Limits and headers every gateway response gets, before any route runs.

A pure ASGI middleware (no per-request task or body buffering, so the token path stays
cheap). It refuses, with a clear body, what no route should ever have to look at: a request
path longer than :data:`MAX_PATH_BYTES` (414), an ``Authorization`` header over
:data:`MAX_AUTHORIZATION_BYTES` or headers over :data:`MAX_HEADER_BYTES` in all (431), a body
over the path's limit (413: admin API 1 MiB, OAuth endpoints 16 KiB) by its declared length
before anything is read, and by counting while a route reads it otherwise.

Every response gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``;
a response that sets no Content-Security-Policy of its own gets one that allows nothing
(API documents are never meant to be rendered, framed or run as pages).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.problems import oauth_error, problem

MAX_PATH_BYTES = 2048
MAX_AUTHORIZATION_BYTES = 8 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_ADMIN_BODY_BYTES = 1024 * 1024
MAX_OAUTH_BODY_BYTES = 16 * 1024
DENY_ALL_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

_SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))


NUL_REFUSED = (
    "The request contains a NUL character (U+0000), which no identifier, name or secret can "
    "hold; remove it."
)
_LONGEST_NUL_FORM = len(b"\\u0000")


def _nul_forms(content_type: str) -> tuple[bytes, ...]:
    """How a NUL character is spelled in a body of this type: Tessera stores none (PostgreSQL
    text cannot hold one), so a request carrying one is refused up front, alike on every
    backend, instead of failing deep in a store."""
    if "x-www-form-urlencoded" in content_type:
        return (b"\x00", b"%00")
    return (b"\x00", b"\\u0000")


def is_oauth_path(path: str) -> bool:
    """The per-tenant OAuth/OIDC endpoints answer with RFC 6749 bodies, not problem+json."""
    return path.startswith("/t/")


def body_limit(path: str) -> int:
    return MAX_ADMIN_BODY_BYTES if path.startswith("/api/") else MAX_OAUTH_BODY_BYTES


def too_large(limit: int) -> str:
    return f"The request body exceeds {limit // 1024} KiB; send less."


class EdgeRefusal(HTTPException):
    """Raised from ``receive`` while a route reads the body; the app's HTTP error handler
    renders it like any other refusal, with this ``reason``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(status, detail)
        self.reason = reason


def body_too_large(limit: int) -> EdgeRefusal:
    return EdgeRefusal(413, "BODY_TOO_LARGE", too_large(limit))


def refusal(path: str, status: int, reason: str, detail: str) -> Response:
    """A refusal in the style the path's clients expect (RFC 6749 or RFC 9457)."""
    if is_oauth_path(path):
        return oauth_error("invalid_request", detail, status=status)
    return problem(status, reason, detail, instance=path)


class EdgeGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DENY_ALL_CSP))
                message = {**message, "headers": headers}
            await send(message)

        refused = self._refusal(scope)
        if refused is not None:
            status, reason, detail = refused
            response = refusal(scope["path"], status, reason, detail)
            response.headers["Connection"] = "close"
            await response(scope, receive, send_with_headers)
            return
        limit = body_limit(scope["path"])
        received = 0
        nul_forms = _nul_forms(Headers(scope=scope).get("content-type", ""))
        tail = b""

        async def receive_within_limit() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise body_too_large(limit)
                # The last bytes of the previous chunk: a form split between two chunks.
                window = tail + chunk
                if any(form in window for form in nul_forms):
                    raise EdgeRefusal(400, "NUL_CHARACTER", NUL_REFUSED)
                tail = window[-(_LONGEST_NUL_FORM - 1) :]
            return message

        await self.app(scope, receive_within_limit, send_with_headers)

    @staticmethod
    def _refusal(scope: Scope) -> tuple[int, str, str] | None:
        path_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if path_bytes > MAX_PATH_BYTES:
            return (
                414,
                "URI_TOO_LONG",
                f"The request target exceeds {MAX_PATH_BYTES} bytes; identifiers and query "
                "parameters are short, check the URL.",
            )
        total = 0
        for name, value in scope["headers"]:
            total += len(name) + len(value)
            if name == b"authorization" and len(value) > MAX_AUTHORIZATION_BYTES:
                return (
                    431,
                    "AUTHORIZATION_TOO_LARGE",
                    f"The Authorization header exceeds {MAX_AUTHORIZATION_BYTES} bytes; send "
                    "an access token from the token endpoint.",
                )
        if total > MAX_HEADER_BYTES:
            return (
                431,
                "HEADERS_TOO_LARGE",
                f"The request headers exceed {MAX_HEADER_BYTES} bytes in all.",
            )
        target = (scope.get("raw_path") or b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in target or "\x00" in scope["path"]:
            return (400, "NUL_CHARACTER", NUL_REFUSED)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            limit = body_limit(scope["path"])
            if not (declared.isascii() and declared.isdigit()):
                return (400, "CONTENT_LENGTH_INVALID", "Content-Length must be a whole number.")
            if int(declared) > limit:
                return (413, "BODY_TOO_LARGE", too_large(limit))
        return None
