"""CORS for the per-tenant OAuth endpoints, from the tenant's apps' allowed domains only.

ARCHITECTURE §2: an app's allowed domains "drive CORS". A browser page may call a tenant's
token, JWKS and discovery endpoints when its origin matches an allowed domain of one of the
tenant's enabled apps (the registry decides, :mod:`services.registry.resolution.origins`); any
other origin gets no CORS headers, and its preflight a 403 that says why. The admin API sends
no CORS headers at all: it is not meant to be called from other sites' pages.

Answers are cached per (tenant, origin) for :data:`CACHE_SECONDS`, so a change of an app's
domains reaches CORS within that time. No credentials mode: these endpoints use no cookies.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.dependency_failures import RETRY_AFTER_SECONDS
from services.common.vocabulary import TENANT_SLUG_PATTERN
from services.gateway.problems import oauth_error

log = structlog.get_logger("tessera.gateway.cors")

CORS_PATH = re.compile(
    rf"/t/(?P<tenant>{TENANT_SLUG_PATTERN.pattern})/"
    r"(?:oauth2/token|\.well-known/jwks\.json|\.well-known/openid-configuration)"
)
CACHE_SECONDS = 30.0
CACHE_ENTRIES = 10_000
ALLOWED_METHODS = b"GET, POST, OPTIONS"
ALLOWED_HEADERS = b"authorization, content-type"
MAX_AGE_SECONDS = b"600"

OriginCheck = Callable[[str, str], Awaitable[bool]]


class OriginPolicy:
    """Remembers the registry's answer per (tenant, origin) for a short while."""

    def __init__(self, check: OriginCheck, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._check = check
        self._clock = clock
        self._answers: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

    async def allowed(self, tenant: str, origin: str) -> bool:
        key = (tenant, origin)
        cached = self._answers.get(key)
        if cached is not None and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        answer = await self._check(tenant, origin)
        self._answers[key] = (self._clock(), answer)
        self._answers.move_to_end(key)
        while len(self._answers) > CACHE_ENTRIES:
            self._answers.popitem(last=False)
        return answer


class TenantCors:
    """Pure ASGI middleware; does nothing for paths outside :data:`CORS_PATH`."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = CORS_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        allowed = False
        if origin is not None:
            try:
                allowed = await self._policy.allowed(match["tenant"], origin)
            except Exception as exc:  # the registry is unreachable: see below
                log.warning("origin check failed", error=f"{type(exc).__name__}: {exc}"[:300])
                if preflight:
                    response = oauth_error(
                        "temporarily_unavailable",
                        "The allowed origins cannot be checked right now; retry shortly.",
                        status=503,
                    )
                    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                    await response(scope, receive, send)
                    return
        if preflight:
            await self._preflight(scope, receive, send, origin or "", allowed)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"vary", b"Origin")]
                if allowed and origin is not None:
                    extra.append((b"access-control-allow-origin", origin.encode("latin-1")))
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(
        scope: Scope, receive: Receive, send: Send, origin: str, allowed: bool
    ) -> None:
        if not allowed:
            response = oauth_error(
                "invalid_request",
                "This origin is not an allowed domain of any enabled app of this tenant; add it "
                "to the app's allowed_domains (https, or http://localhost).",
                status=403,
            )
            response.headers["Vary"] = "Origin"
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", ALLOWED_METHODS),
                    (b"access-control-allow-headers", ALLOWED_HEADERS),
                    (b"access-control-max-age", MAX_AGE_SECONDS),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
