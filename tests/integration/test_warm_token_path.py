"""A warm mint touches no database and calls no other service (issue 9: "a warm mint makes zero
SQL statements and zero registry calls"): the token service serves it from its snapshot cache,
checked against the version board (here Redis), and its cached signing key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from services.platform import Platform
from tests.integration.conftest import Api, client_credentials

pytestmark = pytest.mark.integration

MINTS = 40


@pytest.fixture
def statements(platform: Platform) -> Iterator[list[str]]:
    """Every SQL statement any context runs while the test runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2])[:80])

    engines = [
        component.database.engine.sync_engine  # type: ignore[attr-defined]
        for name, component in platform.components.items()
        if name in ("registry", "token", "invites")
    ]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_a_warm_mint_makes_no_sql_statement_and_no_registry_call(
    platform: Platform, admin: Api, world: dict[str, Any], statements: list[str]
) -> None:
    app = await admin.app(world["tenant"]["slug"], world["region"]["code"])
    tenant, client_id, secret = world["tenant"]["slug"], app["client_id"], app["client_secret"]
    for _ in range(3):  # warm: snapshot, signing key, secret bookkeeping
        assert (await client_credentials(admin.http, tenant, client_id, secret)).status_code == 200
    cache = platform.components["token"].snapshots  # type: ignore[attr-defined]
    reads = cache.fetches
    statements.clear()
    for _ in range(MINTS):
        assert (await client_credentials(admin.http, tenant, client_id, secret)).status_code == 200
    assert cache.fetches == reads, "a warm mint read the client's snapshot from the registry"
    assert statements == [], f"warm mints ran SQL: {statements[:5]}"
