"""How the gateway reaches the token service's OAuth RPCs (Exchange, Introspect, Revoke): over
gRPC when the token service runs elsewhere, by a direct call when it runs in this process (the embedded default, and any
``tessera serve`` of both): the hottest path then skips serialising, the loopback socket and
the second gRPC stack, and keeps the same contract (the protobuf messages, and failures as the
RemoteError the wire would have carried)."""

from __future__ import annotations

from typing import Any, Protocol

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.grpc_errors import local_failure
from services.gateway.clients import call


class TokenPort(Protocol):
    """The token service's OAuth RPCs; each raises RemoteError when it refuses or fails."""

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse: ...
    async def introspect(
        self, request: token_pb2.IntrospectRequest
    ) -> token_pb2.IntrospectResponse: ...
    async def revoke(self, request: token_pb2.RevokeRequest) -> token_pb2.RevokeResponse: ...


class LocalTokenService(Protocol):
    """The token service's servicer methods, called in process (no gRPC context needed)."""

    async def Exchange(
        self, request: token_pb2.ExchangeRequest, context: Any
    ) -> token_pb2.TokenResponse: ...
    async def Introspect(
        self, request: token_pb2.IntrospectRequest, context: Any
    ) -> token_pb2.IntrospectResponse: ...
    async def Revoke(
        self, request: token_pb2.RevokeRequest, context: Any
    ) -> token_pb2.RevokeResponse: ...


class GrpcTokenPort:
    def __init__(self, stub: token_pb2_grpc.TokenServiceStub) -> None:
        self._stub = stub

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        return await call(self._stub.Exchange, request)

    async def introspect(
        self, request: token_pb2.IntrospectRequest
    ) -> token_pb2.IntrospectResponse:
        return await call(self._stub.Introspect, request)

    async def revoke(self, request: token_pb2.RevokeRequest) -> token_pb2.RevokeResponse:
        return await call(self._stub.Revoke, request)


_METHOD = "/tessera.token.v1.TokenService/{}"


class InProcessTokenPort:
    def __init__(self, servicer: LocalTokenService) -> None:
        self._servicer = servicer

    async def exchange(self, request: token_pb2.ExchangeRequest) -> token_pb2.TokenResponse:
        try:
            return await self._servicer.Exchange(request, None)
        except Exception as error:
            raise local_failure(error, _METHOD.format("Exchange")) from error

    async def introspect(
        self, request: token_pb2.IntrospectRequest
    ) -> token_pb2.IntrospectResponse:
        try:
            return await self._servicer.Introspect(request, None)
        except Exception as error:
            raise local_failure(error, _METHOD.format("Introspect")) from error

    async def revoke(self, request: token_pb2.RevokeRequest) -> token_pb2.RevokeResponse:
        try:
            return await self._servicer.Revoke(request, None)
        except Exception as error:
            raise local_failure(error, _METHOD.format("Revoke")) from error
