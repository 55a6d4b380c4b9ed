"""OAuth clients of a tenant: create, read, change, roles and scopes, secrets, delete.

Rules (ARCHITECTURE §2 "Client", TrueParser seed "Regenerating The Secret"): a client serves
one or more apps of its tenant; confidential clients authenticate with a generated secret
(``tsk_`` + 256 bits) stored only as a keyed hash; public clients have no secret and may
only use browser/native grants (PKCE is mandatory for them at the authorize endpoint). A
scope or role bound to an app can only be given to a client that serves that app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.auth import Principal
from services.common.changes import Change, ChangeBus
from services.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ValidationErrors,
)
from services.common.secrets import (
    CLIENT_SECRET_PREFIX,
    SecretHasher,
    generate_client_id,
    generate_secret,
)
from services.registry.domain import audit, rules
from services.registry.domain.catalog import DEFAULT_GRANT_TYPES, GRANT_TYPES
from services.registry.domain.concurrency import changed_concurrently, check_version
from services.registry.domain.escalation import (
    audits_denied_escalations,
    ensure_no_escalation,
    ensure_outranks,
)
from services.registry.domain.models import (
    App,
    Client,
    ClientSecretRecord,
    NamedRef,
    PageOf,
    Tenant,
)
from services.registry.domain.paging import page_request
from services.registry.domain.ports import RegistryTx, UnitOfWork

MAX_GRACE_SECONDS = 7 * 24 * 3600
PUBLIC_CLIENT_GRANTS = ("authorization_code", "refresh_token")
_ROLE_OR_SCOPE = re.compile(r"[a-z][a-z0-9_.:-]{0,99}")


@dataclass(frozen=True)
class IssuedCredentials:
    client_id: str
    client_secret: str
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True)
class ClientDraft:
    display_name: str
    apps: tuple[str, ...]
    confidential: bool = True
    description: str = ""
    grant_types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClientPatch:
    display_name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    apps: tuple[str, ...] | None = None
    grant_types: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ClientView:
    """A client as admins see it: never a secret, only each secret's metadata."""

    client: Client
    tenant: str
    apps: tuple[str, ...]  # slugs
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    secrets: tuple[ClientSecretRecord, ...]


async def issue_secret(tx: RegistryTx, hasher: SecretHasher, client_pk: str, at: datetime) -> str:
    """Store a new secret's keyed hash and return the plaintext (to be shown once)."""
    secret = generate_secret(CLIENT_SECRET_PREFIX)
    await tx.insert_client_secret(
        client_pk,
        ClientSecretRecord(
            id=str(uuid.uuid4()),
            secret_hash=hasher.hash(secret),
            created_at=at,
            expires_at=None,
            last_used_at=None,
        ),
    )
    return secret


async def create_app_client(
    tx: RegistryTx,
    hasher: SecretHasher,
    tenant: Tenant,
    app: App,
    grant_types: tuple[str, ...],
    at: datetime,
) -> IssuedCredentials:
    """The confidential client every new app gets (TrueParser seed "Creation Workflow")."""
    client = Client(
        id=str(uuid.uuid4()),
        tenant_id=tenant.id,
        client_id=generate_client_id(),
        display_name=app.display_name,
        confidential=True,
        enabled=True,
        grant_types=grant_types,
        app_ids=(app.id,),
        version=1,
    )
    await tx.insert_client(client, at)
    await tx.link_client_app(client.id, app.id)
    return IssuedCredentials(client.client_id, await issue_secret(tx, hasher, client.id, at))


class ClientService:
    def __init__(
        self,
        transaction: UnitOfWork,
        read: UnitOfWork,
        hasher: SecretHasher,
        changes: ChangeBus,
        now: Callable[[], datetime],
    ) -> None:
        self._tx = transaction
        self._read = read
        self._hasher = hasher
        self._changes = changes
        self._now = now

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _tenant(tx: RegistryTx, slug: str) -> Tenant:
        tenant = await tx.get_tenant(slug)
        if tenant is None:
            raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {slug!r}.")
        return tenant

    @staticmethod
    async def _client(tx: RegistryTx, tenant: Tenant, client_id: str) -> Client:
        client = await tx.get_client(client_id)
        if client is None or client.tenant_id != tenant.id:
            raise NotFound(
                "CLIENT_NOT_FOUND", f"Tenant {tenant.slug!r} has no client {client_id!r}."
            )
        return client

    @staticmethod
    async def _ensure_outranks(
        principal: Principal, tx: RegistryTx, client: Client, operation: str
    ) -> None:
        """No escalation: only a caller holding all the client's admin permissions acts on it."""
        roles = await tx.client_roles(client.id)
        ensure_outranks(
            principal,
            await tx.role_grants([r.id for r in roles]),
            target_type="client",
            target_id=client.client_id,
            operation=operation,
        )

    async def _view(self, tx: RegistryTx, tenant: Tenant, client: Client) -> ClientView:
        apps = [
            a
            for a in [await tx.get_app_by_id(i, with_client_ids=False) for i in client.app_ids]
            if a is not None
        ]
        return ClientView(
            client=client,
            tenant=tenant.slug,
            apps=tuple(sorted(a.slug for a in apps)),
            scopes=tuple(s.name for s in await tx.client_scopes(client.id)),
            roles=tuple(r.name for r in await tx.client_roles(client.id)),
            secrets=tuple(await tx.client_secrets(client.id)),
        )

    @staticmethod
    def _grant_types(
        errors: ValidationErrors, values: tuple[str, ...], confidential: bool
    ) -> list[str]:
        chosen = list(
            dict.fromkeys(
                values or (DEFAULT_GRANT_TYPES if confidential else ("authorization_code",))
            )
        )
        for index, grant in enumerate(chosen):
            if grant not in GRANT_TYPES:
                errors.add(
                    f"grant_types[{index}]",
                    "GRANT_TYPE_UNKNOWN",
                    f"Unknown grant type {grant!r}; use any of {', '.join(GRANT_TYPES)}.",
                )
            elif not confidential and grant not in PUBLIC_CLIENT_GRANTS:
                errors.add(
                    f"grant_types[{index}]",
                    "PUBLIC_CLIENT_GRANT",
                    f"A public client has no secret and cannot use {grant!r}; use "
                    f"{' or '.join(PUBLIC_CLIENT_GRANTS)} (with PKCE), or make the client confidential.",
                )
        return chosen

    @staticmethod
    async def _resolve_links(
        tx: RegistryTx,
        errors: ValidationErrors,
        tenant: Tenant,
        apps: tuple[str, ...],
        scopes: tuple[str, ...],
        roles: tuple[str, ...],
    ) -> tuple[list[App], list[NamedRef], list[NamedRef]]:
        """Look up the referenced apps, scopes and roles; report each unknown or out-of-app one."""
        found_apps: list[App] = []
        if not apps:
            errors.add(
                "apps",
                "CLIENT_APPS_REQUIRED",
                "A client must serve at least one app of its tenant.",
            )
        for index, ref in enumerate(apps):
            app = await tx.get_app(tenant.id, ref)
            if app is None:
                errors.add(
                    f"apps[{index}]", "APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {ref!r}."
                )
            else:
                found_apps.append(app)
        app_ids = {a.id for a in found_apps}
        named_scopes = await tx.scopes_named(tenant.id, list(scopes))
        named_roles = await tx.roles_coded(tenant.id, list(roles))
        out_scopes: list[NamedRef] = []
        out_roles: list[NamedRef] = []
        for kind, refs, named, out in (
            ("scope", scopes, named_scopes, out_scopes),
            ("role", roles, named_roles, out_roles),
        ):
            for index, name in enumerate(refs):
                item = named.get(name)
                field = f"{kind}s[{index}]"
                if item is None:
                    errors.add(
                        field,
                        f"{kind.upper()}_NOT_FOUND",
                        f"Tenant {tenant.slug!r} has no {kind} {name!r}.",
                    )
                elif item.app_id is not None and item.app_id not in app_ids:
                    errors.add(
                        field,
                        f"{kind.upper()}_OUTSIDE_APPS",
                        f"The {kind} {name!r} is bound to an app this client does not serve; add that app "
                        "to the client or choose another.",
                    )
                else:
                    out.append(item)
        return found_apps, out_scopes, out_roles

    # -- use cases ---------------------------------------------------------------------------

    @audits_denied_escalations
    async def create_client(
        self, principal: Principal, tenant_slug: str, draft: ClientDraft
    ) -> tuple[ClientView, IssuedCredentials | None]:
        """Create a client. Confidential: the plaintext secret is returned here once. Its
        roles may carry only admin permissions the caller holds (ESCALATION).
        Side effects: audit ``client.create``."""
        principal.require("client:write", tenant_slug)
        errors = ValidationErrors()
        name = rules.validate_display_name(errors, draft.display_name)
        description = rules.validate_description(errors, draft.description)
        grant_types = self._grant_types(errors, draft.grant_types, draft.confidential)
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            apps, scopes, roles = await self._resolve_links(
                tx, errors, tenant, draft.apps, draft.scopes, draft.roles
            )
            errors.raise_if_any()
            assert name is not None
            assert description is not None
            client_id = generate_client_id()
            ensure_no_escalation(
                principal,
                await tx.role_grants([r.id for r in roles]),
                target_type="client",
                target_id=client_id,
                operation="client.create",
            )
            client = Client(
                id=str(uuid.uuid4()),
                tenant_id=tenant.id,
                client_id=client_id,
                display_name=name,
                confidential=draft.confidential,
                enabled=True,
                grant_types=tuple(grant_types),
                app_ids=tuple(a.id for a in apps),
                version=1,
                description=description,
            )
            await tx.insert_client(client, now)
            await tx.set_client_apps(client.id, [a.id for a in apps])
            await tx.set_client_scopes(client.id, [s.id for s in scopes])
            await tx.set_client_roles(client.id, [r.id for r in roles])
            secret = (
                await issue_secret(tx, self._hasher, client.id, now)
                if client.confidential
                else None
            )
            await audit.record(
                tx,
                principal,
                "client.create",
                "client",
                client.client_id,
                tenant,
                now,
                {"apps": [a.slug for a in apps], "confidential": client.confidential},
            )
            view = await self._view(tx, tenant, client)
        credentials = IssuedCredentials(client.client_id, secret) if secret else None
        return view, credentials

    async def get_client(
        self, principal: Principal, tenant_slug: str, client_id: str
    ) -> ClientView:
        principal.require("client:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._view(tx, tenant, await self._client(tx, tenant, client_id))

    async def list_clients(
        self, principal: Principal, tenant_slug: str, size: int, offset: int, app: str
    ) -> PageOf[ClientView]:
        principal.require("client:read", tenant_slug)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app_id = None
            if app:
                found = await tx.get_app(tenant.id, app)
                if found is None:
                    raise NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {app!r}.")
                app_id = found.id
            clients = await tx.list_clients(tenant.id, page, app_id)
            views = [await self._view(tx, tenant, c) for c in clients.items]
        return PageOf(items=views, total=clients.total, next_offset=clients.next_offset)

    @audits_denied_escalations
    async def update_client(
        self,
        principal: Principal,
        tenant_slug: str,
        client_id: str,
        patch: ClientPatch,
        expected_version: int,
    ) -> ClientView:
        """Change a client; apps, scopes and roles given are replaced as a whole. Only a
        caller holding every admin permission of the client may change it
        (TARGET_OUTRANKS_CALLER), and added roles only with what it holds (ESCALATION).
        Side effects: audit ``client.update``; change published (cached grants refresh)."""
        principal.require("client:write", tenant_slug)
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
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            client = await self._client(tx, tenant, client_id)
            operation = "client.disable" if patch.enabled is False else "client.update"
            await self._ensure_outranks(principal, tx, client, operation)
            check_version(client.version, expected_version, "client")
            grant_types = (
                self._grant_types(errors, patch.grant_types, client.confidential)
                if patch.grant_types is not None
                else list(client.grant_types)
            )
            current = await self._view(tx, tenant, client)
            apps, scopes, roles = await self._resolve_links(
                tx,
                errors,
                tenant,
                patch.apps if patch.apps is not None else current.apps,
                patch.scopes if patch.scopes is not None else current.scopes,
                patch.roles if patch.roles is not None else current.roles,
            )
            errors.raise_if_any()
            added_roles = [r.id for r in roles if r.name not in current.roles]
            ensure_no_escalation(
                principal,
                await tx.role_grants(added_roles),
                target_type="client",
                target_id=client.client_id,
                operation="client.roles.grant",
            )
            if principal.client_id == client.client_id and patch.enabled is False:
                raise FailedPrecondition(
                    "CLIENT_IS_CALLER", "A client cannot disable itself; use another admin client."
                )
            updated = replace(
                client,
                display_name=name if name is not None else client.display_name,
                description=description if description is not None else client.description,
                enabled=client.enabled if patch.enabled is None else patch.enabled,
                grant_types=tuple(grant_types),
                app_ids=tuple(a.id for a in apps),
                version=client.version + 1,
            )
            if not await tx.update_client(updated, client.version, now):
                raise changed_concurrently("client")
            await tx.set_client_apps(client.id, [a.id for a in apps])
            await tx.set_client_scopes(client.id, [s.id for s in scopes])
            await tx.set_client_roles(client.id, [r.id for r in roles])
            changed = [k for k, v in vars(patch).items() if v is not None]
            await audit.record(
                tx,
                principal,
                "client.update",
                "client",
                client_id,
                tenant,
                now,
                {"fields": changed},
            )
            view = await self._view(tx, tenant, updated)
        await self._changes.publish(Change(tenant.slug, "client", client_id))
        return view

    @audits_denied_escalations
    async def regenerate_client_secret(
        self, principal: Principal, tenant_slug: str, client_id: str, grace_seconds: int
    ) -> IssuedCredentials:
        """A new secret, shown once (TrueParser seed "Regenerating The Secret"): the old one
        stops working immediately, or after ``grace_seconds`` (at most 7 days) if asked. Only
        a caller holding every admin permission of the client (TARGET_OUTRANKS_CALLER)."""
        principal.require("client:write", tenant_slug)
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise InvalidArgument(
                "GRACE_PERIOD_INVALID",
                f"grace_period_seconds must be between 0 and {MAX_GRACE_SECONDS} (7 days).",
            )
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            client = await self._client(tx, tenant, client_id)
            await self._ensure_outranks(principal, tx, client, "client.secret.regenerate")
            if not client.confidential:
                raise FailedPrecondition("PUBLIC_CLIENT", "Public clients have no secret.")
            old_end = now + timedelta(seconds=grace_seconds)
            # Only the newest live secret may keep working for the grace period; every other
            # row goes, so a client never holds more than two secrets (no accumulation).
            live = [
                r
                for r in await tx.client_secrets(client.id)
                if r.expires_at is None or r.expires_at > now
            ]
            keep = live[0].id if live and grace_seconds else None
            await tx.retire_client_secrets(client.id, keep, old_end if keep else None)
            secret = await issue_secret(tx, self._hasher, client.id, now)
            await audit.record(
                tx,
                principal,
                "client.secret.regenerate",
                "client",
                client_id,
                tenant,
                now,
                {"grace_period_seconds": grace_seconds},
            )
        await self._changes.publish(Change(tenant.slug, "client", client_id))
        return IssuedCredentials(client_id, secret, old_end if grace_seconds else None)

    @audits_denied_escalations
    async def delete_client(self, principal: Principal, tenant_slug: str, client_id: str) -> None:
        """Delete a client with its secrets: it can no longer obtain tokens, and the apps it
        served lose it as a delete blocker. Only a caller holding every admin permission of
        the client (TARGET_OUTRANKS_CALLER). Side effect: audit ``client.delete``."""
        principal.require("client:write", tenant_slug)
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            client = await self._client(tx, tenant, client_id)
            await self._ensure_outranks(principal, tx, client, "client.delete")
            if principal.client_id == client_id:
                raise FailedPrecondition(
                    "CLIENT_IS_CALLER", "A client cannot delete itself; use another admin client."
                )
            await tx.delete_client(client.id)
            await audit.record(tx, principal, "client.delete", "client", client_id, tenant, now)
        await self._changes.publish(Change(tenant.slug, "client", client_id))
