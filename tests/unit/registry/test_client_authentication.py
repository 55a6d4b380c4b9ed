"""Client authentication reveals nothing (ARCHITECTURE §7): every failure at the token
endpoint answers the same invalid_client and costs the same work, whether the client is
unknown, another tenant's, disabled, public, or presented with a wrong secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.errors import DomainError
from services.common.hashing import PepperRing, SecretHasher
from services.registry.clients.models import ClientCredentials, ClientSecretRecord
from services.registry.resolution.authentication import (
    LAST_USED_RESOLUTION,
    SECRETS_CHECKED,
    ClientAuthenticator,
    SecretUpkeep,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


class CountingHasher(SecretHasher):
    def __init__(self, ring: PepperRing | None = None) -> None:
        super().__init__(ring or PepperRing([("1", b"p" * 32)]))
        self.verifications = 0

    def verify(self, secret: str, stored: str) -> bool:
        self.verifications += 1
        return super().verify(secret, stored)


def _credentials(hasher: SecretHasher, **overrides: Any) -> ClientCredentials:
    fields: dict[str, Any] = {
        "client_pk": "pk",
        "tenant_slug": "acme",
        "enabled": True,
        "confidential": True,
        "secrets": (
            ClientSecretRecord("s1", hasher.hash("tsk_right"), NOW, None, None),
            ClientSecretRecord(
                "s0",
                hasher.hash("tsk_old"),
                NOW - timedelta(days=1),
                NOW - timedelta(hours=1),
                None,
            ),
        ),
    }
    fields.update(overrides)
    return ClientCredentials(**fields)


@pytest.mark.parametrize(
    ("client_id", "tenant", "secret", "grant"),
    [
        ("tc_unknown", "acme", "tsk_right", "client_credentials"),
        ("tc_known", "globex", "tsk_right", "client_credentials"),  # another tenant's client
        ("tc_known", "acme", "tsk_wrong", "client_credentials"),
        ("tc_known", "acme", "tsk_old", "client_credentials"),  # expired (grace over)
        ("tc_known", "acme", "", "client_credentials"),
        ("tc_disabled", "acme", "tsk_right", "client_credentials"),
        ("tc_public", "acme", "", "client_credentials"),  # a public client cannot authenticate
        ("tc_public", "acme", "tsk_right", "authorization_code"),
    ],
    ids=[
        "unknown",
        "other-tenant",
        "wrong",
        "expired",
        "empty",
        "disabled",
        "public",
        "public+secret",
    ],
)
def test_every_authentication_failure_is_the_same_error_after_the_same_work(
    client_id: str, tenant: str, secret: str, grant: str
) -> None:
    hasher = CountingHasher()
    known = {
        "tc_known": _credentials(hasher),
        "tc_disabled": _credentials(hasher, enabled=False),
        "tc_public": _credentials(hasher, confidential=False, secrets=()),
    }
    authenticator = ClientAuthenticator(hasher)
    hasher.verifications = 0
    with pytest.raises(DomainError) as caught:
        authenticator.authenticate(known.get(client_id), tenant, secret, grant, NOW)
    assert (caught.value.reason, caught.value.message, caught.value.metadata) == (
        "INVALID_CLIENT",
        "Client authentication failed.",
        {"oauth_error": "invalid_client"},
    )
    assert hasher.verifications == SECRETS_CHECKED


def test_the_right_secret_passes_after_the_same_work_and_asks_for_a_last_used_time() -> None:
    hasher = CountingHasher()
    authenticator = ClientAuthenticator(hasher)
    hasher.verifications = 0
    upkeep = authenticator.authenticate(
        _credentials(hasher), "acme", "tsk_right", "client_credentials", NOW
    )
    assert hasher.verifications == SECRETS_CHECKED
    assert upkeep == SecretUpkeep(secret_id="s1", touch=True, rehash=None)


def test_a_secret_used_within_the_minute_needs_no_upkeep() -> None:
    hasher = CountingHasher()
    recent = ClientSecretRecord(
        "s1", hasher.hash("tsk_right"), NOW, None, NOW - LAST_USED_RESOLUTION / 2
    )
    credentials = _credentials(hasher, secrets=(recent,))
    upkeep = ClientAuthenticator(hasher).authenticate(
        credentials, "acme", "tsk_right", "client_credentials", NOW
    )
    assert upkeep is None


def test_a_public_client_is_identified_for_browser_grants_without_a_secret() -> None:
    hasher = CountingHasher()
    public = _credentials(hasher, confidential=False, secrets=())
    upkeep = ClientAuthenticator(hasher).authenticate(public, "acme", "", "authorization_code", NOW)
    assert upkeep is None


def test_a_secret_hashed_under_a_retired_pepper_is_re_hashed_under_the_current_one() -> None:
    old = SecretHasher(PepperRing([("1", b"p" * 32)]))
    rotated = CountingHasher(PepperRing([("2", b"q" * 32), ("1", b"p" * 32)]))
    credentials = _credentials(old)
    upkeep = ClientAuthenticator(rotated).authenticate(
        credentials, "acme", "tsk_right", "client_credentials", NOW
    )
    assert upkeep is not None
    assert upkeep.secret_id == "s1"
    assert upkeep.rehash is not None
    assert rotated.is_current(upkeep.rehash)
    # Once stored, the old pepper can leave the ring and the secret still verifies.
    assert SecretHasher(PepperRing([("2", b"q" * 32)])).verify("tsk_right", upkeep.rehash)
