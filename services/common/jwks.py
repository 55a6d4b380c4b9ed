"""JWKS over gRPC: how platform services fetch a tenant's keys from the token service."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from tessera.token.v1 import token_pb2, token_pb2_grpc


class GrpcJwksSource:
    """A :class:`tessera_sdk.verifier.JwksSource` backed by the token service's GetJwks.

    An unknown tenant has no keys (the verifier then refuses the token as signed by an unknown
    key); any other failure propagates, and the verifier reports the keys as unavailable.
    """

    def __init__(self, stub: Callable[[], token_pb2_grpc.TokenServiceStub]) -> None:
        self._stub = stub

    async def fetch(self, tenant: str) -> dict[str, Any]:
        try:
            response = await self._stub().GetJwks(
                token_pb2.GetJwksRequest(tenant=tenant), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return {"keys": []}
            raise
        document: dict[str, Any] = json.loads(response.json)
        return document
