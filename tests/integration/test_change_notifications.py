"""Acknowledged admin writes publish change notifications on Redis (ARCHITECTURE §5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.common.changes import Change, RedisChangeBus
from services.platform import Platform
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration


async def test_app_and_client_changes_are_published_after_commit(
    platform: Platform, admin: Api, world: dict[str, Any], redis_url: str
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    bus = RedisChangeBus(redis_url, platform.settings.db_schema_prefix)
    received: list[Change] = []
    ready = asyncio.Event()

    async def listen() -> None:
        stream = bus.subscribe()
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.2)  # let SUBSCRIBE reach Redis before the writes
        ready.set()
        change = await first
        while True:
            # Other platforms (parallel test runs) may share this Redis: keep our tenant's.
            if change.tenant == tenant:
                received.append(change)
                if len(received) == 2:
                    return
            change = await stream.__anext__()

    listener = asyncio.create_task(listen())
    await ready.wait()
    await admin.patch(f"/api/v1/tenants/{tenant}/apps/{app['id']}", {"enabled": False})
    await admin.post(f"/api/v1/tenants/{tenant}/clients/{app['client_id']}/secret", {})
    await asyncio.wait_for(listener, timeout=10)
    await bus.close()
    assert received == [
        Change(tenant, "app", app["id"]),
        Change(tenant, "client", app["client_id"]),
    ]
