"""Every registry feature's use cases over one unit of work: what the gRPC services serve, and
what tests drive directly over the in-memory stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.envelope import EnvelopeCipher
from services.common.hashing import SecretHasher
from services.registry.apps.use_cases import AppPolicy, AppUseCases
from services.registry.audit.use_cases import AuditUseCases
from services.registry.catalog.use_cases import CatalogUseCases
from services.registry.clients.use_cases import ClientUseCases
from services.registry.groups.use_cases import GroupUseCases
from services.registry.kernel.ports import UnitOfWork
from services.registry.kernel.scope import Publisher
from services.registry.memberships.use_cases import MembershipUseCases
from services.registry.plans.use_cases import PlanUseCases
from services.registry.regions.use_cases import RegionUseCases
from services.registry.resolution.use_cases import ResolutionUseCases
from services.registry.resource_servers.use_cases import ResourceServerUseCases
from services.registry.roles.use_cases import RoleUseCases
from services.registry.scopes.use_cases import ScopeUseCases
from services.registry.tenants.use_cases import TenantDefaults, TenantUseCases
from services.registry.users.use_cases import PasswordHashing, UserUseCases


@dataclass(frozen=True)
class RegistryConfig:
    default_app_limit: int
    production: bool
    access_token_seconds: int


@dataclass(frozen=True)
class Features:
    tenants: TenantUseCases
    regions: RegionUseCases
    plans: PlanUseCases
    apps: AppUseCases
    clients: ClientUseCases
    audit: AuditUseCases
    resolution: ResolutionUseCases
    catalog: CatalogUseCases
    scopes: ScopeUseCases
    resource_servers: ResourceServerUseCases
    users: UserUseCases
    roles: RoleUseCases
    groups: GroupUseCases
    memberships: MembershipUseCases


def build_features(
    # Any: each feature narrows the unit of work to its own Protocol; a bundle of every
    # store (services.registry.stores) satisfies them all.
    uow: UnitOfWork[Any],
    *,
    publisher: Publisher,
    now: Callable[[], datetime],
    secret_hasher: SecretHasher,
    password_hasher: PasswordHashing,
    cipher: EnvelopeCipher,
    config: RegistryConfig,
) -> Features:
    return Features(
        tenants=TenantUseCases(
            uow, publisher, now, secret_hasher, TenantDefaults(app_limit=config.default_app_limit)
        ),
        regions=RegionUseCases(uow, publisher, now),
        plans=PlanUseCases(uow, publisher, now),
        apps=AppUseCases(
            uow, publisher, now, secret_hasher, cipher, AppPolicy(production=config.production)
        ),
        clients=ClientUseCases(uow, publisher, now, secret_hasher),
        audit=AuditUseCases(uow, publisher, now),
        resolution=ResolutionUseCases(
            uow, publisher, now, secret_hasher, config.access_token_seconds
        ),
        catalog=CatalogUseCases(uow, publisher, now),
        scopes=ScopeUseCases(uow, publisher, now),
        resource_servers=ResourceServerUseCases(uow, publisher, now),
        users=UserUseCases(uow, publisher, now, password_hasher),
        roles=RoleUseCases(uow, publisher, now),
        groups=GroupUseCases(uow, publisher, now),
        memberships=MembershipUseCases(uow, publisher, now),
    )
