"""Which exceptions mean "a dependency of ours is down", as opposed to a bug.

ARCHITECTURE §7: failures of Tessera's own dependencies (PostgreSQL, Redis, a peer service)
reach callers as 503 with ``Retry-After``, never as a 4xx that blames the caller and never with
internal addresses or driver text. The gRPC error interceptor asks :func:`is_dependency_failure`
once per unexpected exception; everything else stays a masked INTERNAL error (a bug).
"""

from __future__ import annotations

import asyncio

import grpc
import redis.exceptions
import sqlalchemy.exc

# How long callers are told to wait before retrying a 503 (seconds, the Retry-After value).
RETRY_AFTER_SECONDS = 2

_DEPENDENCY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    # Connection refused/reset/lost, server shutting down, pool exhausted, statement cancelled,
    # serialisation failures: all transient and none of the caller's doing.
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
)

_PEER_DOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def is_dependency_failure(error: BaseException) -> bool:
    """True when ``error`` (or what it was raised from) is an outage of a dependency."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DEPENDENCY_EXCEPTIONS):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, grpc.aio.AioRpcError) and current.code() in _PEER_DOWN:
            return True
        current = current.__cause__ or current.__context__
    return False
