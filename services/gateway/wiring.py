"""Builds the gateway component: the FastAPI app served by uvicorn inside our event loop."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from services.common.runtime import Runtime
from services.gateway.app import create_app
from services.gateway.clients import GatewayClients
from services.gateway.token_port import GrpcTokenPort, InProcessTokenPort, TokenPort


class GatewayComponent:
    name = "gateway"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._clients: GatewayClients | None = None
        self._server: uvicorn.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._app: FastAPI | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self._runtime.settings.http_host}:{self.port}"

    async def start(self) -> None:
        settings = self._runtime.settings
        self._clients = GatewayClients.connect(
            self._runtime.target("registry"),
            self._runtime.target("token"),
            self._runtime.target("invites"),
        )
        local_token = self._runtime.local.get("token")
        port: TokenPort = (
            InProcessTokenPort(local_token)
            if local_token is not None
            else GrpcTokenPort(self._clients.token)
        )
        app = create_app(settings, self._clients, port)
        self._app = app
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            # httptools (llhttp): the fastest well-kept HTTP/1.1 parser uvicorn offers; oversized
            # headers reach the edge guard, which answers 431 with a problem body.
            http="httptools",
            # The caller's address (rate limits) comes from X-Forwarded-For only when the
            # connection comes from a configured proxy.
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        # startup/main_loop/shutdown instead of serve(): serve() captures SIGTERM itself,
        # while the composition root owns signals and the stop order.
        await self._server.startup()
        if self._server.should_exit:
            raise RuntimeError(
                f"gateway: cannot listen on {settings.http_host}:{settings.http_port}"
            )
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self._loop_task = asyncio.create_task(self._server.main_loop())

    async def stop(self, grace: float) -> None:
        if self._server is not None:
            self._server.config.timeout_graceful_shutdown = int(grace)
            self._server.should_exit = True
            if self._loop_task is not None:
                await self._loop_task
            await self._server.shutdown()
        if self._app is not None:
            await self._app.state.failed_auth.close()
        if self._clients is not None:
            await self._clients.close()


def build(runtime: Runtime) -> GatewayComponent:
    return GatewayComponent(runtime)
