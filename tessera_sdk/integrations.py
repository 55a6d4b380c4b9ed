"""The token verifier as a FastAPI dependency and as a gRPC server interceptor.

Both answer the way RFC 6750 §3 asks of a resource server: no or a bad token → 401 /
UNAUTHENTICATED (``invalid_token``); a valid token lacking a permission → 403 /
PERMISSION_DENIED (``insufficient_scope``); the issuer's keys out of reach → 503 /
UNAVAILABLE with a retry hint (not the caller's fault). ``app_code`` pins the app a token must have been
minted for (Vendidit seed §3: "asserts claims.app_id matches this app's code").
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from fastapi import HTTPException, Request

from tessera_sdk.verifier import BaseTokenVerifier, KeysUnavailable, TokenRejected, VerifiedToken

RETRY_AFTER_SECONDS = 2

current_token: contextvars.ContextVar[VerifiedToken | None] = contextvars.ContextVar(
    "tessera_current_token", default=None
)


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _bearer(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _check(
    verifier: BaseTokenVerifier, token: str, permissions: frozenset[str], app_code: str | None
) -> VerifiedToken:
    verified = await verifier.verify(token)
    if app_code is not None and verified.claims.get("app_code") != app_code:
        raise Forbidden(f"This service accepts tokens of app {app_code!r} only.")
    missing = sorted(permissions - verified.permissions)
    if missing:
        raise Forbidden(f"The token lacks the permission(s) {', '.join(missing)}.")
    return verified


def require_token(
    verifier: BaseTokenVerifier, *, permissions: Iterable[str] = (), app_code: str | None = None
) -> Callable[[Request], Awaitable[VerifiedToken]]:
    """A FastAPI dependency: ``token: VerifiedToken = Depends(require_token(verifier, ...))``."""
    needed = frozenset(permissions)

    async def dependency(request: Request) -> VerifiedToken:
        token = _bearer(request.headers.get("authorization", ""))
        if token is None:
            raise HTTPException(
                401, "A bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            return await _check(verifier, token, needed, app_code)
        except TokenRejected as exc:
            raise HTTPException(
                401,
                exc.message,
                headers={
                    "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.reason}"'
                },
            ) from exc
        except Forbidden as exc:
            raise HTTPException(
                403, exc.message, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
            ) from exc
        except KeysUnavailable as exc:
            raise HTTPException(
                503, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            ) from exc

    return dependency


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Verifies the ``authorization`` metadata of every call; the handler reads the verified
    token from :data:`current_token`. ``public_methods`` (full names) skip verification,
    e.g. the health service."""

    def __init__(
        self,
        verifier: BaseTokenVerifier,
        *,
        permissions: Iterable[str] = (),
        app_code: str | None = None,
        public_methods: Iterable[str] = (
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
        ),
    ) -> None:
        self._verifier = verifier
        self._permissions = frozenset(permissions)
        self._app_code = app_code
        self._public = frozenset(public_methods)

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or details.method in self._public:
            return handler
        behaviour = handler.unary_unary
        metadata = dict(details.invocation_metadata or ())

        async def verified_call(request: Any, context: Any) -> Any:
            token = _bearer(str(metadata.get("authorization", "")))
            if token is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "A bearer token is required.")
            try:
                verified = await _check(
                    self._verifier, str(token), self._permissions, self._app_code
                )
            except TokenRejected as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{exc.reason}: {exc.message}")
            except Forbidden as exc:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, exc.message)
            except KeysUnavailable as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            reset = current_token.set(verified)
            try:
                return await behaviour(request, context)
            finally:
                current_token.reset(reset)

        return grpc.unary_unary_rpc_method_handler(
            verified_call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
