"""Token-path benchmarks on the embedded default (SQLite, in-process cache, one process).

Run with ``make bench``. The machine is shared and noisy, so compare the figures within one
run: the JWKS fetch is the baseline (gateway + one gRPC hop, no database work), the token
request adds client resolution and signing, local verification is what resource servers pay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.settings import Settings
from services.platform import Platform
from tessera_sdk.verifier import HttpJwksSource, TokenVerifier

ROUNDS = 200


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        settings = Settings(
            data_dir=tmp,
            http_port=0,
            registry_listen="127.0.0.1:0",
            token_listen="127.0.0.1:0",
            invites_listen="127.0.0.1:0",
            log_level="WARNING",
        )
        self.platform = Platform(settings)
        self.loop.run_until_complete(self.platform.start())
        self.http = httpx.AsyncClient(base_url=self.platform.gateway_url, timeout=30)
        self.app = self.loop.run_until_complete(self._setup())

    async def _setup(self) -> dict[str, Any]:
        secret = self.platform.runtime.keys.bootstrap_admin_secret
        assert secret
        token = (
            await self.http.post(
                "/t/control-plane/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=("tessera-admin", secret),
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        await self.http.post(
            "/api/v1/tenants", json={"slug": "bench", "display_name": "Bench"}, headers=headers
        )
        await self.http.post(
            "/api/v1/regions",
            json={"code": "eu", "name": "EU", "databases": [{"db_code": "eu-1"}]},
            headers=headers,
        )
        app = (
            await self.http.post(
                "/api/v1/tenants/bench/apps",
                headers=headers,
                json={"slug": "bench-app", "display_name": "Bench", "region": "eu"},
            )
        ).json()
        return dict(app)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.platform.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    running = Bench(tmp_path_factory.mktemp("bench"))
    yield running
    running.close()


def test_jwks_fetch_baseline(benchmark: Any, bench: Bench) -> None:
    async def fetch() -> None:
        for _ in range(ROUNDS):
            assert (await bench.http.get("/t/bench/.well-known/jwks.json")).status_code == 200

    benchmark.pedantic(lambda: bench.run(fetch()), rounds=3, iterations=1)


def test_client_credentials_token(benchmark: Any, bench: Bench) -> None:
    auth = (bench.app["client_id"], bench.app["client_secret"])

    async def mint() -> None:
        for _ in range(ROUNDS):
            response = await bench.http.post(
                "/t/bench/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth
            )
            assert response.status_code == 200

    benchmark.pedantic(lambda: bench.run(mint()), rounds=3, iterations=1)


def test_local_verification(benchmark: Any, bench: Bench) -> None:
    auth = (bench.app["client_id"], bench.app["client_secret"])
    token = bench.run(
        bench.http.post(
            "/t/bench/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth
        )
    ).json()["access_token"]
    verifier = TokenVerifier.for_app(
        bench.platform.settings.public_url,
        HttpJwksSource(bench.platform.gateway_url, bench.http),
        tenant="bench",
        app="bench-app",
    )

    async def verify() -> None:
        for _ in range(ROUNDS):
            await verifier.verify(token)

    benchmark.pedantic(lambda: bench.run(verify()), rounds=3, iterations=1)
