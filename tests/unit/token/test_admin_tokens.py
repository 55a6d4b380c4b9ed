"""An admin caller's client token stands at the token service only while its client does
(services.token.domain.admin_tokens)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from services.registry.clients.models import ClientPatch
from services.token.domain.admin_tokens import ClientTokenStands
from tessera_sdk.verifier import TokenRejected, VerifiedToken
from tests.unit.registry import fakes as registry_fakes
from tests.unit.token import fakes

ADMIN = registry_fakes.tenant_admin("acme")


async def minted(w: fakes.TokenWorld, client_id: str, secret: str) -> VerifiedToken:
    issued = await w.exchange(client_id, secret)
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    return VerifiedToken("acme", claims)


async def world() -> tuple[fakes.TokenWorld, ClientTokenStands, Any]:
    w = await fakes.token_world()
    _, credentials = await registry_fakes.app(w.seeded, "billing")
    check = ClientTokenStands(w.cache, clock=lambda: w.clock().timestamp())
    return w, check, credentials


async def test_a_token_of_an_enabled_client_stands() -> None:
    w, check, credentials = await world()
    await check(await minted(w, credentials.client_id, credentials.client_secret))


async def test_a_disabled_clients_token_falls_at_once() -> None:
    w, check, credentials = await world()
    token = await minted(w, credentials.client_id, credentials.client_secret)
    await w.features.clients.update(
        ADMIN, "acme", credentials.client_id, ClientPatch(enabled=False), 0
    )
    with pytest.raises(TokenRejected) as caught:
        await check(token)
    assert caught.value.reason == "REVOKED"


async def test_a_secret_regeneration_revokes_earlier_tokens() -> None:
    w, check, credentials = await world()
    token = await minted(w, credentials.client_id, credentials.client_secret)
    w.clock.advance(5)
    await w.features.clients.regenerate_secret(ADMIN, "acme", credentials.client_id, 0)
    with pytest.raises(TokenRejected):
        await check(token)


async def test_service_tokens_stand_and_user_tokens_are_not_accepted_yet() -> None:
    _, check, _ = await world()
    await check(VerifiedToken("control-plane", {"svc": "registry", "sub": "service:registry"}))
    with pytest.raises(TokenRejected):
        await check(VerifiedToken("acme", {"uid": "u1", "client_id": "tc_1", "iat": 0}))
