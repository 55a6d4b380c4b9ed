"""Building blocks for the registry's use-case tests: every feature over the in-memory stores,
the test doubles they are wired with (a recording change bus, a clock moved by hand, fast
password hashing), a unit of work that fails the test when a use case touches storage at all,
the callers that drive them, and readers for what a refusal or a write left behind."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.auth import Principal
from services.common.changes import Change, ChangeBus, InProcessChangeBus
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.errors import DomainError
from services.common.hashing import PepperRing, SecretHasher
from services.common.versions import InProcessVersionBoard, VersionBoard
from services.common.vocabulary import (
    CONTROL_PLANE_PERMISSIONS,
    CONTROL_PLANE_TENANT,
    TESSERA_PERMISSIONS,
)
from services.registry.apps.models import App, AppDraft
from services.registry.clients.models import IssuedCredentials
from services.registry.features import Features, RegistryConfig, build_features
from services.registry.kernel.memory import MemoryDatabase, MemoryTables
from services.registry.kernel.models import AuditEvent, PageRequest, Tenant
from services.registry.kernel.ports import UnitOfWork
from services.registry.kernel.scope import Publisher
from services.registry.regions.models import Region, RegionDraft
from services.registry.stores import MemoryStores, memory_unit_of_work
from services.registry.tenants.models import TenantDraft
from services.registry.users.use_cases import PasswordHashing

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PEPPERS = "1:" + "p" * 43
ENCRYPTION_KEYS = "1:" + "A" * 43 + "="

# -- test doubles -------------------------------------------------------------------------------


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


class RecordingBus(ChangeBus):
    """A ChangeBus that keeps every published change in ``changes``, in order.

    ``on_publish``, when set, is awaited with each change before it is kept: a test reads
    storage there to see what a subscriber woken by the change would find."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.on_publish: Callable[[Change], Awaitable[None]] | None = None

    async def publish(self, change: Change) -> None:
        if self.on_publish is not None:
            await self.on_publish(change)
        self.changes.append(change)

    async def subscribe(self) -> AsyncIterator[Change]:  # pragma: no cover - never subscribed
        raise NotImplementedError("a RecordingBus only records")
        yield

    async def close(self) -> None:
        self.changes.clear()


class Clock:
    """A clock for ``features(now=...)`` that reads ``at`` (``NOW`` to begin with) and only
    moves when the test sets ``at`` or calls :meth:`advance`."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


# -- the features -------------------------------------------------------------------------------


def features(
    uow: Any = None,
    *,
    changes: ChangeBus | None = None,
    board: VersionBoard | None = None,
    now: Callable[[], datetime] | None = None,
    peppers: str = PEPPERS,
    secret_hasher: SecretHasher | None = None,
    password_hasher: PasswordHashing | None = None,
    production: bool = False,
    app_limit: int = 25,
) -> Features:
    """Every registry feature over ``uow`` (fresh in-memory stores by default).

    By default changes go to an in-process bus and versions to an in-process board, the time
    is always ``NOW``, generated secrets are hashed under ``peppers`` and passwords by
    :class:`FastPasswords`; ``secret_hasher`` replaces the hasher over ``peppers`` (e.g. one
    that counts its checks). ``production`` turns on the stricter URL policy and
    ``app_limit`` is a new tenant's default app limit."""
    return build_features(
        uow if uow is not None else memory_unit_of_work(),
        publisher=Publisher(
            changes if changes is not None else InProcessChangeBus(),
            board if board is not None else InProcessVersionBoard(),
        ),
        now=now if now is not None else lambda: NOW,
        secret_hasher=secret_hasher or SecretHasher(PepperRing.parse(peppers)),
        password_hasher=password_hasher or FastPasswords(),
        cipher=EnvelopeCipher(Keyring.parse(ENCRYPTION_KEYS)),
        config=RegistryConfig(
            default_app_limit=app_limit, production=production, access_token_seconds=900
        ),
    )


def untouchable() -> Features:
    """Every feature over an :class:`UntouchableUnitOfWork`: for refusals that must come
    before storage is opened."""
    return features(UntouchableUnitOfWork())


# -- callers ------------------------------------------------------------------------------------


def operator(*permissions: str) -> Principal:
    """A control-plane caller holding ``permissions`` (all the control plane's by default)."""
    held = permissions or (*CONTROL_PLANE_PERMISSIONS, *TESSERA_PERMISSIONS)
    return Principal(CONTROL_PLANE_TENANT, "tc_operator", "client", frozenset(held), "tc_operator")


def tenant_admin(tenant: str, *permissions: str, subject: str = "tc_admin") -> Principal:
    """A caller of ``tenant`` holding ``permissions`` (the whole admin catalog by default)."""
    held = permissions or tuple(TESSERA_PERMISSIONS)
    return Principal(tenant, subject, "client", frozenset(held), subject)


def limited(*permissions: str, tenant: str = "acme") -> Principal:
    """A caller of ``tenant`` (``tc_limited``) holding only ``permissions``: by default it
    manages users and roles and holds no other admin permission (``client:write`` above all),
    so it may not hand out what it lacks itself."""
    held = permissions or ("user:read", "user:write", "role:read", "role:write")
    return tenant_admin(tenant, *held, subject="tc_limited")


def service(name: str) -> Principal:
    """A platform service's own token (e.g. the token service resolving grants)."""
    return Principal(CONTROL_PLANE_TENANT, f"service:{name}", "service", frozenset())


# -- a seeded platform --------------------------------------------------------------------------


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


@dataclass
class MemoryWorld:
    """A seeded platform over one in-memory database the test can look into, publishing to a
    :class:`RecordingBus`; a test module's own World extends it with what its tests need."""

    features: Features
    db: MemoryDatabase[MemoryTables]
    bus: RecordingBus
    seeded: Seeded

    def state(self) -> dict[str, Any]:
        """The committed tables (empty ones left out), to compare around a refused write."""
        return {name: copy.deepcopy(rows) for name, rows in self.db.state.rows.items() if rows}

    def state_but(self, event: AuditEvent) -> dict[str, Any]:
        """The committed tables without ``event``: what a refusal must leave unchanged."""
        state = self.state()
        state["audit_events"] = {k: v for k, v in state["audit_events"].items() if k != event.id}
        return state

    async def events(self, action: str = "") -> list[AuditEvent]:
        """The audit events of ``action`` (all by default), newest first."""
        return await audit_events(memory_unit_of_work(self.db), action)


async def memory_world(
    *,
    tenant: str = "acme",
    uow: Callable[[MemoryDatabase[MemoryTables]], Any] = memory_unit_of_work,
    **options: Any,
) -> MemoryWorld:
    """:func:`seeded` with tenant ``tenant`` over a fresh database opened by ``uow``, its
    features built with a :class:`RecordingBus` and ``options`` (see :func:`features`); the
    bus starts empty."""
    db: MemoryDatabase[MemoryTables] = MemoryDatabase(MemoryTables())
    bus = RecordingBus()
    made = await seeded(features(uow(db), changes=bus, **options), tenant=tenant)
    bus.changes.clear()
    return MemoryWorld(made.features, db, bus, made)


# -- what was left behind -----------------------------------------------------------------------


async def audit_events(uow: UnitOfWork[MemoryStores], action: str = "") -> list[AuditEvent]:
    """Every audit event in storage (the platform's own included) of ``action`` (all by
    default), newest first: read from the store, past the audit use cases' permission checks."""
    async with uow.read() as tx:
        return (await tx.audit.search(None, PageRequest(size=1000), action, "")).items


def reasons(error: DomainError) -> list[tuple[str, str]]:
    """``error``'s field violations as (field, reason), in the order it lists them."""
    return [(v.field, v.reason) for v in error.violations]


def reason_set(error: DomainError) -> set[tuple[str, str]]:
    """``error``'s field violations as a set of (field, reason): where the order is no matter."""
    return set(reasons(error))
