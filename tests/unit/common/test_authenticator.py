"""The Authenticator remembers verified service tokens until they expire, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.auth import Authenticator
from services.common.errors import Unauthenticated
from tessera_sdk.verifier import TokenRejected, VerifiedToken

NOW = 1_000_000.0


class CountingVerifier:
    def __init__(self, claims: dict[str, dict[str, Any]]) -> None:
        self.claims = claims
        self.calls = 0

    async def verify(self, token: str) -> VerifiedToken:
        self.calls += 1
        if token not in self.claims:
            raise TokenRejected("INVALID", "no")
        return VerifiedToken("control-plane", self.claims[token])


def _authenticator(verifier: CountingVerifier, clock: list[float]) -> Authenticator:
    return Authenticator(verifier, clock=lambda: clock[0])  # type: ignore[arg-type]


async def test_a_service_token_is_verified_once_until_it_expires() -> None:
    verifier = CountingVerifier(
        {"svc": {"sub": "service:token", "svc": "token", "exp": NOW + 60, "tenant": "x"}}
    )
    clock = [NOW]
    auth = _authenticator(verifier, clock)
    first = await auth.principal_from_bearer("svc")
    assert await auth.principal_from_bearer("svc") == first
    assert verifier.calls == 1
    clock[0] = NOW + 61
    await auth.principal_from_bearer("svc")
    assert verifier.calls == 2


async def test_client_and_user_tokens_are_verified_every_time() -> None:
    verifier = CountingVerifier({"client": {"sub": "tc_1", "client_id": "tc_1", "exp": NOW + 60}})
    auth = _authenticator(verifier, [NOW])
    await auth.principal_from_bearer("client")
    await auth.principal_from_bearer("client")
    assert verifier.calls == 2  # revocation (disabled client, logout) must be seen at once


async def test_a_rejected_token_is_not_remembered() -> None:
    verifier = CountingVerifier({})
    auth = _authenticator(verifier, [NOW])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await auth.principal_from_bearer("forged")
    assert verifier.calls == 2
