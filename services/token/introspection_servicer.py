"""Introspection (RFC 7662) and revocation (RFC 7009) RPCs of TokenService: translate, call
the domain (services.token.domain.introspection, .revocation), translate back."""

from __future__ import annotations

import json
import time
from typing import Any

from tessera.token.v1 import token_pb2

from services.common.db import Database
from services.common.hashing import PepperRing, SecretHasher
from services.common.runtime import Runtime
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.introspection import (
    AccessTokenReader,
    CallerAuthentication,
    Introspection,
    PresentedToken,
    PublishedKeys,
)
from services.token.domain.revocation import Revocation, RevocationList
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.storage.revocations import SqlRevocationStore


def _presented(request: token_pb2.IntrospectRequest | token_pb2.RevokeRequest) -> PresentedToken:
    return PresentedToken(
        tenant=request.tenant,
        client_id=request.client.client_id,
        client_secret=request.client.client_secret,
        token=request.token,
        token_type_hint=request.token_type_hint,
    )


class IntrospectionServicer:
    def __init__(self, introspection: Introspection, revocation: Revocation) -> None:
        self._introspection = introspection
        self._revocation = revocation

    @classmethod
    def assemble(
        cls,
        runtime: Runtime,
        database: Database,
        keys: PublishedKeys,
        snapshots: SnapshotCache,
        upkeep: SecretUpkeepReporter,
    ) -> IntrospectionServicer:
        """Built from the token component's parts (services.token.wiring).

        The revocation board is the one the token-service replicas share: Redis when
        configured (production requires it); without Redis, this process's own board when the
        registry runs here too (the embedded default: one process). Otherwise, several
        processes without a shared board, revocations are read from the store each time.
        """
        settings = runtime.settings
        shared = settings.redis_url is not None or "registry" in runtime.addresses
        callers = CallerAuthentication(
            snapshots,
            ClientAuthenticator(SecretHasher(PepperRing.parse(runtime.keys.secret_peppers))),
            upkeep,
            clock=time.time,
        )
        tokens = AccessTokenReader(keys, settings.issuer)
        revocations = RevocationList(
            SqlRevocationStore(database), runtime.versions if shared else None
        )
        return cls(
            Introspection(callers, tokens, snapshots, revocations),
            Revocation(callers, tokens, revocations),
        )

    async def Introspect(
        self, request: token_pb2.IntrospectRequest, _context: Any
    ) -> token_pb2.IntrospectResponse:
        answer = await self._introspection.introspect(_presented(request))
        return token_pb2.IntrospectResponse(json=json.dumps(answer, separators=(",", ":")))

    async def Revoke(
        self, request: token_pb2.RevokeRequest, _context: Any
    ) -> token_pb2.RevokeResponse:
        await self._revocation.revoke(_presented(request))
        return token_pb2.RevokeResponse()
