"""Client authentication reveals nothing (ARCHITECTURE §7): every failure at the token
endpoint answers the same invalid_client and costs the same work, whether the client is
unknown, another tenant's, disabled, public, or presented with a wrong secret
(services.token.domain.authentication over the registry's snapshot of the client)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.errors import DomainError
from services.common.hashing import PepperRing, SecretHasher
from services.token.domain.authentication import (
    LAST_USED_RESOLUTION,
    SECRETS_CHECKED,
    ClientAuthenticator,
    SecretUpkeep,
)
from services.token.domain.snapshots import ClientSnapshot, Secret
from tests.unit.token.fakes import CountingHasher

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD_RING = PepperRing([("1", b"p" * 32)])
ROTATED_RING = PepperRing([("2", b"q" * 32), ("1", b"p" * 32)])


def _snapshot(hasher: SecretHasher, **overrides: Any) -> ClientSnapshot:
    """Client ``tc_known`` of acme: secret ``tsk_right`` and, before it, ``tsk_old`` whose
    grace period ended an hour ago."""
    fields: dict[str, Any] = {
        "tenant": "acme",
        "tenant_version": 3,
        "platform_version": 1,
        "found": True,
        "tenant_id": "t-acme",
        "client_pk": "pk",
        "client_id": "tc_known",
        "enabled": True,
        "confidential": True,
        "grant_types": ("client_credentials",),
        "secrets": (
            Secret("s1", hasher.hash("tsk_right"), NOW, None, None),
            Secret("s0", hasher.hash("tsk_old"), NOW, NOW - timedelta(hours=1), None),
        ),
    }
    fields.update(overrides)
    return ClientSnapshot(**fields)


def _not_found(tenant: str) -> ClientSnapshot:
    """What the registry answers for a client the tenant does not have (or no tenant)."""
    return ClientSnapshot(tenant=tenant, tenant_version=1, platform_version=1)


def _authenticate(
    hasher: SecretHasher, client: ClientSnapshot, secret: str, grant: str = "client_credentials"
) -> SecretUpkeep | None:
    return ClientAuthenticator(hasher).authenticate(client, secret, grant, NOW)


@pytest.mark.parametrize(
    ("client", "secret", "grant"),
    [
        ("unknown", "tsk_right", "client_credentials"),
        ("other-tenant", "tsk_right", "client_credentials"),
        ("known", "tsk_wrong", "client_credentials"),
        ("known", "tsk_old", "client_credentials"),  # expired (grace over)
        ("known", "", "client_credentials"),
        ("disabled", "tsk_right", "client_credentials"),
        ("public", "", "client_credentials"),  # a public client cannot authenticate
        ("public", "tsk_right", "authorization_code"),  # nor present a secret
        ("public", "tsk_right", "client_credentials"),
        ("third", "tsk_third", "client_credentials"),  # only SECRETS_CHECKED are checked
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
        "public+secret+client_credentials",
        "beyond-the-checked-secrets",
    ],
)
def test_every_authentication_failure_is_the_same_error_after_the_same_work(
    client: str, secret: str, grant: str
) -> None:
    hasher = CountingHasher()
    live = (
        Secret("s2", hasher.hash("tsk_right"), NOW, None, None),
        Secret("s1", hasher.hash("tsk_other"), NOW, NOW + timedelta(hours=1), None),
        Secret("s0", hasher.hash("tsk_third"), NOW, NOW + timedelta(hours=1), None),
    )
    snapshots = {
        "unknown": _not_found("acme"),
        # The registry answers only about the tenant asked: another tenant's client is
        # simply not found there.
        "other-tenant": _not_found("globex"),
        "known": _snapshot(hasher),
        "disabled": _snapshot(hasher, enabled=False),
        "public": _snapshot(
            hasher,
            confidential=False,
            secrets=(),
            grant_types=("authorization_code", "refresh_token"),
        ),
        "third": _snapshot(hasher, secrets=live),
    }
    authenticator = ClientAuthenticator(hasher)
    hasher.verifications = 0
    with pytest.raises(DomainError) as caught:
        authenticator.authenticate(snapshots[client], secret, grant, NOW)
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
    upkeep = authenticator.authenticate(_snapshot(hasher), "tsk_right", "client_credentials", NOW)
    assert hasher.verifications == SECRETS_CHECKED
    assert upkeep == SecretUpkeep(secret_id="s1", touch=True, rehash=None)


def test_a_previous_secret_in_its_grace_period_still_passes() -> None:
    hasher = CountingHasher()
    grace = Secret("s0", hasher.hash("tsk_old"), NOW, NOW + timedelta(seconds=1), None)
    client = _snapshot(hasher, secrets=(_snapshot(hasher).secrets[0], grace))
    hasher.verifications = 0
    assert _authenticate(hasher, client, "tsk_old") == SecretUpkeep("s0", True, None)
    assert hasher.verifications == SECRETS_CHECKED
    # Its end is exclusive.
    ended = replace(client, secrets=(client.secrets[0], replace(grace, expires_at=NOW)))
    with pytest.raises(DomainError):
        _authenticate(hasher, ended, "tsk_old")


def test_a_secret_used_within_the_minute_needs_no_upkeep() -> None:
    hasher = CountingHasher()
    recent = Secret("s1", hasher.hash("tsk_right"), NOW, None, NOW - LAST_USED_RESOLUTION)
    assert _authenticate(hasher, _snapshot(hasher, secrets=(recent,)), "tsk_right") is None
    older = replace(recent, last_used_at=NOW - LAST_USED_RESOLUTION - timedelta(seconds=1))
    assert _authenticate(hasher, _snapshot(hasher, secrets=(older,)), "tsk_right") == (
        SecretUpkeep("s1", True, None)
    )


def test_a_public_client_is_identified_for_browser_grants_without_a_secret() -> None:
    hasher = CountingHasher()
    public = _snapshot(hasher, confidential=False, secrets=())
    hasher.verifications = 0
    for grant in ("authorization_code", "refresh_token"):
        assert _authenticate(hasher, public, "", grant) is None
    assert hasher.verifications == 2 * SECRETS_CHECKED


def test_a_secret_hashed_under_a_retired_pepper_is_re_hashed_under_the_current_one() -> None:
    old = SecretHasher(OLD_RING)
    rotated = CountingHasher(ROTATED_RING)
    upkeep = _authenticate(rotated, _snapshot(old), "tsk_right")
    assert upkeep is not None
    assert (upkeep.secret_id, upkeep.touch) == ("s1", True)
    assert upkeep.rehash is not None
    assert rotated.is_current(upkeep.rehash)
    # Once stored, the old pepper can leave the ring and the secret still verifies.
    assert SecretHasher(PepperRing([("2", b"q" * 32)])).verify("tsk_right", upkeep.rehash)


def test_a_re_hash_is_asked_even_when_the_last_use_is_recent() -> None:
    old = SecretHasher(OLD_RING)
    recent = Secret("s1", old.hash("tsk_right"), NOW, None, NOW)
    upkeep = _authenticate(
        CountingHasher(ROTATED_RING), _snapshot(old, secrets=(recent,)), "tsk_right"
    )
    assert upkeep is not None
    assert (upkeep.secret_id, upkeep.touch) == ("s1", False)
    assert upkeep.rehash is not None


def test_a_secret_under_a_pepper_no_longer_in_the_ring_fails() -> None:
    old = SecretHasher(OLD_RING)
    current_only = CountingHasher(PepperRing([("2", b"q" * 32)]))
    with pytest.raises(DomainError) as caught:
        _authenticate(current_only, _snapshot(old), "tsk_right")
    assert caught.value.reason == "INVALID_CLIENT"
    assert current_only.verifications == SECRETS_CHECKED
