"""The token endpoint answers every failed client authentication byte for byte alike, and a
client's secrets never pile up (security review, defects 6 and 12)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Api, client_credentials

pytestmark = pytest.mark.integration


def _answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    # RateLimit counts down with every failure from this address, whatever the client: it
    # changes between attempts, never with who the client is.
    assert response.headers["ratelimit"]
    ignored = ("date", "content-length", "ratelimit")
    headers = {k: v for k, v in response.headers.items() if k not in ignored}
    return response.status_code, response.content, headers


async def test_every_client_authentication_failure_answers_byte_for_byte_alike(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    base = f"/api/v1/tenants/{tenant}/clients"
    app = await admin.app(tenant, world["region"]["code"])
    public = (
        await admin.post(
            base, {"display_name": "SPA", "apps": [app["slug"]], "confidential": False}
        )
    ).json()
    disabled = (await admin.post(base, {"display_name": "Off", "apps": [app["slug"]]})).json()
    assert (
        await admin.patch(f"{base}/{disabled['client_id']}", {"enabled": False})
    ).status_code == 200
    elsewhere = await admin.app((await admin.tenant())["slug"], world["region"]["code"])

    attempts = {
        "unknown client": ("tc_nobody", "tsk_whatever"),
        "wrong secret": (app["client_id"], "tsk_wrong"),
        "public client, no secret": (public["client_id"], ""),
        "public client, a secret": (public["client_id"], "tsk_whatever"),
        "disabled client": (disabled["client_id"], disabled["client_secret"]),
        "another tenant's client": (elsewhere["client_id"], elsewhere["client_secret"]),
    }
    answers = {
        name: _answer(await client_credentials(admin.http, tenant, client_id, secret))
        for name, (client_id, secret) in attempts.items()
    }
    reference = answers["unknown client"]
    assert reference[0] == 401
    assert b"invalid_client" in reference[1]
    for name, answer in answers.items():
        assert answer == reference, name


async def test_regenerating_keeps_at_most_the_previous_secret_for_its_grace_period(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    path = f"/api/v1/tenants/{tenant}/clients/{app['client_id']}"
    issued = [app["client_secret"]]
    for _ in range(5):
        fresh = await admin.post(f"{path}/secret", {"grace_period_seconds": 3600})
        assert fresh.status_code == 200, fresh.text
        issued.append(fresh.json()["client_secret"])
    stored = (await admin.get(path)).json()["secrets"]
    assert len(stored) == 2
    works = [
        (await client_credentials(admin.http, tenant, app["client_id"], s)).status_code == 200
        for s in issued
    ]
    assert works == [False, False, False, False, True, True]
    await admin.post(f"{path}/secret", {})
    assert len((await admin.get(path)).json()["secrets"]) == 1
