"""Building blocks for the registry's use-case tests: every feature over the in-memory stores,
and a unit of work that fails the test when a use case touches storage at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from services.common.changes import InProcessChangeBus
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.hashing import PepperRing, SecretHasher
from services.registry.features import Features, RegistryConfig, build_features
from services.registry.stores import memory_unit_of_work

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PEPPERS = "1:" + "p" * 43
ENCRYPTION_KEYS = "1:" + "A" * 43 + "="


class UntouchableUnitOfWork:
    """A unit of work that fails the test when opened: for checks that must come first."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        raise AssertionError("storage must not be touched")
        yield  # pragma: no cover

    read = transaction


class FastPasswords:
    """Stands in for argon2id where a test is not about password hashing."""

    def hash(self, password: str) -> str:
        return f"plain${password}"


def features(uow: Any = None, *, peppers: str = PEPPERS, production: bool = False) -> Features:
    """Every registry feature over ``uow`` (fresh in-memory stores by default)."""
    return build_features(
        uow if uow is not None else memory_unit_of_work(),
        changes=InProcessChangeBus(),
        now=lambda: NOW,
        secret_hasher=SecretHasher(PepperRing.parse(peppers)),
        password_hasher=FastPasswords(),
        cipher=EnvelopeCipher(Keyring.parse(ENCRYPTION_KEYS)),
        config=RegistryConfig(
            default_app_limit=25, production=production, access_token_seconds=900
        ),
    )
