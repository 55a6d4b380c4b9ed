"""The composition root: starts any subset of the services in one process.

Start order is registry → token → invites → gateway (each may dial the ones before it);
stop order is the reverse, so nothing is called after its peer stopped. Development mode
migrates the embedded databases on start; production runs ``tessera migrate`` as a Job.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable

import structlog

from services.common.changes import ChangeBus, InProcessChangeBus, RedisChangeBus
from services.common.dev_secrets import key_material
from services.common.migrate import upgrade
from services.common.runtime import Component, Runtime
from services.common.settings import CONTEXTS, SERVICES, Settings
from services.common.versions import InProcessVersionBoard, RedisVersionBoard, VersionBoard

log = structlog.get_logger("tessera")


def _builders() -> dict[str, Callable[[Runtime], Component]]:
    from services.gateway import wiring as gateway
    from services.invites import wiring as invites
    from services.registry import wiring as registry
    from services.token import wiring as token

    return {
        "registry": registry.build,
        "token": token.build,
        "invites": invites.build,
        "gateway": gateway.build,
    }


class Platform:
    def __init__(self, settings: Settings, services: Iterable[str] = SERVICES) -> None:
        wanted = set(services)
        unknown = wanted - set(SERVICES)
        if unknown:
            raise ValueError(
                f"unknown service(s): {', '.join(sorted(unknown))}; choose from {', '.join(SERVICES)}"
            )
        self.settings = settings
        self.services = [name for name in SERVICES if name in wanted]
        changes: ChangeBus = (
            RedisChangeBus(settings.redis_url, settings.db_schema_prefix)
            if settings.redis_url
            else InProcessChangeBus()
        )
        versions: VersionBoard = (
            RedisVersionBoard(settings.redis_url, settings.db_schema_prefix)
            if settings.redis_url
            else InProcessVersionBoard()
        )
        self.runtime = Runtime(settings, key_material(settings), changes, versions)
        self.components: dict[str, Component] = {}

    async def start(self) -> None:
        if not self.settings.production:
            contexts = tuple(c for c in CONTEXTS if c in self.services)
            await asyncio.to_thread(upgrade, self.settings, contexts)
        builders = _builders()
        try:
            for name in self.services:
                component = builders[name](self.runtime)
                await component.start()
                self.components[name] = component
                self.runtime.addresses[name] = component.address
                log.info("service started", service=name, address=component.address)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for name in reversed(list(self.components)):
            component = self.components.pop(name)
            try:
                await component.stop(self.settings.shutdown_grace_seconds)
                log.info("service stopped", service=name)
            except Exception:
                log.exception("service failed to stop cleanly", service=name)
        await self.runtime.changes.close()
        await self.runtime.versions.close()

    @property
    def gateway_url(self) -> str:
        return f"http://{self.runtime.addresses['gateway']}"


async def serve(
    settings: Settings,
    services: Iterable[str],
    on_started: Callable[[Platform], None] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully (in-flight calls finish)."""
    platform = Platform(settings, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await platform.start()
    if on_started is not None:
        on_started(platform)
    await stop.wait()
    log.info("shutting down")
    await platform.stop()
