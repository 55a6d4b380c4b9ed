"""What every tenant starts with: its system app ``tessera`` carrying the admin catalog (and
the core catalog), the ``tenant-admin`` role, and — for a new tenant — its admin client.
The control-plane tenant also gets the ``control-plane`` app and the ``platform-admin`` role
(Modgud seed, "The system apps"). Runs inside the caller's unit of work.

The platform's catalogs grow (a release adds ``key:read``): :func:`reseed` brings an existing
tenant up to date — missing entries, entries renamed or deprecated, admin-role grants — and
writes nothing when it already is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.common.vocabulary import (
    CONTROL_PLANE_APP,
    CONTROL_PLANE_PERMISSIONS,
    CORE_PERMISSIONS,
    CORE_SERVICE,
    DEFAULT_GRANT_TYPES,
    PLATFORM_ADMIN_ROLE,
    SYSTEM_APP,
    TENANT_ADMIN_ROLE,
    TESSERA_PERMISSIONS,
)
from services.registry.apps.models import App
from services.registry.apps.store import AppStore
from services.registry.catalog.store import CatalogStore
from services.registry.clients.store import ClientStore
from services.registry.kernel.models import Settings, Tenant
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import new_id
from services.registry.roles.store import RoleStore

SYSTEM_APP_NAMES = {SYSTEM_APP: "Tessera", CONTROL_PLANE_APP: "Control plane"}


class ProvisioningTx(BaseTx, Protocol):
    @property
    def apps(self) -> AppStore: ...
    @property
    def catalog(self) -> CatalogStore: ...
    @property
    def roles(self) -> RoleStore: ...
    @property
    def clients(self) -> ClientStore: ...


async def seed_system_app(
    tx: ProvisioningTx,
    tenant: Tenant,
    slug: str,
    service_codes: tuple[str, ...],
    catalog: dict[str, str],
    at: datetime,
) -> App:
    """The tenant's system app ``slug`` with its catalog (upserted: re-running refreshes the
    names and revives deprecated entries); every tenant's ``tessera`` app also seeds the core
    catalog. Returns the existing app when it is there already."""
    for code, name in catalog.items():
        await tx.catalog.upsert(tenant.id, slug, code, name, at)
    if slug == SYSTEM_APP:
        for code, name in CORE_PERMISSIONS.items():
            await tx.catalog.upsert(tenant.id, CORE_SERVICE, code, name, at)
    existing = await tx.apps.get(tenant.id, slug)
    if existing is not None:
        return existing
    app = App(
        id=new_id(),
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        slug=slug,
        display_name=SYSTEM_APP_NAMES[slug],
        description="System app (created automatically)",
        enabled=True,
        is_system=True,
        region_id=None,
        region_code=None,
        db_code=None,
        plan_id=None,
        redirect_uris=(),
        post_logout_redirect_uris=(),
        allowed_domains=(),
        auto_grant_on_signup=False,
        service_codes=service_codes,
        grant_types=DEFAULT_GRANT_TYPES,
        storage=None,
        settings=Settings(),
        client_ids=(),
        version=1,
        created_at=at,
        updated_at=at,
    )
    await tx.apps.insert(app)
    return app


async def seed_admin_role(
    tx: ProvisioningTx,
    tenant: Tenant,
    code: str,
    name: str,
    services: tuple[str, ...],
    at: datetime,
) -> str:
    """The tenant-wide role ``code`` carrying every entry of ``services``' catalogs."""
    role_id = await tx.roles.upsert(tenant.id, None, code, name, at)
    ids = await tx.catalog.ids(tenant.id, list(services))
    await tx.roles.grant(role_id, sorted(ids.values()))
    return role_id


@dataclass(frozen=True)
class SystemSeed:
    """What a tenant's platform-owned part must hold: its system apps, each with
    ``(slug, service_codes, catalog)``, and the admin role carrying every entry of
    ``role_services``' catalogs."""

    apps: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...]
    role: str
    role_name: str
    role_services: tuple[str, ...]


TENANT_SEED = SystemSeed(
    apps=((SYSTEM_APP, (SYSTEM_APP,), TESSERA_PERMISSIONS),),
    role=TENANT_ADMIN_ROLE,
    role_name="Tenant administrator",
    role_services=(SYSTEM_APP,),
)
CONTROL_PLANE_SEED = SystemSeed(
    apps=(
        (SYSTEM_APP, (SYSTEM_APP, CONTROL_PLANE_APP), TESSERA_PERMISSIONS),
        (CONTROL_PLANE_APP, (CONTROL_PLANE_APP,), CONTROL_PLANE_PERMISSIONS),
    ),
    role=PLATFORM_ADMIN_ROLE,
    role_name="Platform administrator",
    role_services=(SYSTEM_APP, CONTROL_PLANE_APP),
)


async def seed_tenant(
    tx: ProvisioningTx, tenant: Tenant, seed: SystemSeed, at: datetime
) -> tuple[App, str]:
    """Create or refresh (upsert) the system apps, their catalogs and the admin role with its
    grants; returns the ``tessera`` app and the role's id."""
    apps = {
        slug: await seed_system_app(tx, tenant, slug, codes, catalog, at)
        for slug, codes, catalog in seed.apps
    }
    role_id = await seed_admin_role(tx, tenant, seed.role, seed.role_name, seed.role_services, at)
    return apps[SYSTEM_APP], role_id


async def reseed(
    tx: ProvisioningTx, tenant: Tenant, seed: SystemSeed, at: datetime
) -> tuple[App, str, bool]:
    """Bring a tenant's platform-owned part up to ``seed`` (new platform permissions reach
    existing tenants and their admin role), creating it when missing. Idempotent: writes
    nothing when the tenant is up to date. Returns the ``tessera`` app, the admin role's id
    and whether anything was written (the caller then announces the change)."""
    current = await _seeded(tx, tenant, seed)
    if current is not None:
        return (*current, False)
    app, role_id = await seed_tenant(tx, tenant, seed, at)
    return app, role_id, True


async def _seeded(tx: ProvisioningTx, tenant: Tenant, seed: SystemSeed) -> tuple[App, str] | None:
    """The ``tessera`` app and the admin role's id when the tenant holds everything ``seed``
    describes, as :func:`seed_tenant` leaves it; None when anything is missing (reads only)."""
    wanted = {
        (slug, code): name for slug, _, catalog in seed.apps for code, name in catalog.items()
    }
    wanted.update({(CORE_SERVICE, code): name for code, name in CORE_PERMISSIONS.items()})
    apps = {slug: await tx.apps.get(tenant.id, slug) for slug, _, _ in seed.apps}
    system = apps.get(SYSTEM_APP)
    if system is None or None in apps.values():
        return None
    entries = await tx.catalog.entries(tenant.id, sorted({s for s, _ in wanted}))
    live = {(e.service_code, e.code): e.name for e in entries if e.deprecated_at is None}
    if any(live.get(ref) != name for ref, name in wanted.items()):
        return None
    role = await tx.roles.get(tenant.id, seed.role)
    if role is None:
        return None
    granted = set(await tx.roles.grants([role.id]))
    every = {(e.service_code, e.code) for e in entries if e.service_code in seed.role_services}
    return (system, role.id) if every <= granted else None
