"""Building blocks for the registry's use-case tests: every feature over the in-memory stores,
and a unit of work that fails the test when a use case touches storage at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.auth import Principal
from services.common.changes import InProcessChangeBus
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.hashing import PepperRing, SecretHasher
from services.common.vocabulary import (
    CONTROL_PLANE_PERMISSIONS,
    CONTROL_PLANE_TENANT,
    TESSERA_PERMISSIONS,
)
from services.registry.apps.models import App, AppDraft
from services.registry.clients.models import IssuedCredentials
from services.registry.features import Features, RegistryConfig, build_features
from services.registry.kernel.models import Tenant
from services.registry.regions.models import Region, RegionDraft
from services.registry.stores import memory_unit_of_work
from services.registry.tenants.models import TenantDraft

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


def operator(*permissions: str) -> Principal:
    """A control-plane caller holding ``permissions`` (all the control plane's by default)."""
    held = permissions or (*CONTROL_PLANE_PERMISSIONS, *TESSERA_PERMISSIONS)
    return Principal(CONTROL_PLANE_TENANT, "tc_operator", "client", frozenset(held), "tc_operator")


def tenant_admin(tenant: str, *permissions: str, subject: str = "tc_admin") -> Principal:
    """A caller of ``tenant`` holding ``permissions`` (the whole admin catalog by default)."""
    held = permissions or tuple(TESSERA_PERMISSIONS)
    return Principal(tenant, subject, "client", frozenset(held), subject)


def service(name: str) -> Principal:
    """A platform service's own token (e.g. the token service resolving grants)."""
    return Principal(CONTROL_PLANE_TENANT, f"service:{name}", "service", frozenset())


@dataclass(frozen=True)
class Seeded:
    """A platform with one region (databases ``db-1``, ``db-2``) and one tenant."""

    features: Features
    tenant: Tenant
    region: Region


async def seeded(f: Features | None = None, *, tenant: str = "acme") -> Seeded:
    """Bootstrap the platform, create region ``eu`` and tenant ``tenant`` over ``f``."""
    f = f or features()
    await f.tenants.bootstrap("tc_operator", None)
    region = await f.regions.create(
        operator(),
        RegionDraft(code="eu", name="Europe", databases=(("db-1", True), ("db-2", True))),
    )
    created, _ = await f.tenants.create(operator(), TenantDraft(slug=tenant, display_name="Acme"))
    return Seeded(f, created, region)


async def app(s: Seeded, slug: str, **draft: Any) -> tuple[App, IssuedCredentials]:
    """An app of the seeded tenant in region ``eu``, created by its admin."""
    return await s.features.apps.create(
        tenant_admin(s.tenant.slug),
        s.tenant.slug,
        AppDraft(
            slug=slug, display_name=draft.pop("display_name", slug.title()), region="eu", **draft
        ),
    )
