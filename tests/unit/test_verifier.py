"""The SDK verifier rejects every token RFC 9068 §4 and ARCHITECTURE §7 say it must."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tessera_sdk.verifier import (
    BaseTokenVerifier,
    KeysUnavailable,
    TokenRejected,
    TokenVerifier,
    app_audience,
)

BASE = "https://auth.example.com"
ISSUER = f"{BASE}/t/acme"


class StaticJwks:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0

    async def fetch(self, tenant: str) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": self.keys}


def _key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return private, jwk


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": "tc_1",
        "aud": "billing",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j1",
        **overrides,
    }


def _token(private: Any, kid: str = "k1", typ: str = "at+jwt", **claims: Any) -> str:
    return jwt.encode(
        _claims(**claims), private, algorithm="ES256", headers={"kid": kid, "typ": typ}
    )


@pytest.fixture
def signer() -> tuple[Any, StaticJwks]:
    private, jwk = _key("k1")
    return private, StaticJwks([jwk])


async def test_a_valid_token_verifies_and_names_its_tenant(signer: tuple[Any, StaticJwks]) -> None:
    private, source = signer
    verified = await TokenVerifier(BASE, source, tenants=["acme"], audience="billing").verify(
        _token(private)
    )
    assert verified.tenant == "acme"
    assert verified.claims["sub"] == "tc_1"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: _token(p, typ="JWT"), "WRONG_TYPE"),
        (lambda p: _token(p, kid="unknown"), "UNKNOWN_KID"),
        (lambda p: _token(p, iss="https://evil.example.com/t/acme"), "WRONG_ISSUER"),
        (lambda p: _token(p, iss=f"{BASE}/t/acme/extra"), "WRONG_ISSUER"),
        (lambda p: _token(p, aud="shipping"), "WRONG_AUDIENCE"),
        (lambda p: _token(p, exp=int(time.time()) - 3600), "EXPIRED"),
        (
            lambda p: jwt.encode(
                _claims(), "k" * 32, algorithm="HS256", headers={"kid": "k1", "typ": "at+jwt"}
            ),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (
            lambda p: jwt.encode(
                _claims(), None, algorithm="none", headers={"kid": "k1", "typ": "at+jwt"}
            ),
            "ALGORITHM_NOT_ALLOWED",
        ),
        (lambda p: "not-a-jwt", "MALFORMED"),
    ],
)
async def test_bad_tokens_are_rejected_with_a_reason(
    signer: tuple[Any, StaticJwks], mutate: Any, reason: str
) -> None:
    private, source = signer
    with pytest.raises(TokenRejected) as caught:
        await TokenVerifier(BASE, source, tenants=["acme"], audience="billing").verify(
            mutate(private)
        )
    assert caught.value.reason == reason


async def test_a_token_signed_by_another_key_with_a_known_kid_fails_signature(
    signer: tuple[Any, StaticJwks],
) -> None:
    _, source = signer
    other, _ = _key("k1")
    with pytest.raises(TokenRejected) as caught:
        await TokenVerifier(BASE, source, tenants=["acme"]).verify(_token(other))
    assert caught.value.reason == "INVALID"


async def test_unknown_kid_refetches_at_most_once_per_interval(
    signer: tuple[Any, StaticJwks],
) -> None:
    private, source = signer
    verifier = TokenVerifier(BASE, source, tenants=["acme"], min_refresh_seconds=60)
    await verifier.verify(_token(private))
    for _ in range(5):
        with pytest.raises(TokenRejected):
            await verifier.verify(_token(private, kid="rotated"))
    assert source.fetches == 1


async def test_a_rotated_key_published_later_is_picked_up(signer: tuple[Any, StaticJwks]) -> None:
    private, source = signer
    clock = [1000.0]
    verifier = TokenVerifier(
        BASE, source, tenants=["acme"], min_refresh_seconds=10, clock=lambda: clock[0]
    )
    await verifier.verify(_token(private))
    new_private, new_jwk = _key("k2")
    source.keys.append(new_jwk)
    clock[0] += 11
    verified = await verifier.verify(_token(new_private, kid="k2"))
    assert verified.claims["sub"] == "tc_1"


async def test_issuers_that_are_not_tenant_slugs_are_refused_before_any_lookup(
    signer: tuple[Any, StaticJwks],
) -> None:
    private, source = signer
    for issuer in (f"{BASE}/t/{'x' * 200}", f"{BASE}/t/Acme", f"{BASE}/t/a_b"):
        with pytest.raises(TokenRejected) as caught:
            await TokenVerifier(BASE, source, tenants=["acme"]).verify(_token(private, iss=issuer))
        assert caught.value.reason == "WRONG_ISSUER"
    assert source.fetches == 0


async def test_a_tenant_allow_list_refuses_other_tenants(signer: tuple[Any, StaticJwks]) -> None:
    private, source = signer
    with pytest.raises(TokenRejected) as caught:
        await TokenVerifier(BASE, source, tenants=["globex"]).verify(_token(private))
    assert caught.value.reason == "WRONG_TENANT"


async def test_the_jwks_cache_is_bounded(signer: tuple[Any, StaticJwks]) -> None:
    private, source = signer
    verifier = BaseTokenVerifier(
        BASE, source, accept_tenant=lambda tenant: True, max_cached_tenants=3
    )
    for index in range(10):
        with pytest.raises(TokenRejected):
            await verifier.verify(_token(private, kid="nope", iss=f"{BASE}/t/tenant-{index}"))
    assert len(verifier._cache) == 3


async def test_a_tenant_without_keys_is_looked_up_again_after_a_second() -> None:
    private, jwk = _key("k1")
    source = StaticJwks([])
    clock = [1000.0]
    verifier = TokenVerifier(
        BASE, source, tenants=["acme"], min_refresh_seconds=60, clock=lambda: clock[0]
    )
    with pytest.raises(TokenRejected):
        await verifier.verify(_token(private))
    source.keys.append(jwk)  # the tenant signs its first token
    clock[0] += 1.5
    assert (await verifier.verify(_token(private))).tenant == "acme"


def test_a_resource_server_verifier_must_pin_its_tenants() -> None:
    source = StaticJwks([])
    with pytest.raises(TypeError):
        TokenVerifier(BASE, source)  # type: ignore[call-arg]
    for tenants in ([], ["Acme"], "acme"):
        with pytest.raises((ValueError, TypeError)):
            TokenVerifier(BASE, source, tenants=tenants)


async def test_for_app_pins_the_issuer_and_the_issuer_qualified_audience(
    signer: tuple[Any, StaticJwks],
) -> None:
    private, source = signer
    verifier = TokenVerifier.for_app(BASE, source, tenant="acme", app="billing")
    audience = app_audience(BASE, "acme", "billing")
    assert audience == f"{ISSUER}/apps/billing"
    assert (await verifier.verify(_token(private, aud=audience))).tenant == "acme"
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(_token(private))  # the bare slug of an app elsewhere
    assert caught.value.reason == "WRONG_AUDIENCE"
    globex = _token(private, iss=f"{BASE}/t/globex", aud=f"{BASE}/t/globex/apps/billing")
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(globex)
    assert caught.value.reason == "WRONG_TENANT"


async def test_unreachable_keys_are_not_blamed_on_the_token(signer: tuple[Any, StaticJwks]) -> None:
    private, _ = signer

    class Down:
        async def fetch(self, tenant: str) -> dict[str, Any]:
            raise ConnectionError("refused")

    with pytest.raises(KeysUnavailable):
        await TokenVerifier(BASE, Down(), tenants=["acme"]).verify(_token(private))
