"""How the gateway reaches the token service's Exchange: over gRPC when the token service runs
elsewhere, by a direct call when it runs in this process (the embedded default, and any
``tessera serve`` of both): the hottest path then skips serialising, the loopback socket and
the second gRPC stack, and keeps the same contract (the protobuf messages, and failures as the
RemoteError the wire would have carried)."""

from __future__ import annotations

from typing import Any, Protocol

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.grpc_errors import local_failure
from services.gateway.clients import call


class TokenPort(Protocol):
    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        """The token service's answer; RemoteError when it refuses or fails."""
        ...


class LocalExchange(Protocol):
    """The token service's servicer method, called in process (no gRPC context needed)."""

    async def Exchange(
        self, request: token_pb2.ExchangeRequest, context: Any
    ) -> token_pb2.TokenResponse: ...


class GrpcTokenPort:
    def __init__(self, stub: token_pb2_grpc.TokenServiceStub) -> None:
        self._stub = stub

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        return await call(self._stub.Exchange, request)


class InProcessTokenPort:
    def __init__(self, servicer: LocalExchange) -> None:
        self._servicer = servicer

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        try:
            return await self._servicer.Exchange(request, None)
        except Exception as error:
            raise local_failure(error, "/tessera.token.v1.TokenService/Exchange") from error
