"""Client authentication reveals nothing (ARCHITECTURE §7): every failure at the token
endpoint answers the same invalid_client and costs the same work, whether the client is
unknown, another tenant's, disabled, public, or presented with a wrong secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.auth import Principal
from services.common.errors import DomainError
from services.common.secrets import PepperRing, SecretHasher
from services.registry.domain.models import ClientCredentials, ClientSecretRecord
from services.registry.domain.resolution import SECRETS_CHECKED, ResolutionService

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TOKEN_SERVICE = Principal(
    tenant="control-plane", subject="service:token", kind="service", permissions=frozenset()
)


class CountingHasher(SecretHasher):
    def __init__(self) -> None:
        super().__init__(PepperRing([("1", b"p" * 32)]))
        self.verifications = 0

    def verify(self, secret: str, stored: str) -> bool:
        self.verifications += 1
        return super().verify(secret, stored)


class Store:
    """Answers only the credentials read; any further read means authentication passed."""

    def __init__(self, clients: dict[str, ClientCredentials]) -> None:
        self.clients = clients
        self.reads: list[str] = []

    async def client_credentials(self, client_id: str) -> ClientCredentials | None:
        self.reads.append("client_credentials")
        return self.clients.get(client_id)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"read {name} before the client was authenticated")


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


def _service(store: Store, hasher: SecretHasher) -> ResolutionService:
    @asynccontextmanager
    async def unit() -> AsyncIterator[Any]:
        yield store

    return ResolutionService(unit, unit, hasher, 900, lambda: NOW)


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
async def test_every_authentication_failure_is_the_same_error_after_the_same_work(
    client_id: str, tenant: str, secret: str, grant: str
) -> None:
    hasher = CountingHasher()
    store = Store(
        {
            "tc_known": _credentials(hasher),
            "tc_disabled": _credentials(hasher, enabled=False),
            "tc_public": _credentials(hasher, confidential=False, secrets=()),
        }
    )
    hasher.verifications = 0
    with pytest.raises(DomainError) as caught:
        await _service(store, hasher).resolve_client(
            TOKEN_SERVICE, tenant, client_id, secret, "", grant
        )
    assert (caught.value.reason, caught.value.message, caught.value.metadata) == (
        "INVALID_CLIENT",
        "Client authentication failed.",
        {"oauth_error": "invalid_client"},
    )
    assert store.reads == ["client_credentials"]
    assert hasher.verifications == SECRETS_CHECKED


async def test_the_right_secret_passes_authentication_after_the_same_work() -> None:
    hasher = CountingHasher()
    store = Store({"tc_known": _credentials(hasher)})
    hasher.verifications = 0
    with pytest.raises(AssertionError, match="before the client was authenticated"):
        await _service(store, hasher).resolve_client(
            TOKEN_SERVICE, "acme", "tc_known", "tsk_right", "", "client_credentials"
        )
    assert hasher.verifications == SECRETS_CHECKED
