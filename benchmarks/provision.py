"""Provisioning a running ``tessera serve`` over its REST API, as an operator following the
README quickstart would: the bootstrap admin's token (its secret from dev-secrets.json in
development mode), then regions, tenants, apps and clients."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from benchmarks.seed import Credentials

BOOTSTRAP_CLIENT_ID = "tessera-admin"
CONTROL_PLANE = "control-plane"


class ProvisioningFailed(RuntimeError):
    pass


class Operator:
    """The control plane's bootstrap admin, with a fresh access token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    async def sign_in(cls, http: httpx.AsyncClient, data_dir: Path) -> Operator:
        secret = json.loads((data_dir / "dev-secrets.json").read_text())["bootstrap_admin_secret"]
        answer = await http.post(
            f"/t/{CONTROL_PLANE}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(BOOTSTRAP_CLIENT_ID, secret),
        )
        return cls(http, _json(answer, "operator token")["access_token"])

    async def _post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        return _json(await self._http.post(path, json=body, headers=self._headers), what)

    async def create_region(self, code: str, db_code: str) -> None:
        await self._post(
            "/api/v1/regions",
            {"code": code, "name": code.upper(), "databases": [{"db_code": db_code}]},
            f"region {code}",
        )

    async def create_tenant(self, slug: str, app_limit: int | None = None) -> None:
        body: dict[str, Any] = {"slug": slug, "display_name": slug.replace("-", " ").title()}
        if app_limit is not None:
            body["app_limit"] = app_limit
        await self._post("/api/v1/tenants", body, f"tenant {slug}")

    async def create_app(self, tenant: str, slug: str, region: str) -> Credentials:
        created = await self._post(
            f"/api/v1/tenants/{tenant}/apps",
            {"slug": slug, "display_name": slug.title(), "region": region},
            f"app {tenant}/{slug}",
        )
        return Credentials(created["client_id"], created["client_secret"])

    async def create_clients(
        self, tenant: str, app: str, count: int, concurrency: int = 8
    ) -> list[Credentials]:
        """``count`` more confidential client_credentials clients of ``app``."""
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> Credentials:
            async with gate:
                created = await self._post(
                    f"/api/v1/tenants/{tenant}/clients",
                    {
                        "display_name": f"{app} client {n}",
                        "apps": [app],
                        "grant_types": ["client_credentials"],
                    },
                    f"client {n} of {tenant}/{app}",
                )
            return Credentials(created["client_id"], created["client_secret"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))


async def mint(http: httpx.AsyncClient, tenant: str, client: Credentials) -> str:
    """One client_credentials access token."""
    answer = await http.post(
        f"/t/{tenant}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
    )
    return str(_json(answer, f"token for {tenant}/{client.client_id}")["access_token"])


def _json(answer: httpx.Response, what: str) -> dict[str, Any]:
    if answer.status_code not in (200, 201):
        raise ProvisioningFailed(f"{what}: HTTP {answer.status_code} {answer.text[:500]}")
    document: dict[str, Any] = answer.json()
    return document
