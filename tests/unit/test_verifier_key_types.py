"""The SDK verifier's key types (tessera_sdk/verifier.py, the JWK loading of ``_refresh``): an
Ed25519 key (RFC 8037, ``kty OKP``) verifies EdDSA tokens next to EC P-256 ones, and a
published key the verifier cannot load (an X25519 key, a key whose type contradicts its
``alg``, broken key material) is skipped instead of failing every token of the tenant."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from tessera_sdk.verifier import TokenRejected, TokenVerifier

PUBLIC_URL = "https://id.example.com"


class Keys:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    async def fetch(self, tenant: str) -> dict[str, Any]:
        return self.document


def token(private_key: Any, alg: str, kid: str) -> str:
    now = int(time.time())
    claims = {"iss": f"{PUBLIC_URL}/t/acme", "sub": "c", "iat": now, "exp": now + 60, "jti": "j"}
    return jwt.encode(claims, private_key, alg, headers={"kid": kid, "typ": "at+jwt"})


def jwk(public_jwk: dict[str, Any], kid: str, alg: str) -> dict[str, Any]:
    return {**public_jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture
def keys() -> tuple[Any, Any, dict[str, Any]]:
    ed, p256 = ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())
    document = {
        "keys": [
            {"kty": "OKP", "crv": "X25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
            | {"kid": "x25519", "alg": "EdDSA"},
            {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "ec-as-ed"}
            | {"alg": "EdDSA"},
            {"kty": "OKP", "crv": "Ed25519", "x": "@@", "kid": "broken", "alg": "EdDSA"},
            jwk(OKPAlgorithm.to_jwk(ed.public_key(), as_dict=True), "ed", "EdDSA"),
            jwk(ECAlgorithm.to_jwk(p256.public_key(), as_dict=True), "p256", "ES256"),
        ]
    }
    return ed, p256, document


async def test_eddsa_and_es256_tokens_verify_next_to_keys_that_cannot_be_loaded(
    keys: tuple[Any, Any, dict[str, Any]],
) -> None:
    ed, p256, document = keys
    verifier = TokenVerifier(PUBLIC_URL, Keys(document), tenants=["acme"])
    assert (await verifier.verify(token(ed, "EdDSA", "ed"))).claims["sub"] == "c"
    assert (await verifier.verify(token(p256, "ES256", "p256"))).claims["sub"] == "c"
    for unusable in ("x25519", "ec-as-ed", "broken"):
        with pytest.raises(TokenRejected) as caught:
            await verifier.verify(token(ed, "EdDSA", unusable))
        assert caught.value.reason == "UNKNOWN_KID"


async def test_an_eddsa_token_is_not_accepted_under_an_es256_key_id(
    keys: tuple[Any, Any, dict[str, Any]],
) -> None:
    ed, _, document = keys
    verifier = TokenVerifier(PUBLIC_URL, Keys(document), tenants=["acme"])
    with pytest.raises(TokenRejected) as caught:
        await verifier.verify(token(ed, "EdDSA", "p256"))
    assert caught.value.reason == "ALGORITHM_MISMATCH"
