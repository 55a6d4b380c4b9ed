"""Token revocation (RFC 7009) of access tokens, by ``jti``, and the check introspection makes
(services.token.domain.introspection). The JWT itself stays self-contained: a local verifier
that does not introspect keeps accepting a revoked token until it expires, which is why the
SDK offers an introspection mode (tessera_sdk.introspection).

Who may revoke what (RFC 7009 §2.1): a client, authenticated as at the token endpoint (a
public client by its ``client_id``), revokes the access tokens issued to it: the token's
``client_id`` claim is the caller's. A token of another client or another tenant, an expired
one, an unknown or malformed one are all answered like a revoked one, with nothing done
(§2.2: "invalid tokens do not cause an error response"; telling "not yours" from "not a
token" would reveal which tokens are valid). Every token Tessera issues today is an access
token and every one is revocable, so ``unsupported_token_type`` (§2.2.1) never arises, and
the hint changes nothing (§2.1: the server searches every type it supports).

A revoked ``jti`` is recorded until the token's ``exp`` and no longer (the store prunes
expired rows as it writes: services.token.storage.revocations).

Seen at once on every replica: once a revocation has returned, the next introspection on any
token-service replica answers ``active: false``. Reading the store on every introspection
would cost a query on a path that otherwise makes none; instead each replica caches "not
revoked" answers per ``(tenant, jti)`` together with the tenant's revocation version read
from the version board (services.common.versions; scope ``revocations:<tenant>``, a name no
tenant slug can take) BEFORE the store was read, and serves one only while the board still
shows that version. A revocation is written to the store first and then announces a fresh
version, so a cached answer that may predate the row is never served after the revocation
returned. Revocations are rare, so the version rarely moves and a warm check is one board
read (batched with the snapshot cache's into one Redis MGET). "Revoked" answers are cached
for good (a revocation is never undone). A board that cannot be read, or none (``board``
None: token-service processes that share no board), means reading the store every time. A
board that lost its number (a Redis restart) gets a fresh one before the store is read. When
the announcement fails after the row was written, the caller hears 503 (§2.2.1: it then
assumes the token still exists and retries; the retry announces again).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

import structlog

from services.common.errors import Unavailable
from services.common.versions import VersionBoard
from services.token.domain.introspection import (
    AccessTokenReader,
    CallerAuthentication,
    PresentedToken,
)

log = structlog.get_logger("tessera.token")

DEFAULT_ENTRIES = 100_000
_REVOKED: Final = -1  # cached for good; board versions are never negative


def board_scope(tenant: str) -> str:
    """The version board scope of a tenant's revocations."""
    return f"revocations:{tenant}"


def fresh_version() -> int:
    """A number the board has not shown for this scope (with overwhelming probability)."""
    return secrets.randbits(62)


@dataclass(frozen=True)
class RevokedToken:
    tenant: str
    jti: str
    revoked_at: datetime
    expires_at: datetime  # the token's exp: the record is useless after it


class RevocationStore(Protocol):
    async def record(self, token: RevokedToken) -> None:
        """Record ``token`` (idempotent: a ``jti`` recorded already stays as it is); may
        delete a bounded number of records that expired before ``token.revoked_at``."""
        ...

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        """Whether ``tenant`` recorded ``jti``."""
        ...


class RevocationList:
    """Which access tokens are revoked, as every replica sees it at once (module docstring)."""

    def __init__(
        self,
        store: RevocationStore,
        board: VersionBoard | None,
        *,
        entries: int = DEFAULT_ENTRIES,
        new_version: Callable[[], int] = fresh_version,
    ) -> None:
        self._store = store
        self._board = board
        self._entries = entries
        self._new_version = new_version
        # (tenant, jti) → the board version it was read "not revoked" at, or _REVOKED.
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.store_reads = 0  # observability, tests

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        key = (tenant, jti)
        cached = self._seen.get(key)
        if cached == _REVOKED:
            return True
        version = await self._version(tenant)
        if version is not None and cached == version:
            self._seen.move_to_end(key)
            return False
        self.store_reads += 1
        revoked = await self._store.is_revoked(tenant, jti)
        if revoked:
            self._remember(key, _REVOKED)
        elif version is not None:
            self._remember(key, version)
        return revoked

    async def record(self, token: RevokedToken) -> None:
        """Record the revocation, then announce it to every replica. Raises Unavailable when
        the announcement fails (the record stays; a retry announces again)."""
        await self._store.record(token)
        self._remember((token.tenant, token.jti), _REVOKED)
        if self._board is None:
            return
        try:
            await self._board.announce(board_scope(token.tenant), self._new_version())
        except Unavailable as exc:
            raise Unavailable(
                "REVOCATION_NOT_ANNOUNCED",
                "The revocation is recorded, but not every token-service replica may know of "
                "it yet; retry the request shortly.",
            ) from exc

    async def _version(self, tenant: str) -> int | None:
        """The tenant's revocation version on the board, given a fresh one if the board has
        none; None when there is no board or it cannot be read (nothing may be cached)."""
        if self._board is None:
            return None
        scope = board_scope(tenant)
        try:
            [version] = await self._board.current([scope])
            if version is None:
                await self._board.remember(scope, self._new_version())
                [version] = await self._board.current([scope])
        except Unavailable:
            log.warning("version board unreadable; reading revocations from the store")
            return None
        return version

    def _remember(self, key: tuple[str, str], version: int) -> None:
        if self._seen.get(key) == _REVOKED:
            return
        self._seen[key] = version
        self._seen.move_to_end(key)
        while len(self._seen) > self._entries:
            self._seen.popitem(last=False)


class Revocation:
    """RFC 7009 §2 for the access tokens of the token endpoint (module docstring)."""

    def __init__(
        self,
        callers: CallerAuthentication,
        tokens: AccessTokenReader,
        revocations: RevocationList,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._callers = callers
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock

    async def revoke(self, request: PresentedToken) -> None:
        """Revoke ``request.token`` if it is a live access token issued to the caller; do
        nothing for any other token. Raises invalid_client when the caller does not
        authenticate. Side effects: the revocation recorded and announced; the caller's
        secret upkeep reported."""
        caller = await self._callers.identified(
            request.tenant, request.client_id, request.client_secret
        )
        claims = await self._tokens.read(request.tenant, request.token)
        if claims is None or claims["client_id"] != caller.client_id:
            return
        now = self._clock()
        if claims["exp"] <= now:
            return
        await self._revocations.record(
            RevokedToken(
                tenant=request.tenant,
                jti=claims["jti"],
                revoked_at=datetime.fromtimestamp(now, UTC),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        )
