"""Registry use cases. Each public method: authorise, validate, run one unit of work, audit.

Side effects are stated per method. Rules cite ARCHITECTURE §2 and the seeds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.common.auth import CONTROL_PLANE_TENANT, Principal, require_operator
from services.common.changes import Change, ChangeBus
from services.common.envelope import EnvelopeCipher
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ValidationErrors,
)
from services.common.secrets import (
    SecretHasher,
)
from services.registry.domain import audit, rules
from services.registry.domain.catalog import (
    CONTROL_PLANE_APP,
    CONTROL_PLANE_PERMISSIONS,
    CORE_PERMISSIONS,
    CORE_SERVICE,
    DEFAULT_GRANT_TYPES,
    GRANT_TYPES,
    PLATFORM_ADMIN_ROLE,
    RESERVED_SERVICES,
    SYSTEM_APP,
    TENANT_ADMIN_ROLE,
    TESSERA_PERMISSIONS,
)
from services.registry.domain.clients import IssuedCredentials, create_app_client
from services.registry.domain.commands import (
    AppDraft,
    AppPatch,
    CloneDraft,
    PlanDraft,
    PlanPatch,
    RegionDraft,
    RegionPatch,
    StorageInput,
    TenantDraft,
    TenantPatch,
)
from services.registry.domain.concurrency import changed_concurrently, check_version
from services.registry.domain.models import (
    DEFAULT_TENANT_SETTINGS,
    App,
    AuditEvent,
    Client,
    ClientSecretRecord,
    PageOf,
    Plan,
    PlanStatus,
    Region,
    RegionDatabase,
    Settings,
    StorageConfig,
    Tenant,
)
from services.registry.domain.paging import page_request
from services.registry.domain.ports import RegistryTx, UnitOfWork
from services.registry.domain.settings_rules import merge_patch, validate_settings

_LIMIT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# The actor of writes the registry makes on its own (bootstrap from configuration).
REGISTRY_SERVICE = Principal(
    tenant=CONTROL_PLANE_TENANT, subject="service:registry", kind="service", permissions=frozenset()
)
APP_ORDER_FIELDS = ("slug", "display_name", "created_at", "updated_at")
TENANT_ORDER_FIELDS = ("slug", "display_name", "created_at")


@dataclass(frozen=True)
class RegistryConfig:
    default_app_limit: int
    production: bool
    access_token_seconds: int


def _new_id() -> str:
    return str(uuid.uuid4())


class RegistryService:
    def __init__(
        self,
        transaction: UnitOfWork,
        read: UnitOfWork,
        hasher: SecretHasher,
        cipher: EnvelopeCipher,
        config: RegistryConfig,
        now: Callable[[], datetime],
        changes: ChangeBus,
    ) -> None:
        self._tx = transaction
        self._read = read
        self._hasher = hasher
        self._cipher = cipher
        self._config = config
        self._now = now
        self._changes = changes

    # -- helpers -----------------------------------------------------------------------------

    async def _audit(
        self,
        tx: RegistryTx,
        principal: Principal,
        action: str,
        target_type: str,
        target_id: str,
        tenant: Tenant | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await audit.record(
            tx, principal, action, target_type, target_id, tenant, self._now(), details
        )

    @staticmethod
    async def _tenant(tx: RegistryTx, slug: str, *, for_update: bool = False) -> Tenant:
        tenant = await tx.get_tenant(slug, for_update=for_update)
        if tenant is None:
            raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {slug!r}.")
        return tenant

    @staticmethod
    async def _app(tx: RegistryTx, tenant: Tenant, app: str) -> App:
        found = await tx.get_app(tenant.id, app)
        if found is None:
            raise NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {app!r}.")
        return found

    # -- tenants -----------------------------------------------------------------------------

    async def create_tenant(
        self, principal: Principal, draft: TenantDraft
    ) -> tuple[Tenant, IssuedCredentials]:
        """Create a tenant, seed its system app ``tessera`` with the admin catalog, and create
        the tenant's admin client (role ``tenant-admin``: every ``tessera`` permission, this
        tenant only). Its plaintext secret is returned here once."""
        require_operator(principal, "tenant:write")
        errors = ValidationErrors()
        slug = rules.validate_tenant_slug(errors, draft.slug)
        name = rules.validate_display_name(errors, draft.display_name)
        limit = self._app_limit(errors, draft.app_limit)
        settings = validate_settings(errors, draft.settings)
        errors.raise_if_any()
        assert slug is not None
        assert name is not None
        now = self._now()
        tenant = Tenant(
            id=_new_id(),
            slug=slug,
            display_name=name,
            app_limit=limit,
            control_plane=False,
            settings=Settings(settings).merged_over(DEFAULT_TENANT_SETTINGS),
            version=1,
            created_at=now,
            updated_at=now,
        )
        async with self._tx() as tx:
            await tx.insert_tenant(tenant)
            system = await self._seed_system_app(
                tx, tenant, SYSTEM_APP, (SYSTEM_APP,), TESSERA_PERMISSIONS
            )
            role_id = await tx.upsert_role(
                tenant.id, None, TENANT_ADMIN_ROLE, "Tenant administrator", now
            )
            ids = await tx.permission_ids(tenant.id, [SYSTEM_APP])
            await tx.grant_role_permissions(role_id, sorted(ids.values()))
            credentials = await create_app_client(
                tx, self._hasher, tenant, system, DEFAULT_GRANT_TYPES, now
            )
            client = await tx.get_client(credentials.client_id)
            assert client is not None
            await tx.assign_client_role(client.id, role_id)
            await self._audit(
                tx,
                principal,
                "tenant.create",
                "tenant",
                tenant.slug,
                tenant,
                {"admin_client_id": credentials.client_id},
            )
        return tenant, credentials

    def _app_limit(self, errors: ValidationErrors, value: int | None) -> int:
        if value is None:
            return self._config.default_app_limit
        if not 1 <= value <= 100_000:
            errors.add("app_limit", "APP_LIMIT_INVALID", "app_limit must be between 1 and 100000.")
        return value

    async def get_tenant(self, principal: Principal, slug: str) -> Tenant:
        if principal.tenant != slug:
            require_operator(principal, "tenant:read")
        else:
            principal.require("app:read", slug)
        async with self._read() as tx:
            return await self._tenant(tx, slug)

    async def list_tenants(
        self, principal: Principal, size: int, offset: int, query: str, order_by: str
    ) -> PageOf[Tenant]:
        require_operator(principal, "tenant:read")
        if order_by.lstrip("-") not in ("", *TENANT_ORDER_FIELDS):
            raise InvalidArgument(
                "ORDER_BY_INVALID",
                f"order_by must be one of {', '.join(TENANT_ORDER_FIELDS)} (prefix - for descending).",
            )
        async with self._read() as tx:
            return await tx.list_tenants(page_request(size, offset), query, order_by)

    async def update_tenant(
        self, principal: Principal, slug: str, patch: TenantPatch, expected_version: int
    ) -> Tenant:
        """Change name, app limit or settings. Side effect: audit ``tenant.update``."""
        require_operator(principal, "tenant:write")
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.display_name)
            if patch.display_name is not None
            else None
        )
        limit = self._app_limit(errors, patch.app_limit) if patch.app_limit is not None else None
        settings = validate_settings(errors, patch.settings) if patch.settings is not None else None
        errors.raise_if_any()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, slug, for_update=True)
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
                updated_at=self._now(),
            )
            if not await tx.update_tenant(updated, tenant.version):
                raise changed_concurrently("tenant")
            await self._audit(
                tx,
                principal,
                "tenant.update",
                "tenant",
                slug,
                tenant,
                {"fields": [k for k, v in vars(patch).items() if v is not None]},
            )
        await self._changes.publish(Change(slug, "tenant", tenant.id))
        return updated

    # -- regions -----------------------------------------------------------------------------

    async def create_region(self, principal: Principal, draft: RegionDraft) -> Region:
        require_operator(principal, "region:write")
        errors = ValidationErrors()
        code = rules.validate_region_code(errors, draft.code)
        name = rules.validate_display_name(errors, draft.name, field="name")
        seen: set[str] = set()
        for index, (db_code, _active) in enumerate(draft.databases):
            checked = rules.validate_db_code(errors, db_code, field=f"databases[{index}].db_code")
            if checked in seen:
                errors.add(
                    f"databases[{index}].db_code",
                    "DB_CODE_DUPLICATE",
                    f"{db_code!r} is listed twice.",
                )
            if checked:
                seen.add(checked)
        errors.raise_if_any()
        assert code is not None
        assert name is not None
        region = Region(
            id=_new_id(),
            code=code,
            name=name,
            active=draft.active,
            databases=tuple(RegionDatabase(d.strip().lower(), a) for d, a in draft.databases),
            version=1,
        )
        async with self._tx() as tx:
            await tx.insert_region(region, self._now())
            await self._audit(tx, principal, "region.create", "region", code, None)
            stored = await tx.get_region(region.id)
        assert stored is not None
        return stored

    async def get_region(self, principal: Principal, region: str) -> Region:
        self._require_region_reader(principal)
        async with self._read() as tx:
            found = await tx.get_region(region)
        if found is None:
            raise NotFound("REGION_NOT_FOUND", f"There is no license region {region!r}.")
        return found

    @staticmethod
    def _require_region_reader(principal: Principal) -> None:
        # Tenant admins pick a region when they create an app, so app:write may list them.
        if "app:write" in principal.permissions or "app:read" in principal.permissions:
            return
        require_operator(principal, "region:read")

    async def list_regions(
        self, principal: Principal, size: int, offset: int, active: bool | None
    ) -> PageOf[Region]:
        self._require_region_reader(principal)
        async with self._read() as tx:
            return await tx.list_regions(page_request(size, offset), active)

    async def update_region(
        self, principal: Principal, region: str, patch: RegionPatch, expected_version: int
    ) -> Region:
        require_operator(principal, "region:write")
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )
        errors.raise_if_any()
        async with self._tx() as tx:
            found = await tx.get_region(region)
            if found is None:
                raise NotFound("REGION_NOT_FOUND", f"There is no license region {region!r}.")
            check_version(found.version, expected_version, "region")
            updated = replace(
                found,
                name=name or found.name,
                active=found.active if patch.active is None else patch.active,
                version=found.version + 1,
            )
            if not await tx.update_region(updated, found.version, self._now()):
                raise changed_concurrently("region")
            await self._audit(
                tx,
                principal,
                "region.update",
                "region",
                found.code,
                None,
                {"active": updated.active},
            )
            stored = await tx.get_region(found.id)
        assert stored is not None
        return stored

    async def add_region_database(
        self, principal: Principal, region: str, db_code: str, active: bool
    ) -> Region:
        require_operator(principal, "region:write")
        code = rules.checked(rules.validate_db_code, db_code)
        async with self._tx() as tx:
            found = await tx.get_region(region)
            if found is None:
                raise NotFound("REGION_NOT_FOUND", f"There is no license region {region!r}.")
            if any(d.db_code == code for d in found.databases):
                raise AlreadyExists(
                    "DB_CODE_TAKEN", f"Region {found.code!r} already has database {code!r}."
                )
            await tx.add_region_database(found.id, RegionDatabase(code, active), self._now())
            await self._audit(
                tx,
                principal,
                "region.database.add",
                "region",
                found.code,
                None,
                {"db_code": code, "active": active},
            )
            stored = await tx.get_region(found.id)
        assert stored is not None
        return stored

    async def set_region_database_active(
        self, principal: Principal, region: str, db_code: str, active: bool
    ) -> Region:
        require_operator(principal, "region:write")
        async with self._tx() as tx:
            found = await tx.get_region(region)
            if found is None:
                raise NotFound("REGION_NOT_FOUND", f"There is no license region {region!r}.")
            if not await tx.set_region_database_active(found.id, db_code, active):
                raise NotFound(
                    "DB_CODE_NOT_FOUND", f"Region {found.code!r} has no database {db_code!r}."
                )
            await self._audit(
                tx,
                principal,
                "region.database.update",
                "region",
                found.code,
                None,
                {"db_code": db_code, "active": active},
            )
            stored = await tx.get_region(found.id)
        assert stored is not None
        return stored

    # -- plans -------------------------------------------------------------------------------

    @staticmethod
    def _validate_limits(errors: ValidationErrors, limits: dict[str, int]) -> dict[str, int]:
        """Plan limits are whole numbers of Document Units (TrueParser seed)."""
        clean: dict[str, int] = {}
        for key, value in limits.items():
            if not _LIMIT_NAME.fullmatch(key):
                errors.add(
                    f"limits.{key}",
                    "LIMIT_NAME_INVALID",
                    "Limit names are lowercase letters, digits, '-' or '_' (e.g. monthly-document-units).",
                )
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.add(
                    f"limits.{key}",
                    "LIMIT_VALUE_INVALID",
                    "Limits are whole, non-negative numbers of Document Units.",
                )
            else:
                clean[key] = value
        return clean

    async def create_plan(self, principal: Principal, draft: PlanDraft) -> Plan:
        require_operator(principal, "plan:write")
        errors = ValidationErrors()
        code = rules.validate_plan_code(errors, draft.code)
        name = rules.validate_display_name(errors, draft.name, field="name")
        limits = self._validate_limits(errors, draft.limits)
        errors.raise_if_any()
        assert code is not None
        assert name is not None
        plan = Plan(
            id=_new_id(), code=code, name=name, status=PlanStatus.ACTIVE, limits=limits, version=1
        )
        async with self._tx() as tx:
            await tx.insert_plan(plan, self._now())
            await self._audit(tx, principal, "plan.create", "plan", code, None, {"limits": limits})
        return plan

    async def get_plan(self, principal: Principal, plan: str) -> Plan:
        if "app:read" not in principal.permissions:
            require_operator(principal, "plan:read")
        async with self._read() as tx:
            found = await tx.get_plan(plan)
        if found is None:
            raise NotFound("PLAN_NOT_FOUND", f"There is no plan {plan!r}.")
        return found

    async def list_plans(
        self, principal: Principal, size: int, offset: int, status: str
    ) -> PageOf[Plan]:
        if "app:read" not in principal.permissions:
            require_operator(principal, "plan:read")
        if status and status not in {s.value for s in PlanStatus}:
            raise InvalidArgument("PLAN_STATUS_INVALID", "status must be 'active' or 'retired'.")
        async with self._read() as tx:
            return await tx.list_plans(page_request(size, offset), status or None)

    async def update_plan(
        self, principal: Principal, plan: str, patch: PlanPatch, expected_version: int
    ) -> Plan:
        """Rename, retire/reactivate or re-limit a plan. Retiring blocks token issuance for
        every app on the plan (TrueParser seed), from the next token request on."""
        require_operator(principal, "plan:write")
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )
        if patch.status is not None and patch.status not in {s.value for s in PlanStatus}:
            errors.add("status", "PLAN_STATUS_INVALID", "status must be 'active' or 'retired'.")
        limits = self._validate_limits(errors, patch.limits) if patch.limits is not None else None
        errors.raise_if_any()
        async with self._tx() as tx:
            found = await tx.get_plan(plan)
            if found is None:
                raise NotFound("PLAN_NOT_FOUND", f"There is no plan {plan!r}.")
            check_version(found.version, expected_version, "plan")
            updated = replace(
                found,
                name=name or found.name,
                status=PlanStatus(patch.status) if patch.status else found.status,
                limits=limits if limits is not None else found.limits,
                version=found.version + 1,
            )
            if not await tx.update_plan(updated, found.version, self._now()):
                raise changed_concurrently("plan")
            await self._audit(
                tx,
                principal,
                "plan.update",
                "plan",
                found.code,
                None,
                {"status": updated.status.value},
            )
        await self._changes.publish(Change("*", "plan", found.id))
        return updated

    async def delete_region(
        self, principal: Principal, region_ref: str, expected_version: int
    ) -> None:
        """Delete a license region with its databases; refused while any app uses it (apps
        keep the region and db_code they were created in). Side effect: audit."""
        require_operator(principal, "region:write")
        async with self._tx() as tx:
            region = await tx.get_region(region_ref)
            if region is None:
                raise NotFound("REGION_NOT_FOUND", f"There is no license region {region_ref!r}.")
            check_version(region.version, expected_version, "region")
            blockers = await tx.apps_using(region_id=region.id)
            if blockers:
                raise FailedPrecondition(
                    "REGION_IN_USE",
                    f"Region {region.code!r} is used by {len(blockers)} app(s); deactivate it "
                    "instead, or delete those apps first.",
                    blockers=blockers,
                )
            await tx.delete_region(region.id)
            await self._audit(tx, principal, "region.delete", "region", region.code, None)

    async def delete_plan(self, principal: Principal, plan_ref: str, expected_version: int) -> None:
        """Delete a plan no app is on; refused with the apps as blockers otherwise (retire
        it instead). Side effect: audit."""
        require_operator(principal, "plan:write")
        async with self._tx() as tx:
            plan = await tx.get_plan(plan_ref)
            if plan is None:
                raise NotFound("PLAN_NOT_FOUND", f"There is no plan {plan_ref!r}.")
            check_version(plan.version, expected_version, "plan")
            blockers = await tx.apps_using(plan_id=plan.id)
            if blockers:
                raise FailedPrecondition(
                    "PLAN_IN_USE",
                    f"Plan {plan.code!r} is assigned to {len(blockers)} app(s); retire it "
                    "instead, or move those apps to another plan first.",
                    blockers=blockers,
                )
            await tx.delete_plan(plan.id)
            await self._audit(tx, principal, "plan.delete", "plan", plan.code, None)

    # -- apps --------------------------------------------------------------------------------

    def _validate_app_fields(
        self,
        errors: ValidationErrors,
        *,
        slug: str,
        redirect_uris: tuple[str, ...] | None,
        post_logout: tuple[str, ...] | None,
        domains: tuple[str, ...] | None,
        service_codes: tuple[str, ...] | None,
        grant_types: tuple[str, ...] | None,
        settings: dict[str, Any] | None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if redirect_uris is not None:
            out["redirect_uris"] = rules.validate_redirect_uris(
                errors, list(redirect_uris), production=self._config.production
            )
        if post_logout is not None:
            out["post_logout_redirect_uris"] = rules.validate_redirect_uris(
                errors,
                list(post_logout),
                field="post_logout_redirect_uris",
                production=self._config.production,
            )
        if domains is not None:
            out["allowed_domains"] = rules.validate_allowed_domains(errors, list(domains))
        if service_codes is not None:
            out["service_codes"] = rules.validate_service_codes(
                errors, list(service_codes), slug=slug
            )
            for index, code in enumerate(service_codes):
                if code in RESERVED_SERVICES:
                    errors.add(
                        f"service_codes[{index}]",
                        "SERVICE_RESERVED",
                        f"{code!r} is a platform catalog; only the system apps consume it.",
                    )
        if grant_types is not None:
            chosen = list(dict.fromkeys(grant_types or DEFAULT_GRANT_TYPES))
            for index, grant in enumerate(chosen):
                if grant not in GRANT_TYPES:
                    errors.add(
                        f"grant_types[{index}]",
                        "GRANT_TYPE_UNKNOWN",
                        f"Unknown grant type {grant!r}; use any of {', '.join(GRANT_TYPES)}.",
                    )
            out["grant_types"] = chosen
        if settings is not None:
            out["settings"] = validate_settings(errors, settings)
        return out

    def _check_redirect_requirement(
        self, grant_types: tuple[str, ...], redirect_uris: tuple[str, ...]
    ) -> None:
        """Vendidit seed §2: production refuses an authorization-code app with no redirect URI."""
        if self._config.production and "authorization_code" in grant_types and not redirect_uris:
            raise InvalidArgument(
                "VALIDATION_FAILED",
                "The request has invalid fields.",
                violations=[
                    FieldViolation(
                        "redirect_uris",
                        "REDIRECT_URIS_REQUIRED",
                        "Apps using the authorization_code grant need at least one redirect URI in production.",
                    )
                ],
            )

    def _storage(
        self, errors: ValidationErrors, app_id: str, value: StorageInput
    ) -> StorageConfig | None:
        """Validate and encrypt a storage config; plaintext secrets never reach storage."""
        checked = rules.validate_storage_config(
            errors,
            provider=value.provider,
            access_key=value.access_key,
            secret_key=value.secret_key,
            bucket=value.bucket,
            endpoint=value.endpoint,
            region=value.region,
        )
        if checked is None:
            return None
        return StorageConfig(
            provider=checked.provider,
            access_key_ciphertext=self._cipher.encrypt(
                checked.access_key.encode(), context=f"app:{app_id}:storage.access_key".encode()
            ),
            secret_key_ciphertext=self._cipher.encrypt(
                checked.secret_key.encode(), context=f"app:{app_id}:storage.secret_key".encode()
            ),
            access_key_hint=checked.access_key_masked,
            bucket=checked.bucket,
            endpoint=checked.endpoint,
            region=checked.region,
        )

    @staticmethod
    async def _active_region(tx: RegistryTx, region_ref: str, db_code: str) -> tuple[Region, str]:
        """TrueParser seed: the region exists, is active and has an active region database."""
        if not region_ref:
            raise InvalidArgument(
                "VALIDATION_FAILED",
                "The request has invalid fields.",
                violations=[
                    FieldViolation(
                        "region", "REGION_REQUIRED", "Choose a license region (id or code)."
                    )
                ],
            )
        region = await tx.get_region(region_ref)
        if region is None:
            raise FailedPrecondition(
                "REGION_NOT_FOUND",
                f"There is no license region {region_ref!r}; list them with GET /api/v1/regions.",
            )
        if not region.active:
            raise FailedPrecondition(
                "REGION_INACTIVE",
                f"License region {region.code!r} is not active; choose an active region.",
            )
        if db_code:
            match = next((d for d in region.databases if d.db_code == db_code), None)
            if match is None or not match.active:
                raise FailedPrecondition(
                    "REGION_DATABASE_NOT_ACTIVE",
                    f"Region {region.code!r} has no active database {db_code!r}.",
                )
            return region, db_code
        first = region.first_active_database()
        if first is None:
            raise FailedPrecondition(
                "REGION_NO_ACTIVE_DATABASE",
                f"License region {region.code!r} has no active region database, so no app can be created in it; "
                "an operator must add or activate one.",
            )
        return region, first.db_code

    @staticmethod
    async def _assignable_plan(tx: RegistryTx, plan_ref: str) -> Plan:
        plan = await tx.get_plan(plan_ref)
        if plan is None:
            raise FailedPrecondition("PLAN_NOT_FOUND", f"There is no plan {plan_ref!r}.")
        if plan.status is PlanStatus.RETIRED:
            raise FailedPrecondition(
                "PLAN_RETIRED", f"Plan {plan.code!r} is retired and cannot be assigned."
            )
        return plan

    async def _check_name_free(
        self, tx: RegistryTx, tenant: Tenant, name: str, exclude: str | None
    ) -> None:
        if await tx.display_name_taken(tenant.id, rules.display_name_key(name), exclude):
            raise AlreadyExists(
                "APP_NAME_TAKEN",
                f"Tenant {tenant.slug!r} already has an app named {name!r} (names are compared "
                "case-insensitively); choose another name.",
            )

    async def create_app(
        self, principal: Principal, tenant_slug: str, draft: AppDraft
    ) -> tuple[App, IssuedCredentials]:
        """Create an app and its first confidential client (TrueParser seed "Creation Workflow").

        Side effects: app, client and hashed secret rows; audit ``app.create``. The plaintext
        client_secret is returned here once and never again.
        """
        return await self._create_app(principal, tenant_slug, draft, None)

    async def _create_app(
        self,
        principal: Principal,
        tenant_slug: str,
        draft: AppDraft,
        then: Callable[[RegistryTx, Tenant, App], Awaitable[None]] | None,
    ) -> tuple[App, IssuedCredentials]:
        """``then`` runs inside the same unit of work, after the app exists (clone)."""
        principal.require("app:write", tenant_slug)
        errors = ValidationErrors()
        slug = rules.validate_app_slug(errors, draft.slug)
        name = rules.validate_display_name(errors, draft.display_name)
        description = rules.validate_description(errors, draft.description)
        fields = self._validate_app_fields(
            errors,
            slug=slug or draft.slug,
            redirect_uris=draft.redirect_uris,
            post_logout=draft.post_logout_redirect_uris,
            domains=draft.allowed_domains,
            service_codes=draft.service_codes,
            grant_types=draft.grant_types,
            settings=draft.settings,
        )
        app_id = _new_id()
        storage = self._storage(errors, app_id, draft.storage) if draft.storage else None
        errors.raise_if_any()
        assert slug is not None
        assert name is not None
        assert description is not None
        grant_types = tuple(fields["grant_types"])
        self._check_redirect_requirement(grant_types, tuple(fields["redirect_uris"]))
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug, for_update=True)
            count = await tx.count_apps(tenant.id)
            if count >= tenant.app_limit:
                raise FailedPrecondition(
                    "APP_LIMIT_REACHED",
                    f"Tenant {tenant.slug!r} has reached its limit of {tenant.app_limit} apps; delete an "
                    "app or ask the platform operator to raise the limit.",
                    metadata={"limit": str(tenant.app_limit), "current": str(count)},
                )
            region, db_code = await self._active_region(tx, draft.region, draft.db_code)
            if draft.plan:
                require_operator(principal, "plan:write")
            plan = await self._assignable_plan(tx, draft.plan) if draft.plan else None
            if await tx.get_app(tenant.id, slug) is not None:
                raise AlreadyExists(
                    "APP_SLUG_TAKEN", f"Tenant {tenant.slug!r} already has an app {slug!r}."
                )
            await self._check_name_free(tx, tenant, name, None)
            now = self._now()
            app = App(
                id=app_id,
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                slug=slug,
                display_name=name,
                description=description,
                enabled=draft.enabled,
                is_system=False,
                region_id=region.id,
                region_code=region.code,
                db_code=db_code,
                plan_id=plan.id if plan else None,
                redirect_uris=tuple(fields["redirect_uris"]),
                post_logout_redirect_uris=tuple(fields["post_logout_redirect_uris"]),
                allowed_domains=tuple(fields["allowed_domains"]),
                auto_grant_on_signup=draft.auto_grant_on_signup,
                service_codes=tuple(fields["service_codes"]),
                grant_types=grant_types,
                storage=storage,
                settings=Settings(merge_patch({}, fields["settings"])),
                client_ids=(),
                version=1,
                created_at=now,
                updated_at=now,
            )
            await tx.insert_app(app)
            credentials = await create_app_client(tx, self._hasher, tenant, app, grant_types, now)
            await self._audit(
                tx,
                principal,
                "app.create",
                "app",
                app.id,
                tenant,
                {"slug": slug, "client_id": credentials.client_id},
            )
            if then is not None:
                await then(tx, tenant, app)
            stored = await tx.get_app_by_id(app.id)
        assert stored is not None
        return stored, credentials

    async def get_app(self, principal: Principal, tenant_slug: str, app: str) -> App:
        principal.require("app:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._app(tx, tenant, app)

    async def list_apps(
        self,
        principal: Principal,
        tenant_slug: str,
        size: int,
        offset: int,
        enabled: bool | None,
        query: str,
        order_by: str,
    ) -> PageOf[App]:
        principal.require("app:read", tenant_slug)
        if order_by.lstrip("-") not in ("", *APP_ORDER_FIELDS):
            raise InvalidArgument(
                "ORDER_BY_INVALID",
                f"order_by must be one of {', '.join(APP_ORDER_FIELDS)} (prefix - for descending).",
            )
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await tx.list_apps(
                tenant.id, page_request(size, offset), enabled, query.strip(), order_by
            )

    async def update_app(
        self,
        principal: Principal,
        tenant_slug: str,
        app_ref: str,
        patch: AppPatch,
        expected_version: int,
    ) -> App:
        """Change an app's mutable fields (the slug is immutable). Disabling it stops token
        issuance from the next request. Side effect: audit ``app.update``; change published."""
        principal.require("app:write", tenant_slug)
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.display_name)
            if patch.display_name is not None
            else None
        )
        description = (
            rules.validate_description(errors, patch.description)
            if patch.description is not None
            else None
        )
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref)
            if app.is_system:
                raise FailedPrecondition(
                    "SYSTEM_APP", f"{app.slug!r} is a system app and cannot be changed."
                )
            check_version(app.version, expected_version, "app")
            if patch.slug is not None and patch.slug != app.slug:
                errors.add(
                    "slug",
                    "SLUG_IMMUTABLE",
                    f"An app's slug cannot change (this app's is {app.slug!r}); leave slug out "
                    "or send it unchanged, or clone the app to get a new slug.",
                )
            fields = self._validate_app_fields(
                errors,
                slug=app.slug,
                redirect_uris=patch.redirect_uris,
                post_logout=patch.post_logout_redirect_uris,
                domains=patch.allowed_domains,
                service_codes=patch.service_codes,
                grant_types=patch.grant_types,
                settings=patch.settings,
            )
            storage = app.storage
            if patch.clear_storage:
                storage = None
            if patch.storage is not None:
                storage = self._storage(errors, app.id, patch.storage)
            errors.raise_if_any()
            plan_id = app.plan_id
            if patch.plan is not None:
                # Plans carry paid entitlements: assigning one is the platform operator's call.
                require_operator(principal, "plan:write")
                plan_id = (await self._assignable_plan(tx, patch.plan)).id if patch.plan else None
            if name is not None and rules.display_name_key(name) != rules.display_name_key(
                app.display_name
            ):
                await self._check_name_free(tx, tenant, name, app.id)
            updated = replace(
                app,
                display_name=name if name is not None else app.display_name,
                description=description if description is not None else app.description,
                enabled=app.enabled if patch.enabled is None else patch.enabled,
                redirect_uris=tuple(fields.get("redirect_uris", app.redirect_uris)),
                post_logout_redirect_uris=tuple(
                    fields.get("post_logout_redirect_uris", app.post_logout_redirect_uris)
                ),
                allowed_domains=tuple(fields.get("allowed_domains", app.allowed_domains)),
                auto_grant_on_signup=app.auto_grant_on_signup
                if patch.auto_grant_on_signup is None
                else patch.auto_grant_on_signup,
                service_codes=tuple(fields.get("service_codes", app.service_codes)),
                grant_types=tuple(fields.get("grant_types", app.grant_types)),
                plan_id=plan_id,
                storage=storage,
                settings=Settings(merge_patch(app.settings.values, fields["settings"]))
                if "settings" in fields
                else app.settings,
                version=app.version + 1,
                updated_at=self._now(),
            )
            self._check_redirect_requirement(updated.grant_types, updated.redirect_uris)
            if not await tx.update_app(updated, app.version):
                raise changed_concurrently("app")
            changed = [k for k, v in vars(patch).items() if v not in (None, False)]
            await self._audit(
                tx, principal, "app.update", "app", app.id, tenant, {"fields": changed}
            )
            stored = await tx.get_app_by_id(app.id)
        await self._changes.publish(Change(tenant.slug, "app", app.id))
        assert stored is not None
        return stored

    async def delete_app(
        self, principal: Principal, tenant_slug: str, app_ref: str, expected_version: int
    ) -> None:
        """Delete an app (Modgud seed "Deleting an app"): never a system app, and refused with
        the list of blockers while clients or roles still reference it."""
        principal.require("app:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref)
            if app.is_system:
                raise FailedPrecondition(
                    "SYSTEM_APP", f"{app.slug!r} is a system app and can never be deleted."
                )
            check_version(app.version, expected_version, "app")
            blockers = await tx.app_blockers(app.id)
            if blockers:
                raise FailedPrecondition(
                    "APP_IN_USE",
                    f"App {app.slug!r} is still referenced by {', '.join(blockers)}; remove or re-link "
                    "those first.",
                    blockers=blockers,
                )
            await tx.delete_app(app.id)
            await self._audit(
                tx, principal, "app.delete", "app", app.id, tenant, {"slug": app.slug}
            )
        await self._changes.publish(Change(tenant.slug, "app", app.id))

    async def clone_app(
        self, principal: Principal, tenant_slug: str, source_ref: str, draft: CloneDraft
    ) -> tuple[App, IssuedCredentials]:
        """Clone (Modgud seed "Cloning an app"): copies description, settings, URIs and domains,
        and the live permission catalog as new entries; never the slug (and the name must
        differ). One unit of work: a failure leaves no half-cloned app."""
        principal.require("app:write", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            source = await self._app(tx, tenant, source_ref)
        if source.is_system:
            raise FailedPrecondition("SYSTEM_APP", "System apps cannot be cloned.")
        codes = tuple(draft.slug if c == source.slug else c for c in source.service_codes)

        async def copy_catalog(tx: RegistryTx, tenant: Tenant, created: App) -> None:
            copied = 0
            if source.slug in source.service_codes:
                copied = await tx.copy_catalog(tenant.id, source.slug, created.slug, self._now())
            await self._audit(
                tx,
                principal,
                "app.clone",
                "app",
                created.id,
                tenant,
                {"source": source.slug, "catalog_entries": copied},
            )

        return await self._create_app(
            principal,
            tenant_slug,
            AppDraft(
                slug=draft.slug,
                display_name=draft.display_name,
                description=source.description if draft.description is None else draft.description,
                region=draft.region or source.region_id or "",
                db_code=draft.db_code or ("" if draft.region else source.db_code or ""),
                redirect_uris=source.redirect_uris,
                post_logout_redirect_uris=source.post_logout_redirect_uris,
                allowed_domains=source.allowed_domains,
                auto_grant_on_signup=source.auto_grant_on_signup,
                service_codes=codes,
                settings=dict(source.settings.values),
                enabled=source.enabled,
                grant_types=source.grant_types,
            ),
            copy_catalog,
        )

    # -- audit -------------------------------------------------------------------------------

    async def list_audit(
        self,
        principal: Principal,
        tenant_slug: str,
        size: int,
        offset: int,
        action: str,
        target_id: str,
    ) -> PageOf[AuditEvent]:
        principal.require("audit:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await tx.list_audit(tenant.id, page_request(size, offset), action, target_id)

    # -- bootstrap ---------------------------------------------------------------------------

    async def _seed_system_app(
        self,
        tx: RegistryTx,
        tenant: Tenant,
        slug: str,
        service_codes: tuple[str, ...],
        catalog: dict[str, str],
    ) -> App:
        existing = await tx.get_app(tenant.id, slug)
        now = self._now()
        for code, name in catalog.items():
            await tx.upsert_permission(tenant.id, slug, code, name, now)
        if slug == SYSTEM_APP:
            # Every tenant has the system app, so this is where the core catalog is seeded.
            for code, name in CORE_PERMISSIONS.items():
                await tx.upsert_permission(tenant.id, CORE_SERVICE, code, name, now)
        if existing is not None:
            return existing
        app = App(
            id=_new_id(),
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            slug=slug,
            display_name="Tessera" if slug == SYSTEM_APP else "Control plane",
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
            created_at=now,
            updated_at=now,
        )
        await tx.insert_app(app)
        return app

    async def bootstrap(self, admin_client_id: str, admin_secret: str | None) -> bool:
        """Seed the control-plane tenant, its system apps and (with a secret) the bootstrap
        admin client.

        Idempotent; safe on every start. When the configured admin secret differs from the
        stored one, the configured secret replaces it (configuration is the source of truth).
        Returns True when anything was created or changed.
        """
        now = self._now()
        changed = False
        async with self._tx() as tx:
            # Replicas starting together: one seeds, the others wait and find it seeded.
            await tx.lock_bootstrap()
            tenant = await tx.get_tenant(CONTROL_PLANE_TENANT)
            if tenant is None:
                tenant = Tenant(
                    id=_new_id(),
                    slug=CONTROL_PLANE_TENANT,
                    display_name="Control plane",
                    app_limit=self._config.default_app_limit,
                    control_plane=True,
                    settings=DEFAULT_TENANT_SETTINGS,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                await tx.insert_tenant(tenant)
                changed = True
            system = await self._seed_system_app(
                tx, tenant, SYSTEM_APP, (SYSTEM_APP, CONTROL_PLANE_APP), TESSERA_PERMISSIONS
            )
            await self._seed_system_app(
                tx, tenant, CONTROL_PLANE_APP, (CONTROL_PLANE_APP,), CONTROL_PLANE_PERMISSIONS
            )
            role_id = await tx.upsert_role(
                tenant.id, None, PLATFORM_ADMIN_ROLE, "Platform administrator", now
            )
            ids = await tx.permission_ids(tenant.id, [SYSTEM_APP, CONTROL_PLANE_APP])
            await tx.grant_role_permissions(role_id, sorted(ids.values()))
            if admin_secret is None:
                # No configured secret: seed the platform, leave the admin client alone.
                return changed
            client = await tx.get_client(admin_client_id)
            if client is None:
                client = Client(
                    id=_new_id(),
                    tenant_id=tenant.id,
                    client_id=admin_client_id,
                    display_name="Bootstrap administrator",
                    confidential=True,
                    enabled=True,
                    grant_types=DEFAULT_GRANT_TYPES,
                    app_ids=(system.id,),
                    version=1,
                )
                await tx.insert_client(client, now)
                await tx.link_client_app(client.id, system.id)
                changed = True
            await tx.assign_client_role(client.id, role_id)
            secrets = await tx.client_secrets(client.id)
            valid = [s for s in secrets if s.expires_at is None or s.expires_at > now]
            if not any(self._hasher.verify(admin_secret, s.secret_hash) for s in valid):
                await tx.retire_client_secrets(client.id, None, None)
                await tx.insert_client_secret(
                    client.id,
                    ClientSecretRecord(
                        id=_new_id(),
                        secret_hash=self._hasher.hash(admin_secret),
                        created_at=now,
                        expires_at=None,
                        last_used_at=None,
                    ),
                )
                await self._audit(
                    tx,
                    REGISTRY_SERVICE,
                    "client.secret.configure",
                    "client",
                    admin_client_id,
                    tenant,
                    {"source": "TESSERA_BOOTSTRAP_ADMIN_SECRET"},
                )
                changed = True
        return changed
