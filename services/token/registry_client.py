"""The token service's view of the registry: authenticate a client, resolve its context.

Calls carry the token service's own service token (ARCHITECTURE §1), minted locally.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc

from services.common.errors import Unavailable
from services.common.grpc_errors import remote_error, reraise_remote_as_domain
from services.common.grpc_server import LazyChannel
from services.token.domain.grants import ClientContext

TokenFactory = Callable[[], Awaitable[tuple[str, float]]]


class ServiceCredentials:
    """Caches the service token until shortly before it expires."""

    def __init__(self, mint: TokenFactory, clock: Callable[[], float] = time.time) -> None:
        self._mint = mint
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        if self._clock() > self._expires_at - 60:
            self._token, self._expires_at = await self._mint()
        return (("authorization", f"Bearer {self._token}"),)


class GrpcClientResolver:
    def __init__(self, registry: LazyChannel, credentials: ServiceCredentials) -> None:
        self._registry = registry
        self._credentials = credentials

    async def resolve_client(
        self, tenant: str, client_id: str, client_secret: str, app: str, grant_type: str
    ) -> ClientContext:
        request = registry_pb2.ResolveClientRequest(
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret,
            app=app,
            grant_type=grant_type,
        )
        try:
            stub = registry_pb2_grpc.RegistryServiceStub(self._registry.get())
            response = await stub.ResolveClient(
                request, metadata=await self._credentials.metadata(), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            error = remote_error(exc)
            if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(
                    "REGISTRY_UNAVAILABLE", "The registry cannot be reached; retry shortly."
                ) from exc
            raise reraise_remote_as_domain(error) from exc
        return ClientContext(
            tenant=response.tenant,
            client_id=response.client_id,
            app_id=response.app_id,
            app_code=response.app_code,
            region=response.region,
            db_code=response.db_code,
            roles=tuple(response.roles),
            permissions=tuple(response.permissions),
            has_plan=response.has_plan,
            entitlements=dict(response.entitlements),
            access_token_seconds=response.access_token_seconds,
            scopes=tuple(response.scopes),
            audiences=tuple(response.audiences),
        )
