"""Uniqueness that a domain pre-check alone cannot guarantee under concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.conftest import Api, unique

pytestmark = pytest.mark.integration


async def test_two_concurrent_users_with_one_username_end_with_exactly_one(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    username = unique("user").replace("-", ".")
    responses = await asyncio.gather(
        *(
            admin.post(
                f"/api/v1/tenants/{tenant}/users",
                {"email": f"{unique('m')}@example.com", "username": username},
            )
            for _ in range(4)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"USERNAME_TAKEN"}


async def test_two_concurrent_users_with_one_email_end_with_exactly_one(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    email = f"{unique('same')}@example.com"
    responses = await asyncio.gather(
        *(
            admin.post(f"/api/v1/tenants/{tenant}/users", {"email": variant})
            for variant in (email, email.upper(), email, email.title())
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"EMAIL_TAKEN"}
