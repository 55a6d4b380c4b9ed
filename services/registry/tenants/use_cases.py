"""Tenants: the isolation boundary (ARCHITECTURE §2), created and changed by operators, and
the platform's own seeding at start (the control-plane tenant and the bootstrap admin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from services.common.access import Access, operator
from services.common.auth import Principal
from services.common.errors import InvalidArgument, ValidationErrors
from services.common.hashing import SecretHasher
from services.common.vocabulary import (
    CONTROL_PLANE_TENANT,
    DEFAULT_GRANT_TYPES,
)
from services.registry.clients.models import Client, ClientSecretRecord, IssuedCredentials
from services.registry.clients.provisioning import create_app_client
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.models import DEFAULT_TENANT_SETTINGS, PageOf, Settings, Tenant
from services.registry.kernel.paging import MAX_PAGE_SIZE, page_request
from services.registry.kernel.ports import UnitOfWork
from services.registry.kernel.scope import (
    REGISTRY_SERVICE,
    Publisher,
    UseCases,
    Write,
    load_tenant,
    new_id,
)
from services.registry.kernel.settings import merge_patch, validate_settings
from services.registry.kernel.text import validate_display_name
from services.registry.tenants.models import TenantDraft, TenantPatch
from services.registry.tenants.provisioning import (
    CONTROL_PLANE_SEED,
    TENANT_SEED,
    ProvisioningTx,
    reseed,
    seed_tenant,
)
from services.registry.tenants.rules import validate_app_limit, validate_tenant_slug
from services.registry.tenants.store import TenantStore

READ = Access(all_of=("app:read",), operator_instead="tenant:read")
LIST = operator("tenant:read")
WRITE = operator("tenant:write")
ORDER_FIELDS = ("slug", "display_name", "created_at")


class TenantsTx(ProvisioningTx, Protocol):
    @property
    def tenants(self) -> TenantStore: ...


@dataclass(frozen=True)
class TenantDefaults:
    app_limit: int


class TenantUseCases(UseCases[TenantsTx]):
    def __init__(
        self,
        uow: UnitOfWork[TenantsTx],
        publisher: Publisher,
        now: Callable[[], datetime],
        hasher: SecretHasher,
        defaults: TenantDefaults,
    ) -> None:
        super().__init__(uow, publisher, now)
        self._hasher = hasher
        self._defaults = defaults

    async def create(
        self, principal: Principal, draft: TenantDraft
    ) -> tuple[Tenant, IssuedCredentials]:
        """Create a tenant, seed its system app ``tessera`` with the admin catalog, and create
        the tenant's admin client (role ``tenant-admin``: every ``tessera`` permission, this
        tenant only). Its plaintext secret is returned here once. Side effect: audit
        ``tenant.create``."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            slug = validate_tenant_slug(errors, draft.slug)
            name = validate_display_name(errors, draft.display_name)
            limit = validate_app_limit(
                errors, self._defaults.app_limit if draft.app_limit is None else draft.app_limit
            )
            settings = validate_settings(errors, draft.settings)
            errors.raise_if_any()
            assert slug is not None
            assert name is not None
            assert limit is not None
            tx, now = scope.tx, scope.now
            tenant = Tenant(
                id=new_id(),
                slug=slug,
                display_name=name,
                app_limit=limit,
                control_plane=False,
                settings=Settings(settings).merged_over(DEFAULT_TENANT_SETTINGS),
                version=1,
                created_at=now,
                updated_at=now,
            )
            await tx.tenants.insert(tenant)
            system, role_id = await seed_tenant(tx, tenant, TENANT_SEED, now)
            client, credentials = await create_app_client(
                tx.clients,
                self._hasher,
                tenant,
                system.id,
                system.display_name,
                DEFAULT_GRANT_TYPES,
                now,
            )
            await tx.clients.add_role(client.id, role_id)
            await scope.audit(
                "tenant.create",
                "tenant",
                tenant.slug,
                {"admin_client_id": credentials.client_id},
                tenant=tenant,
            )
            scope.publish("tenant", tenant.id, tenant_slug=tenant.slug)
        return tenant, credentials

    async def get(self, principal: Principal, slug: str) -> Tenant:
        async with self.read(principal, READ, slug) as scope:
            return scope.tenant

    async def search(
        self, principal: Principal, size: int, offset: int, query: str, order_by: str
    ) -> PageOf[Tenant]:
        async with self.read(principal, LIST) as scope:
            if order_by.lstrip("-") not in ("", *ORDER_FIELDS):
                raise InvalidArgument(
                    "ORDER_BY_INVALID",
                    f"order_by must be one of {', '.join(ORDER_FIELDS)} (prefix - for descending).",
                )
            return await scope.tx.tenants.search(page_request(size, offset), query, order_by)

    async def update(
        self, principal: Principal, slug: str, patch: TenantPatch, expected_version: int
    ) -> Tenant:
        """Change name, app limit or settings (a JSON Merge Patch: null resets a setting to
        the platform default). Side effects: audit ``tenant.update``; change published."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            name = (
                validate_display_name(errors, patch.display_name)
                if patch.display_name is not None
                else None
            )
            limit = (
                validate_app_limit(errors, patch.app_limit) if patch.app_limit is not None else None
            )
            settings = (
                validate_settings(errors, patch.settings) if patch.settings is not None else None
            )
            errors.raise_if_any()
            tenant = await self._tenant(scope.tx, slug)
            check_version(tenant.version, expected_version, "tenant")
            updated = replace(
                tenant,
                display_name=name or tenant.display_name,
                app_limit=limit or tenant.app_limit,
                settings=Settings(merge_patch(tenant.settings.values, settings)).merged_over(
                    DEFAULT_TENANT_SETTINGS
                )
                if settings is not None
                else tenant.settings,
                version=tenant.version + 1,
                updated_at=scope.now,
            )
            if not await scope.tx.tenants.update(updated, tenant.version):
                raise changed_concurrently("tenant")
            await scope.audit(
                "tenant.update",
                "tenant",
                slug,
                {"fields": [k for k, v in vars(patch).items() if v is not None]},
                tenant=tenant,
            )
            scope.publish("tenant", tenant.id, tenant_slug=slug)
        return updated

    async def bootstrap(self, admin_client_id: str, admin_secret: str | None) -> bool:
        """Seed the control-plane tenant, its system apps and (with a secret) the bootstrap
        admin client; bring every existing tenant's system catalogs and admin role up to this
        release's (:func:`reseed`: a new platform permission such as ``key:write`` reaches
        every tenant admin).

        Idempotent; safe on every start; a tenant already up to date costs a few reads and
        no write. When the configured admin secret differs from the stored one, the
        configured secret replaces it (configuration is the source of truth). Each tenant
        whose grants changed is announced (its cached snapshots are stale). Returns True when
        anything was created or changed.
        """
        async with self.write(REGISTRY_SERVICE, None) as scope:
            tx, now = scope.tx, scope.now
            # Replicas starting together: one seeds, the others wait and find it seeded.
            await tx.tenants.lock_bootstrap()
            changed = False
            tenant = await tx.tenants.get(CONTROL_PLANE_TENANT)
            if tenant is None:
                tenant = Tenant(
                    id=new_id(),
                    slug=CONTROL_PLANE_TENANT,
                    display_name="Control plane",
                    app_limit=self._defaults.app_limit,
                    control_plane=True,
                    settings=DEFAULT_TENANT_SETTINGS,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                await tx.tenants.insert(tenant)
                changed = True
            system, role_id, reseeded = await reseed(tx, tenant, CONTROL_PLANE_SEED, now)
            if reseeded and not changed:
                scope.publish("role", role_id, tenant_slug=tenant.slug)
            changed = changed or reseeded
            changed = await self._reseed_tenants(scope, now) or changed
            # Seeding the platform is not an admin's write; a configured admin secret is.
            scope.unaudited("platform seeding")
            if admin_secret is not None:
                created, configured = await self._admin_client(
                    tx, tenant, system.id, role_id, admin_client_id, admin_secret, now
                )
                if configured:
                    await scope.audit(
                        "client.secret.configure",
                        "client",
                        admin_client_id,
                        {"source": "TESSERA_BOOTSTRAP_ADMIN_SECRET"},
                        tenant=tenant,
                    )
                if created or configured:
                    scope.publish("client", admin_client_id, tenant_slug=tenant.slug)
                changed = changed or created or configured
        return changed

    @staticmethod
    async def _reseed_tenants(scope: Write[TenantsTx], now: datetime) -> bool:
        """:func:`reseed` every tenant but the control plane, a page at a time."""
        changed = False
        offset: int | None = 0
        while offset is not None:
            page = await scope.tx.tenants.search(page_request(MAX_PAGE_SIZE, offset), "", "slug")
            for tenant in page.items:
                if tenant.control_plane:
                    continue
                _, role_id, reseeded = await reseed(scope.tx, tenant, TENANT_SEED, now)
                if reseeded:
                    scope.publish("role", role_id, tenant_slug=tenant.slug)
                    changed = True
            offset = page.next_offset
        return changed

    async def _admin_client(
        self,
        tx: TenantsTx,
        tenant: Tenant,
        system_app_id: str,
        role_id: str,
        admin_client_id: str,
        admin_secret: str,
        now: datetime,
    ) -> tuple[bool, bool]:
        """The bootstrap admin client with the configured secret: (created, secret replaced).
        Configuration is the source of truth: the platform-admin role is re-asserted on every
        start (seeding, not audited), and a different configured secret replaces the stored
        one (audited by the caller)."""
        created = False
        client = await tx.clients.get(admin_client_id)
        if client is None:
            client = Client(
                id=new_id(),
                tenant_id=tenant.id,
                client_id=admin_client_id,
                display_name="Bootstrap administrator",
                confidential=True,
                enabled=True,
                grant_types=DEFAULT_GRANT_TYPES,
                app_ids=(system_app_id,),
                version=1,
            )
            await tx.clients.insert(client, now)
            await tx.clients.set_apps(client.id, [system_app_id])
            created = True
        await tx.clients.add_role(client.id, role_id)
        secrets = await tx.clients.secrets(client.id)
        valid = [s for s in secrets if s.expires_at is None or s.expires_at > now]
        if any(self._hasher.verify(admin_secret, s.secret_hash) for s in valid):
            return created, False
        await tx.clients.retire_secrets(client.id, None, None)
        await tx.clients.insert_secret(
            client.id,
            ClientSecretRecord(
                id=new_id(),
                secret_hash=self._hasher.hash(admin_secret),
                created_at=now,
                expires_at=None,
                last_used_at=None,
            ),
        )
        return created, True

    @staticmethod
    async def _tenant(tx: TenantsTx, slug: str) -> Tenant:
        return await load_tenant(tx, slug, for_update=True)
