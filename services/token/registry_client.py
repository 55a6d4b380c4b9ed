"""The token service's view of the registry: authenticate a client, resolve its context.

Calls carry the token service's own service token (ARCHITECTURE §1), minted locally.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc
import structlog
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc

from services.common.errors import DomainError, Unavailable
from services.common.grpc_errors import RemoteError, remote_error, reraise_remote_as_domain
from services.common.grpc_server import LazyChannel
from services.token.domain.grants import ClientContext

log = structlog.get_logger("tessera.token")

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


def _registry_failure(error: RemoteError) -> DomainError:
    """The registry's answer as this service's own error. Whatever fails between the two
    services (the registry down, slow, or refusing this service's own credentials) is not the
    end client's fault: it becomes Unavailable (503), never invalid_client or invalid_grant."""
    if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable("REGISTRY_UNAVAILABLE", "The registry cannot be reached; retry shortly.")
    if error.code is grpc.StatusCode.UNAUTHENTICATED and error.reason != "INVALID_CLIENT":
        log.error("the registry refused the token service's credentials", reason=error.reason)
        return Unavailable(
            "SERVICE_CREDENTIALS_REFUSED",
            "The token service cannot reach the registry; retry shortly.",
        )
    return reraise_remote_as_domain(error)


class GrpcClientResolver:
    def __init__(self, registry: LazyChannel, credentials: ServiceCredentials) -> None:
        self._registry = registry
        self._credentials = credentials

    async def exists(self, tenant: str) -> bool:
        """:class:`services.token.domain.keys.TenantDirectory` over the registry."""
        try:
            stub = registry_pb2_grpc.RegistryServiceStub(self._registry.get())
            response = await stub.TenantExists(
                registry_pb2.TenantExistsRequest(tenant=tenant),
                metadata=await self._credentials.metadata(),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise _registry_failure(remote_error(exc)) from exc
        return bool(response.exists)

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
            raise _registry_failure(remote_error(exc)) from exc
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
