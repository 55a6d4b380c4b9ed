"""Apps of a tenant: create (with the app's first confidential client), read, change, delete,
clone (TrueParser seed "Creation Workflow"; Vendidit seed §2; Modgud seed "Applications")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from services.common.access import needs, operator
from services.common.auth import Principal
from services.common.envelope import EnvelopeCipher
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ValidationErrors,
)
from services.common.hashing import SecretHasher
from services.common.vocabulary import (
    DEFAULT_GRANT_TYPES,
    GRANT_TYPES,
    RESERVED_SERVICES,
    GrantType,
    PlanStatus,
)
from services.registry.apps import rules
from services.registry.apps.lookup import app_of
from services.registry.apps.models import (
    App,
    AppDraft,
    AppPatch,
    CloneDraft,
    StorageConfig,
    StorageInput,
)
from services.registry.apps.store import AppStore
from services.registry.catalog.store import CatalogStore
from services.registry.clients.models import IssuedCredentials
from services.registry.clients.provisioning import create_app_client
from services.registry.clients.store import ClientStore
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.models import PageOf, Settings, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.kernel.scope import Publisher, UseCases, Write, new_id
from services.registry.kernel.settings import merge_patch, validate_settings
from services.registry.kernel.text import (
    display_name_key,
    validate_description,
    validate_display_name,
)
from services.registry.plans.models import Plan
from services.registry.plans.store import PlanStore
from services.registry.regions.models import Region
from services.registry.regions.store import RegionStore

READ = needs("app:read")
WRITE = needs("app:write")
# Plans carry paid entitlements: assigning one is the platform operator's call.
ASSIGN_PLAN = operator("plan:write")
ORDER_FIELDS = ("slug", "display_name", "created_at", "updated_at")


class AppsTx(BaseTx, Protocol):
    @property
    def apps(self) -> AppStore: ...
    @property
    def regions(self) -> RegionStore: ...
    @property
    def plans(self) -> PlanStore: ...
    @property
    def clients(self) -> ClientStore: ...
    @property
    def catalog(self) -> CatalogStore: ...


@dataclass(frozen=True)
class AppPolicy:
    """Deployment-wide app rules: production refuses what development lets through."""

    production: bool


class AppUseCases(UseCases[AppsTx]):
    def __init__(
        self,
        uow: UnitOfWork[AppsTx],
        publisher: Publisher,
        now: Callable[[], datetime],
        hasher: SecretHasher,
        cipher: EnvelopeCipher,
        policy: AppPolicy,
    ) -> None:
        super().__init__(uow, publisher, now)
        self._hasher = hasher
        self._cipher = cipher
        self._policy = policy

    async def create(
        self, principal: Principal, tenant: str, draft: AppDraft
    ) -> tuple[App, IssuedCredentials]:
        """Create an app and its first confidential client (TrueParser seed "Creation
        Workflow"). The tenant's row is locked so concurrent creations respect the app limit.

        Side effects: app, client and hashed secret rows; audit ``app.create``. The plaintext
        client_secret is returned here once and never again.
        """
        if draft.plan:
            self.authorize(principal, ASSIGN_PLAN)
        async with self.write(principal, WRITE, tenant, lock_tenant=True) as scope:
            app, credentials = await self._create(scope, draft)
            return await self._stored(scope.tx, app.id), credentials

    async def get(self, principal: Principal, tenant: str, app: str) -> App:
        async with self.read(principal, READ, tenant) as scope:
            return await app_of(scope.tx.apps, scope.tenant, app)

    async def search(
        self,
        principal: Principal,
        tenant: str,
        size: int,
        offset: int,
        enabled: bool | None,
        query: str,
        order_by: str,
    ) -> PageOf[App]:
        async with self.read(principal, READ, tenant) as scope:
            if order_by.lstrip("-") not in ("", *ORDER_FIELDS):
                raise InvalidArgument(
                    "ORDER_BY_INVALID",
                    f"order_by must be one of {', '.join(ORDER_FIELDS)} (prefix - for descending).",
                )
            return await scope.tx.apps.search(
                scope.tenant.id, page_request(size, offset), enabled, query.strip(), order_by
            )

    async def update(
        self,
        principal: Principal,
        tenant: str,
        app_ref: str,
        patch: AppPatch,
        expected_version: int,
    ) -> App:
        """Change an app's mutable fields (the slug is immutable; settings are a JSON Merge
        Patch). Disabling it stops token issuance from the next request. Side effects: audit
        ``app.update``; change published."""
        if patch.plan is not None:
            self.authorize(principal, ASSIGN_PLAN)
        async with self.write(principal, WRITE, tenant) as scope:
            errors = ValidationErrors()
            name = (
                validate_display_name(errors, patch.display_name)
                if patch.display_name is not None
                else None
            )
            description = (
                validate_description(errors, patch.description)
                if patch.description is not None
                else None
            )
            app = await app_of(scope.tx.apps, scope.tenant, app_ref)
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
            fields = self._fields(
                errors,
                slug=app.slug,
                redirect_uris=patch.redirect_uris,
                post_logout=patch.post_logout_redirect_uris,
                domains=patch.allowed_domains,
                service_codes=patch.service_codes,
                grant_types=patch.grant_types,
                settings=patch.settings,
                homepage_url=patch.homepage_url,
            )
            storage = app.storage
            if patch.clear_storage:
                storage = None
            if patch.storage is not None:
                storage = self._storage(errors, app.id, patch.storage)
            errors.raise_if_any()
            plan_id = app.plan_id
            if patch.plan is not None:
                plan_id = (await self._plan(scope.tx, patch.plan)).id if patch.plan else None
            if name is not None and display_name_key(name) != display_name_key(app.display_name):
                await self._name_free(scope.tx, scope.tenant, name, app.id)
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
                homepage_url=fields.get("homepage_url", app.homepage_url) or None,
                plan_id=plan_id,
                storage=storage,
                settings=Settings(merge_patch(app.settings.values, fields["settings"]))
                if "settings" in fields
                else app.settings,
                version=app.version + 1,
                updated_at=scope.now,
            )
            self._check_redirect_requirement(updated.grant_types, updated.redirect_uris)
            if not await scope.tx.apps.update(updated, app.version):
                raise changed_concurrently("app")
            # Every field the patch sent, false values included (disabling is a change);
            # clear_storage is a flag, named only when set.
            changed = [
                k for k, v in vars(patch).items() if v is not None and (k != "clear_storage" or v)
            ]
            await scope.audit("app.update", "app", app.id, {"fields": changed})
            scope.publish("app", app.id)
            return await self._stored(scope.tx, app.id)

    async def delete(
        self, principal: Principal, tenant: str, app_ref: str, expected_version: int
    ) -> None:
        """Delete an app (Modgud seed "Deleting an app"): never a system app, and refused with
        the list of blockers while clients, roles, scopes or resource servers reference it.
        Side effects: audit ``app.delete``; change published."""
        async with self.write(principal, WRITE, tenant) as scope:
            app = await app_of(scope.tx.apps, scope.tenant, app_ref)
            if app.is_system:
                raise FailedPrecondition(
                    "SYSTEM_APP", f"{app.slug!r} is a system app and can never be deleted."
                )
            check_version(app.version, expected_version, "app")
            blockers = await scope.tx.apps.blockers(app.id)
            if blockers:
                raise FailedPrecondition(
                    "APP_IN_USE",
                    f"App {app.slug!r} is still referenced by {', '.join(blockers)}; remove or "
                    "re-link those first.",
                    blockers=blockers,
                )
            await scope.tx.apps.delete(app.id)
            await scope.audit("app.delete", "app", app.id, {"slug": app.slug})
            scope.publish("app", app.id)

    async def clone(
        self, principal: Principal, tenant: str, source_ref: str, draft: CloneDraft
    ) -> tuple[App, IssuedCredentials]:
        """Clone (Modgud seed "Cloning an app"): copies description, settings, URIs and domains,
        and the live permission catalog as new entries; never the slug (and the name must
        differ). One unit of work: a failure leaves no half-cloned app. Side effects: audit
        ``app.create`` and ``app.clone``."""
        async with self.write(principal, WRITE, tenant, lock_tenant=True) as scope:
            source = await app_of(scope.tx.apps, scope.tenant, source_ref)
            if source.is_system:
                raise FailedPrecondition("SYSTEM_APP", "System apps cannot be cloned.")
            codes = tuple(draft.slug if c == source.slug else c for c in source.service_codes)
            app, credentials = await self._create(
                scope,
                AppDraft(
                    slug=draft.slug,
                    display_name=draft.display_name,
                    description=source.description
                    if draft.description is None
                    else draft.description,
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
                    homepage_url=source.homepage_url,
                ),
            )
            copied = 0
            if source.slug in source.service_codes:
                copied = await scope.tx.catalog.copy(
                    scope.tenant.id, source.slug, app.slug, scope.now
                )
            await scope.audit(
                "app.clone", "app", app.id, {"source": source.slug, "catalog_entries": copied}
            )
            return await self._stored(scope.tx, app.id), credentials

    # -- steps -------------------------------------------------------------------------------

    async def _create(self, scope: Write[AppsTx], draft: AppDraft) -> tuple[App, IssuedCredentials]:
        errors = ValidationErrors()
        slug = rules.validate_app_slug(errors, draft.slug)
        name = validate_display_name(errors, draft.display_name)
        description = validate_description(errors, draft.description)
        fields = self._fields(
            errors,
            slug=slug or draft.slug,
            redirect_uris=draft.redirect_uris,
            post_logout=draft.post_logout_redirect_uris,
            domains=draft.allowed_domains,
            service_codes=draft.service_codes,
            grant_types=draft.grant_types,
            settings=draft.settings,
            homepage_url=draft.homepage_url,
        )
        app_id = new_id()
        storage = self._storage(errors, app_id, draft.storage) if draft.storage else None
        errors.raise_if_any()
        assert slug is not None
        assert name is not None
        assert description is not None
        grant_types = tuple(fields["grant_types"])
        self._check_redirect_requirement(grant_types, tuple(fields["redirect_uris"]))
        tx, tenant = scope.tx, scope.tenant
        count = await tx.apps.count(tenant.id)
        if count >= tenant.app_limit:
            raise FailedPrecondition(
                "APP_LIMIT_REACHED",
                f"Tenant {tenant.slug!r} has reached its limit of {tenant.app_limit} apps; delete "
                "an app or ask the platform operator to raise the limit.",
                metadata={"limit": str(tenant.app_limit), "current": str(count)},
            )
        region, db_code = await self._active_region(tx, draft.region, draft.db_code)
        plan = await self._plan(tx, draft.plan) if draft.plan else None
        if await tx.apps.get(tenant.id, slug) is not None:
            raise AlreadyExists(
                "APP_SLUG_TAKEN", f"Tenant {tenant.slug!r} already has an app {slug!r}."
            )
        await self._name_free(tx, tenant, name, None)
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
            homepage_url=fields.get("homepage_url") or None,
            storage=storage,
            settings=Settings(merge_patch({}, fields["settings"])),
            client_ids=(),
            version=1,
            created_at=scope.now,
            updated_at=scope.now,
        )
        await tx.apps.insert(app)
        _, credentials = await create_app_client(
            tx.clients, self._hasher, tenant, app.id, app.display_name, grant_types, scope.now
        )
        await scope.audit(
            "app.create", "app", app.id, {"slug": slug, "client_id": credentials.client_id}
        )
        scope.publish("app", app.id)
        return app, credentials

    def _fields(
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
        homepage_url: str | None,
    ) -> dict[str, Any]:
        """The validated, normalised values of the fields given (None = not given)."""
        out: dict[str, Any] = {}
        production = self._policy.production
        if homepage_url is not None:
            # "" removes it; a stored value is always a valid URL.
            out["homepage_url"] = homepage_url and rules.validate_homepage_url(
                errors, homepage_url, production=production
            )
        if redirect_uris is not None:
            out["redirect_uris"] = rules.validate_redirect_uris(
                errors, list(redirect_uris), production=production
            )
        if post_logout is not None:
            out["post_logout_redirect_uris"] = rules.validate_redirect_uris(
                errors, list(post_logout), field="post_logout_redirect_uris", production=production
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
        if (
            self._policy.production
            and GrantType.AUTHORIZATION_CODE.value in grant_types
            and not redirect_uris
        ):
            raise InvalidArgument(
                "VALIDATION_FAILED",
                "The request has invalid fields.",
                violations=[
                    FieldViolation(
                        "redirect_uris",
                        "REDIRECT_URIS_REQUIRED",
                        "Apps using the authorization_code grant need at least one redirect URI "
                        "in production.",
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
    async def _active_region(tx: AppsTx, region_ref: str, db_code: str) -> tuple[Region, str]:
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
        region = await tx.regions.get(region_ref)
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
                f"License region {region.code!r} has no active region database, so no app can "
                "be created in it; an operator must add or activate one.",
            )
        return region, first.db_code

    @staticmethod
    async def _plan(tx: AppsTx, plan_ref: str) -> Plan:
        plan = await tx.plans.get(plan_ref)
        if plan is None:
            raise FailedPrecondition("PLAN_NOT_FOUND", f"There is no plan {plan_ref!r}.")
        if plan.status is PlanStatus.RETIRED:
            raise FailedPrecondition(
                "PLAN_RETIRED", f"Plan {plan.code!r} is retired and cannot be assigned."
            )
        return plan

    @staticmethod
    async def _name_free(tx: AppsTx, tenant: Tenant, name: str, exclude: str | None) -> None:
        if await tx.apps.name_taken(tenant.id, display_name_key(name), exclude):
            raise AlreadyExists(
                "APP_NAME_TAKEN",
                f"Tenant {tenant.slug!r} already has an app named {name!r} (names are compared "
                "case-insensitively); choose another name.",
            )

    @staticmethod
    async def _stored(tx: AppsTx, app_id: str) -> App:
        stored = await tx.apps.get_by_id(app_id)
        assert stored is not None
        return stored
