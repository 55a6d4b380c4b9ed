"""The SDK's boot-time registration helper against the real platform."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tessera_sdk.permissions import Permission, RegistrationFailed, register_permissions
from tests.integration.conftest import Api, client_credentials

pytestmark = pytest.mark.integration


async def test_replicas_booting_together_register_one_catalog(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    service_client = (
        await admin.post(
            f"/api/v1/tenants/{tenant}/clients",
            {"display_name": "Billing backend", "apps": ["tessera"], "roles": ["tenant-admin"]},
        )
    ).json()
    token = (
        await client_credentials(
            admin.http, tenant, service_client["client_id"], service_client["client_secret"]
        )
    ).json()["access_token"]
    catalog = [
        Permission("invoice:read", "Read invoices"),
        Permission("invoice:write", "Write invoices"),
    ]

    reports = await asyncio.gather(
        *(
            register_permissions(admin.http, tenant, "billing", catalog, access_token=token)
            for _ in range(3)
        )
    )

    assert sum(len(r["created"]) for r in reports) == 2
    assert {r["revision"] for r in reports} == {1}
    listed = (
        await admin.get(f"/api/v1/tenants/{tenant}/permissions", params={"service": "billing"})
    ).json()
    assert sorted(p["code"] for p in listed["items"]) == ["invoice:read", "invoice:write"]


async def test_a_refused_declaration_raises_with_the_problem_document(
    admin: Api, world: dict[str, Any]
) -> None:
    with pytest.raises(RegistrationFailed) as caught:
        await register_permissions(
            admin.http,
            world["tenant"]["slug"],
            "billing",
            [Permission("Invoice:Read")],
            access_token=admin.token,
            attempts=1,
        )
    assert caught.value.status == 400
    assert caught.value.problem["errors"][0]["field"] == "entries[0].code"
