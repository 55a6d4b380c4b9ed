"""The token service's view of the registry: client snapshots, secret bookkeeping, tenants.

Calls carry the token service's own service token (ARCHITECTURE §1), minted locally.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc

from services.common.errors import DomainError, Unavailable
from services.common.grpc_errors import RemoteError, remote_error, reraise_remote_as_domain
from services.common.grpc_server import LazyChannel
from services.token.domain.snapshots import AppGrant, ClientSnapshot, Secret

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


class GrpcRegistry:
    """The registry as the token service calls it: one stub over one lazily opened channel,
    each call carrying the service token."""

    def __init__(self, registry: LazyChannel, credentials: ServiceCredentials) -> None:
        self._registry = registry
        self._credentials = credentials
        self._stub: registry_pb2_grpc.RegistryServiceStub | None = None

    def _service(self) -> registry_pb2_grpc.RegistryServiceStub:
        if self._stub is None:
            self._stub = registry_pb2_grpc.RegistryServiceStub(self._registry.get())
        return self._stub

    async def exists(self, tenant: str) -> bool:
        """:class:`services.token.domain.keys.TenantDirectory` over the registry."""
        try:
            response = await self._service().TenantExists(
                registry_pb2.TenantExistsRequest(tenant=tenant),
                metadata=await self._credentials.metadata(),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise _registry_failure(remote_error(exc)) from exc
        return bool(response.exists)

    async def client_snapshot(
        self, tenant: str, client_id: str, *, restore_board: bool
    ) -> ClientSnapshot:
        """:class:`services.token.domain.snapshot_cache.SnapshotSource` over the registry."""
        try:
            response = await self._service().GetClientSnapshot(
                registry_pb2.GetClientSnapshotRequest(
                    tenant=tenant, client_id=client_id, restore_board=restore_board
                ),
                metadata=await self._credentials.metadata(),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise _registry_failure(remote_error(exc)) from exc
        return snapshot_from_pb(tenant, response)

    async def record_secret_use(self, secret_id: str, used_at: datetime, rehash: str) -> None:
        """:class:`services.token.domain.secret_upkeep.SecretUseRecorder` over the registry."""
        request = registry_pb2.RecordSecretUseRequest(secret_id=secret_id, rehash=rehash)
        request.used_at.FromDatetime(used_at)
        try:
            await self._service().RecordSecretUse(
                request, metadata=await self._credentials.metadata(), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            raise _registry_failure(remote_error(exc)) from exc


def _time(message: Any, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def snapshot_from_pb(tenant: str, message: registry_pb2.ClientSnapshot) -> ClientSnapshot:
    if not message.found:
        return ClientSnapshot(
            tenant=tenant,
            tenant_version=message.tenant_version,
            platform_version=message.platform_version,
        )
    client = message.client
    return ClientSnapshot(
        tenant=message.tenant,
        tenant_version=message.tenant_version,
        platform_version=message.platform_version,
        found=True,
        tenant_id=message.tenant_id,
        client_pk=client.pk,
        client_id=client.client_id,
        enabled=client.enabled,
        confidential=client.confidential,
        grant_types=tuple(client.grant_types),
        secrets=tuple(
            Secret(
                id=s.id,
                hash=s.hash,
                created_at=s.created_at.ToDatetime(tzinfo=UTC),
                expires_at=_time(s, "expires_at"),
                last_used_at=_time(s, "last_used_at"),
            )
            for s in client.secrets
        ),
        apps=tuple(
            AppGrant(
                id=a.id,
                slug=a.slug,
                enabled=a.enabled,
                region=a.region,
                db_code=a.db_code,
                has_plan=a.has_plan,
                plan_code=a.plan_code,
                plan_retired=a.plan_retired,
                entitlements=dict(a.entitlements),
                service_codes=tuple(a.service_codes),
                access_token_seconds=a.access_token_seconds,
                audiences=tuple(a.audiences),
                roles=tuple(a.roles),
                permissions=tuple(a.permissions),
            )
            for a in message.apps
        ),
        scopes=tuple((s.name, s.app_id or None) for s in message.scopes),
    )
