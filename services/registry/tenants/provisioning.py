"""What every tenant starts with: its system app ``tessera`` carrying the admin catalog (and
the core catalog), the ``tenant-admin`` role, and — for a new tenant — its admin client.
The control-plane tenant also gets the ``control-plane`` app and the ``platform-admin`` role
(Modgud seed, "The system apps"). Runs inside the caller's unit of work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.common.vocabulary import (
    CONTROL_PLANE_APP,
    CORE_PERMISSIONS,
    CORE_SERVICE,
    DEFAULT_GRANT_TYPES,
    SYSTEM_APP,
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
