"""A gRPC asyncio server with the platform's standard equipment.

Every server gets the error interceptor, the standard health service (grpc.health.v1) and
reflection. Stopping is graceful: health flips to NOT_SERVING first (so load balancers and
Kubernetes probes stop routing), then in-flight calls get ``grace`` seconds to finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.grpc_errors import ErrorInterceptor

Registrar = Callable[[grpc.aio.Server], None]


class GrpcServer:
    """One listening gRPC server hosting the given services."""

    def __init__(
        self,
        name: str,
        listen: str,
        registrars: Sequence[Registrar],
        service_names: Sequence[str],
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.name = name
        self._listen = listen
        self._service_names = tuple(service_names)
        self._server = grpc.aio.server(interceptors=[ErrorInterceptor(), *interceptors])
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        for register in registrars:
            register(self._server)
        reflection.enable_server_reflection(
            (*self._service_names, reflection.SERVICE_NAME, health.SERVICE_NAME), self._server
        )
        self.port = 0

    @property
    def address(self) -> str:
        host = self._listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> None:
        self.port = self._server.add_insecure_port(self._listen)
        if self.port == 0:
            raise RuntimeError(f"{self.name}: cannot listen on {self._listen}")
        await self._server.start()
        for service in ("", *self._service_names):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)


def channel(target: str) -> grpc.aio.Channel:
    """An insecure channel to another Tessera service (TLS terminates in the mesh)."""
    options: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.enable_retries", 1),
        # A restarted peer is found again within about a second (gRPC's default backoff
        # grows to two minutes), so callers see 503s for seconds, not minutes.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 1_000),
    ]
    return grpc.aio.insecure_channel(target, options=options)


class LazyChannel:
    """A channel opened on first use, to a target known only once the peer has started.

    In the all-in-one process the registry starts before the token service, yet must dial
    it (for JWKS) once requests arrive; ``target()`` is asked at first use.
    """

    def __init__(self, target: Callable[[], str]) -> None:
        self._target = target
        self._channel: grpc.aio.Channel | None = None

    def get(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = channel(self._target())
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
