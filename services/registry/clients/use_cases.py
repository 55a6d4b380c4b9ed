"""OAuth clients of a tenant: create, read, change, roles and scopes, secrets, delete.

Rules (ARCHITECTURE §2 "Client", TrueParser seed "Regenerating The Secret"): a client serves
one or more apps of its tenant; confidential clients authenticate with a generated secret
stored only as a keyed hash; public clients have no secret and may only use browser/native
grants (PKCE is mandatory for them at the authorize endpoint). A scope or role bound to an app
can only be given to a client that serves that app. No escalation (ARCHITECTURE §7): only a
caller holding every admin permission of a client may act on it, and it grants only what it
holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from services.common.access import needs
from services.common.auth import Principal
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ValidationErrors
from services.common.hashing import SecretHasher, generate_client_id
from services.common.vocabulary import (
    DEFAULT_GRANT_TYPES,
    GRANT_TYPES,
    PUBLIC_CLIENT_GRANTS,
    GrantType,
)
from services.registry.apps.lookup import app_of
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.clients.models import (
    Client,
    ClientDraft,
    ClientPatch,
    ClientView,
    IssuedCredentials,
)
from services.registry.clients.provisioning import issue_secret
from services.registry.clients.store import ClientStore
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.escalation import ensure_no_escalation, ensure_outranks
from services.registry.kernel.models import NamedRef, PageOf, Tenant
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.kernel.scope import Publisher, UseCases, new_id
from services.registry.kernel.text import validate_description, validate_display_name
from services.registry.roles.store import RoleLookup
from services.registry.scopes.store import ScopeLookup

READ = needs("client:read")
WRITE = needs("client:write")
MAX_GRACE_SECONDS = 7 * 24 * 3600


class ClientsTx(BaseTx, Protocol):
    @property
    def clients(self) -> ClientStore: ...
    @property
    def apps(self) -> AppLookup: ...
    @property
    def scopes(self) -> ScopeLookup: ...
    @property
    def roles(self) -> RoleLookup: ...


class ClientUseCases(UseCases[ClientsTx]):
    def __init__(
        self,
        uow: UnitOfWork[ClientsTx],
        publisher: Publisher,
        now: Callable[[], datetime],
        hasher: SecretHasher,
    ) -> None:
        super().__init__(uow, publisher, now)
        self._hasher = hasher

    async def create(
        self, principal: Principal, tenant: str, draft: ClientDraft
    ) -> tuple[ClientView, IssuedCredentials | None]:
        """Create a client. Confidential: the plaintext secret is returned here once. Its
        roles may carry only admin permissions the caller holds (ESCALATION).
        Side effect: audit ``client.create``."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx = scope.tx
            errors = ValidationErrors()
            name = validate_display_name(errors, draft.display_name)
            description = validate_description(errors, draft.description)
            grant_types = _grant_types(errors, draft.grant_types, draft.confidential)
            apps, scopes, roles = await _links(
                tx, errors, scope.tenant, draft.apps, draft.scopes, draft.roles
            )
            errors.raise_if_any()
            assert name is not None
            assert description is not None
            client_id = generate_client_id()
            ensure_no_escalation(
                principal,
                await tx.roles.grants([r.id for r in roles]),
                target_type="client",
                target_id=client_id,
                operation="client.create",
            )
            client = Client(
                id=new_id(),
                tenant_id=scope.tenant.id,
                client_id=client_id,
                display_name=name,
                confidential=draft.confidential,
                enabled=True,
                grant_types=tuple(grant_types),
                app_ids=tuple(a.id for a in apps),
                version=1,
                description=description,
            )
            await tx.clients.insert(client, scope.now)
            await tx.clients.set_apps(client.id, [a.id for a in apps])
            await tx.clients.set_scopes(client.id, [s.id for s in scopes])
            await tx.clients.set_roles(client.id, [r.id for r in roles])
            secret = (
                await issue_secret(tx.clients, self._hasher, client.id, scope.now)
                if client.confidential
                else None
            )
            await scope.audit(
                "client.create",
                "client",
                client.client_id,
                {"apps": [a.slug for a in apps], "confidential": client.confidential},
            )
            scope.publish("client", client.client_id)
            view = await _view(tx, scope.tenant, client)
        return view, (IssuedCredentials(client.client_id, secret) if secret else None)

    async def get(self, principal: Principal, tenant: str, client_id: str) -> ClientView:
        async with self.read(principal, READ, tenant) as scope:
            client = await _found(scope.tx, scope.tenant, client_id)
            return await _view(scope.tx, scope.tenant, client)

    async def search(
        self, principal: Principal, tenant: str, size: int, offset: int, app: str
    ) -> PageOf[ClientView]:
        """Ordered by client_id; ``app`` (slug or id) keeps the clients serving it."""
        async with self.read(principal, READ, tenant) as scope:
            page = page_request(size, offset)
            app_id = (await app_of(scope.tx.apps, scope.tenant, app)).id if app else None
            clients = await scope.tx.clients.search(scope.tenant.id, page, app_id)
            views = [await _view(scope.tx, scope.tenant, c) for c in clients.items]
        return PageOf(items=views, total=clients.total, next_offset=clients.next_offset)

    async def update(
        self,
        principal: Principal,
        tenant: str,
        client_id: str,
        patch: ClientPatch,
        expected_version: int,
    ) -> ClientView:
        """Change a client; apps, scopes and roles given are replaced as a whole. Only a
        caller holding every admin permission of the client may change it
        (TARGET_OUTRANKS_CALLER), and added roles only with what it holds (ESCALATION).
        Side effects: audit ``client.update``; change published (cached grants refresh)."""
        async with self.write(principal, WRITE, tenant) as scope:
            tx = scope.tx
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
            client = await _found(tx, scope.tenant, client_id)
            operation = "client.disable" if patch.enabled is False else "client.update"
            await _outranks(principal, tx, client, operation)
            check_version(client.version, expected_version, "client")
            grant_types = (
                _grant_types(errors, patch.grant_types, client.confidential)
                if patch.grant_types is not None
                else list(client.grant_types)
            )
            current = await _view(tx, scope.tenant, client)
            apps, scopes, roles = await _links(
                tx,
                errors,
                scope.tenant,
                patch.apps if patch.apps is not None else current.apps,
                patch.scopes if patch.scopes is not None else current.scopes,
                patch.roles if patch.roles is not None else current.roles,
            )
            errors.raise_if_any()
            added_roles = [r.id for r in roles if r.name not in current.roles]
            ensure_no_escalation(
                principal,
                await tx.roles.grants(added_roles),
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
            if not await tx.clients.update(updated, client.version, scope.now):
                raise changed_concurrently("client")
            await tx.clients.set_apps(client.id, [a.id for a in apps])
            await tx.clients.set_scopes(client.id, [s.id for s in scopes])
            await tx.clients.set_roles(client.id, [r.id for r in roles])
            changed = [k for k, v in vars(patch).items() if v is not None]
            await scope.audit("client.update", "client", client_id, {"fields": changed})
            scope.publish("client", client_id)
            return await _view(tx, scope.tenant, updated)

    async def regenerate_secret(
        self, principal: Principal, tenant: str, client_id: str, grace_seconds: int
    ) -> IssuedCredentials:
        """A new secret, shown once (TrueParser seed "Regenerating The Secret"): the old one
        stops working immediately, or after ``grace_seconds`` (at most 7 days) if asked. Only
        the newest live secret may keep a grace period: every other row goes, so a client never
        holds more than two. Only a caller holding every admin permission of the client
        (TARGET_OUTRANKS_CALLER). Side effects: audit ``client.secret.regenerate``; change
        published."""
        async with self.write(principal, WRITE, tenant) as scope:
            if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
                raise InvalidArgument(
                    "GRACE_PERIOD_INVALID",
                    f"grace_period_seconds must be between 0 and {MAX_GRACE_SECONDS} (7 days).",
                )
            tx, now = scope.tx, scope.now
            client = await _found(tx, scope.tenant, client_id)
            await _outranks(principal, tx, client, "client.secret.regenerate")
            if not client.confidential:
                raise FailedPrecondition("PUBLIC_CLIENT", "Public clients have no secret.")
            old_end = now + timedelta(seconds=grace_seconds)
            live = [
                r
                for r in await tx.clients.secrets(client.id)
                if r.expires_at is None or r.expires_at > now
            ]
            # The current secret is the one live row without an end; ordering by creation
            # time would pick a secret already in grace when two regenerations share a tick.
            current = next((r for r in live if r.expires_at is None), live[0] if live else None)
            keep = current.id if current and grace_seconds else None
            await tx.clients.retire_secrets(client.id, keep, old_end if keep else None)
            secret = await issue_secret(tx.clients, self._hasher, client.id, now)
            await scope.audit(
                "client.secret.regenerate",
                "client",
                client_id,
                {"grace_period_seconds": grace_seconds},
            )
            scope.publish("client", client_id)
        return IssuedCredentials(client_id, secret, old_end if grace_seconds else None)

    async def delete(self, principal: Principal, tenant: str, client_id: str) -> None:
        """Delete a client with its secrets: it can no longer obtain tokens, and the apps it
        served lose it as a delete blocker. Only a caller holding every admin permission of
        the client (TARGET_OUTRANKS_CALLER). Side effects: audit ``client.delete``; change
        published."""
        async with self.write(principal, WRITE, tenant) as scope:
            client = await _found(scope.tx, scope.tenant, client_id)
            await _outranks(principal, scope.tx, client, "client.delete")
            if principal.client_id == client_id:
                raise FailedPrecondition(
                    "CLIENT_IS_CALLER", "A client cannot delete itself; use another admin client."
                )
            await scope.tx.clients.delete(client.id)
            await scope.audit("client.delete", "client", client_id)
            scope.publish("client", client_id)


async def _found(tx: ClientsTx, tenant: Tenant, client_id: str) -> Client:
    client = await tx.clients.get(client_id)
    if client is None or client.tenant_id != tenant.id:
        raise NotFound("CLIENT_NOT_FOUND", f"Tenant {tenant.slug!r} has no client {client_id!r}.")
    return client


async def _outranks(principal: Principal, tx: ClientsTx, client: Client, operation: str) -> None:
    """No escalation: only a caller holding all the client's admin permissions acts on it."""
    roles = await tx.clients.roles(client.id)
    ensure_outranks(
        principal,
        await tx.roles.grants([r.id for r in roles]),
        target_type="client",
        target_id=client.client_id,
        operation=operation,
    )


async def _view(tx: ClientsTx, tenant: Tenant, client: Client) -> ClientView:
    apps = [
        a
        for a in [await tx.apps.get_by_id(i, with_client_ids=False) for i in client.app_ids]
        if a is not None
    ]
    return ClientView(
        client=client,
        tenant=tenant.slug,
        apps=tuple(sorted(a.slug for a in apps)),
        scopes=tuple(s.name for s in await tx.clients.scopes(client.id)),
        roles=tuple(r.name for r in await tx.clients.roles(client.id)),
        secrets=tuple(await tx.clients.secrets(client.id)),
    )


def _grant_types(
    errors: ValidationErrors, values: tuple[str, ...], confidential: bool
) -> list[str]:
    chosen = list(
        dict.fromkeys(
            values
            or (DEFAULT_GRANT_TYPES if confidential else (GrantType.AUTHORIZATION_CODE.value,))
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
                f"{' or '.join(PUBLIC_CLIENT_GRANTS)} (with PKCE), or make the client "
                "confidential.",
            )
    return chosen


async def _links(
    tx: ClientsTx,
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
            "apps", "CLIENT_APPS_REQUIRED", "A client must serve at least one app of its tenant."
        )
    for index, ref in enumerate(apps):
        app = await tx.apps.get(tenant.id, ref)
        if app is None:
            errors.add(
                f"apps[{index}]", "APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {ref!r}."
            )
        else:
            found_apps.append(app)
    app_ids = {a.id for a in found_apps}
    named_scopes = await tx.scopes.named(tenant.id, list(scopes))
    named_roles = await tx.roles.coded(tenant.id, list(roles))
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
                    f"The {kind} {name!r} is bound to an app this client does not serve; add "
                    "that app to the client or choose another.",
                )
            else:
                out.append(item)
    return found_apps, out_scopes, out_roles
