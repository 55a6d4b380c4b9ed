"""Rate limits on failed client authentication, end to end on PostgreSQL and Redis: a
platform of its own with tight limits, behind a trusted proxy so each test has its address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.common.settings import CONTEXTS, Settings
from services.platform import Platform
from tests.integration.conftest import PUBLIC_URL, Api, client_credentials

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def limited(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Platform, httpx.AsyncClient, Api]]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        public_url=PUBLIC_URL,
        data_dir=Path(tmp_path_factory.mktemp("rate-limits")),
        database_url=database_url,
        db_schema_prefix=prefix,
        redis_url=redis_url,
        http_port=0,
        registry_listen="127.0.0.1:0",
        token_listen="127.0.0.1:0",
        invites_listen="127.0.0.1:0",
        shutdown_grace_seconds=1,
        rate_limit_failed_auth_per_client="3/minute",
        rate_limit_failed_auth_per_address="5/minute",
        trusted_proxies="127.0.0.1",
    )
    running = Platform(settings)
    await running.start()
    http = httpx.AsyncClient(base_url=running.gateway_url, timeout=30)
    try:
        secret = running.runtime.keys.bootstrap_admin_secret
        assert secret
        token = await client_credentials(
            http,
            "control-plane",
            settings.bootstrap_admin_client_id,
            secret,
        )
        yield running, http, Api(http, token.json()["access_token"])
    finally:
        await http.aclose()
        await running.stop()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            for context in CONTEXTS:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{context}" CASCADE'))
        engine.dispose()


async def _app(admin: Api) -> dict[str, Any]:
    tenant = await admin.tenant()
    region = await admin.region()
    return {"tenant": tenant["slug"], **await admin.app(tenant["slug"], region["code"])}


def _address() -> str:
    """A fresh address per use: the counters live in the shared Redis beyond one test run."""
    return "10." + ".".join(str(b) for b in uuid.uuid4().bytes[:3])


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_client_is_locked_out_after_its_failures_even_with_the_right_secret(
    limited: tuple[Platform, httpx.AsyncClient, Api],
) -> None:
    _, http, admin = limited
    app = await _app(admin)
    path = f"/t/{app['tenant']}/oauth2/token"
    form = {"grant_type": "client_credentials"}
    for attempt, address in enumerate((_address(), _address(), _address())):
        wrong = await http.post(
            path, data=form, auth=(app["client_id"], "tsk_wrong"), headers=_from(address)
        )
        assert wrong.status_code == 401
        assert wrong.headers["ratelimit"].startswith(f'"client";r={2 - attempt};')
    locked = await http.post(
        path,
        data=form,
        auth=(app["client_id"], app["client_secret"]),
        headers=_from(_address()),
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(locked.headers["retry-after"]) <= 61
    assert locked.headers["ratelimit-policy"] == '"client";q=3;w=60, "address";q=5;w=60'


async def test_an_address_trying_many_clients_is_refused_but_others_still_get_tokens(
    limited: tuple[Platform, httpx.AsyncClient, Api],
) -> None:
    _, http, admin = limited
    app = await _app(admin)
    path = f"/t/{app['tenant']}/oauth2/token"
    form = {"grant_type": "client_credentials"}
    guesser = _address()
    for index in range(5):
        guess = await http.post(
            path, data=form, auth=(f"tc_guess{index}", "tsk_x"), headers=_from(guesser)
        )
        assert guess.status_code == 401
    blocked = await http.post(
        path, data=form, auth=(app["client_id"], app["client_secret"]), headers=_from(guesser)
    )
    assert blocked.status_code == 429
    assert blocked.headers["ratelimit"].startswith('"address";r=0;')
    elsewhere = await http.post(
        path, data=form, auth=(app["client_id"], app["client_secret"]), headers=_from(_address())
    )
    assert elsewhere.status_code == 200
    assert "ratelimit" not in elsewhere.headers
