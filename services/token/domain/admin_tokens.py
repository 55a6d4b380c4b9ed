"""Whether an admin caller's token still stands, for the token service's own admin RPCs (the
signing keys): a signature proves who was given the token, not that they still may act
(ARCHITECTURE §2). A client token stands while its client exists in the token's tenant, is
enabled, and was not revoked by a secret regeneration since the token was minted — the same
facts introspection checks, read through the same snapshot cache (no stale window). Service
tokens are short-lived and checked by signature."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from services.token.domain.introspection import secrets_cutoff
from services.token.domain.snapshot_cache import SnapshotCache
from tessera_sdk.verifier import TokenRejected, VerifiedToken


class ClientTokenStands:
    def __init__(self, snapshots: SnapshotCache, clock: Callable[[], float] = time.time) -> None:
        self._snapshots = snapshots
        self._clock = clock

    async def __call__(self, token: VerifiedToken) -> None:
        claims = token.claims
        if claims.get("svc"):
            return
        if claims.get("uid"):
            # User tokens come with sign-in, and with them the user checks (enabled, tv).
            raise TokenRejected("REVOKED", "User tokens are not accepted here yet.")
        client = await self._snapshots.get(token.tenant, str(claims.get("client_id", "")))
        if not client.found or not client.enabled:
            raise TokenRejected("REVOKED", "The client of this token was deleted or disabled.")
        cutoff = secrets_cutoff(client, datetime.fromtimestamp(self._clock(), UTC))
        if cutoff is not None and int(claims.get("iat", 0)) < cutoff:
            raise TokenRejected("REVOKED", "The token was revoked by a secret regeneration.")
