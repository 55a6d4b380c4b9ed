"""gRPC clients the gateway uses, and one helper that forwards the caller's identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from tessera.invites.v1 import invites_pb2_grpc
from tessera.registry.v1 import catalog_pb2_grpc, directory_pb2_grpc, registry_pb2_grpc
from tessera.token.v1 import token_pb2_grpc

from services.common.grpc_errors import RemoteError, remote_error
from services.common.grpc_server import channel

Response = TypeVar("Response")


@dataclass
class GatewayClients:
    registry: registry_pb2_grpc.RegistryServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    directory: directory_pb2_grpc.DirectoryServiceStub
    token: token_pb2_grpc.TokenServiceStub
    invites: invites_pb2_grpc.InvitesServiceStub
    channels: tuple[grpc.aio.Channel, ...]

    @classmethod
    def connect(cls, registry: str, token: str, invites: str) -> GatewayClients:
        channels = (channel(registry), channel(token), channel(invites))
        return cls(
            registry=registry_pb2_grpc.RegistryServiceStub(channels[0]),
            catalog=catalog_pb2_grpc.CatalogServiceStub(channels[0]),
            directory=directory_pb2_grpc.DirectoryServiceStub(channels[0]),
            token=token_pb2_grpc.TokenServiceStub(channels[1]),
            invites=invites_pb2_grpc.InvitesServiceStub(channels[2]),
            channels=channels,
        )

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close()


async def call(
    method: Callable[..., Awaitable[Response]],
    request: Any,
    *,
    bearer: str | None = None,
    timeout: float = 15.0,
) -> Response:
    """Invoke ``method``; forward the caller's bearer token; raise RemoteError on failure."""
    metadata = (("authorization", f"Bearer {bearer}"),) if bearer else ()
    try:
        return await method(request, metadata=metadata, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise remote_error(exc) from exc


__all__ = ["GatewayClients", "RemoteError", "call"]
