"""Signing-key RPCs of TokenService (ListSigningKeys, RotateSigningKey): translate, call the
domain (services.token.domain.keys.SigningKeyAdmin), translate back.

The caller is the bearer token in the call's metadata (the gateway forwards the admin's),
verified against the token service's own keys (services.token.wiring).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from tessera.token.v1 import token_pb2

from services.common.auth import Authenticator
from services.token.domain.keys import SigningKeyAdmin, StoredKey

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def signing_key_pb(key: StoredKey) -> token_pb2.SigningKey:
    message = token_pb2.SigningKey(
        kid=key.kid, alg=key.alg, state=key.state, created_at=_timestamp(key.created_at)
    )
    for name in ("activates_at", "activated_at", "publish_until"):
        value: datetime | None = getattr(key, name)
        if value is not None:
            getattr(message, name).CopyFrom(_timestamp(value))
    return message


class KeysServicer:
    def __init__(self, admin: SigningKeyAdmin, auth: Authenticator) -> None:
        self._admin = admin
        self._auth = auth

    async def ListSigningKeys(
        self, request: token_pb2.ListSigningKeysRequest, context: Context
    ) -> token_pb2.ListSigningKeysResponse:
        keys = await self._admin.list(await self._auth.principal(context), request.tenant)
        return token_pb2.ListSigningKeysResponse(keys=[signing_key_pb(k) for k in keys])

    async def RotateSigningKey(
        self, request: token_pb2.RotateSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        key = await self._admin.rotate(
            await self._auth.principal(context),
            request.tenant,
            request.alg,
            request.lead_seconds,
        )
        return signing_key_pb(key)
