"""The whole platform, started in-process on PostgreSQL + Redis, once per test session.

Each session gets its own schemas (``t<hex>_registry`` ...), dropped at the end. Tests
isolate themselves by creating their own tenants, regions and plans with unique names.
"""

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

PUBLIC_URL = "http://tessera.test"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def platform(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        public_url=PUBLIC_URL,
        data_dir=Path(tmp_path_factory.mktemp("tessera-data")),
        database_url=database_url,
        db_schema_prefix=prefix,
        redis_url=redis_url,
        http_port=0,
        registry_listen="127.0.0.1:0",
        token_listen="127.0.0.1:0",
        invites_listen="127.0.0.1:0",
        shutdown_grace_seconds=1,
        default_app_limit=5,
        # Suites that fail client authentication on purpose share one address; the limits
        # themselves are pinned by test_rate_limits on a platform of their own.
        rate_limit_failed_auth_per_client="100000/minute",
        rate_limit_failed_auth_per_address="100000/minute",
    )
    running = Platform(settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            for context in CONTEXTS:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{context}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
async def http(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:
        yield client


class Api:
    """Thin helper over the REST API for tests; every method returns the raw response."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def patch(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.http.patch(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.http.put(
            path, json=body, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.delete(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def tenant(self, **overrides: Any) -> dict[str, Any]:
        body = {"slug": unique("tn"), "display_name": unique("Tenant"), **overrides}
        response = await self.post("/api/v1/tenants", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def region(
        self, *, active: bool = True, databases: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        body = {
            "code": unique("rg"),
            "name": unique("Region"),
            "active": active,
            "databases": databases
            if databases is not None
            else [{"db_code": unique("db"), "active": True}],
        }
        response = await self.post("/api/v1/regions", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def plan(self, limits: dict[str, int] | None = None) -> dict[str, Any]:
        body = {
            "code": unique("pl"),
            "name": unique("Plan"),
            "limits": limits or {"monthly-document-units": 1000},
        }
        response = await self.post("/api/v1/plans", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def app(self, tenant: str, region: str, **overrides: Any) -> dict[str, Any]:
        body = {"slug": unique("app"), "display_name": unique("App"), "region": region, **overrides}
        response = await self.post(f"/api/v1/tenants/{tenant}/apps", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


async def client_credentials(
    http: httpx.AsyncClient, tenant: str, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await http.post(
        f"/t/{tenant}/oauth2/token",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
    )


@pytest.fixture(scope="session")
async def admin(platform: Platform, http: httpx.AsyncClient) -> Api:
    secret = platform.runtime.keys.bootstrap_admin_secret
    assert secret
    response = await client_credentials(
        http, "control-plane", platform.settings.bootstrap_admin_client_id, secret
    )
    assert response.status_code == 200, response.text
    return Api(http, response.json()["access_token"])


async def tenant_admin(http: httpx.AsyncClient, tenant: dict[str, Any]) -> Api:
    """An Api acting as the tenant's own admin client (returned once at tenant creation)."""
    credentials = tenant["admin_client"]
    response = await client_credentials(
        http, tenant["slug"], credentials["client_id"], credentials["client_secret"]
    )
    assert response.status_code == 200, response.text
    return Api(http, response.json()["access_token"])


@pytest.fixture(scope="session")
def registry_rows(platform: Platform) -> Any:
    """Run a SQL query against the registry's own schema (to inspect what is at rest)."""
    from sqlalchemy import create_engine

    assert platform.settings.database_url
    engine = create_engine(platform.settings.database_url).execution_options(
        schema_translate_map={None: f"{platform.settings.db_schema_prefix}registry"}
    )

    def query(statement: Any) -> list[Any]:
        with engine.connect() as connection:
            return list(connection.execute(statement).all())

    yield query
    engine.dispose()


@pytest.fixture
async def world(admin: Api) -> dict[str, Any]:
    """A fresh tenant and an active region with one active database."""
    return {"tenant": await admin.tenant(), "region": await admin.region()}
