"""JWKS over gRPC: how platform services fetch a tenant's keys from the token service."""

from __future__ import annotations

import json
from typing import Any

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.grpc_server import LazyChannel


class GrpcJwksSource:
    def __init__(self, token_channel: LazyChannel) -> None:
        self._channel = token_channel

    async def fetch(self, tenant: str) -> dict[str, Any]:
        stub = token_pb2_grpc.TokenServiceStub(self._channel.get())
        response = await stub.GetJwks(token_pb2.GetJwksRequest(tenant=tenant), timeout=10)
        document: dict[str, Any] = json.loads(response.json)
        return document
