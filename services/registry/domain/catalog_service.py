"""Permission catalogs, OAuth scopes and resource servers of a tenant.

Rules:

* A service owns a slice of the tenant's permission catalog and declares all of it, usually at
  every boot (Vendidit seed §5, ARCHITECTURE §2 "Permission catalog"): declared entries are
  upserted, entries no longer declared are pruned, a repeated declaration changes nothing, and
  two replicas booting at once end with one catalog. Removing an entry that a role still
  grants is dangerous (Modgud seed, "Extending or changing the catalog"), so it is never
  silent: the entry is kept, deprecated and reported as blocked, unless the caller forces the
  prune, which removes the grants too and reports them. A rename (``renamed_from``) keeps the
  entry's id, so the role grants survive it.
* Scopes are unique per tenant and may be bound to one app (Modgud seed, "Invite codes": the
  app-bound ``invite:write`` scope). A scope that clients hold cannot be deleted.
* A resource server (Modgud seed, "Provisioning the resource server") belongs to one app, has
  an audience unique per tenant and gates on a subset of the app's catalog (no subset = the
  whole catalog).

Each public method authorises, validates (reporting every bad field at once), runs one unit of
work that also records the audit event, and publishes a change notification after commit.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from services.common.auth import Principal
from services.common.changes import Change, ChangeBus
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ValidationErrors,
)
from services.registry.domain import audit, rules
from services.registry.domain.models import App, PageOf, PageRequest, Tenant
from services.registry.domain.paging import page_request
from services.registry.domain.ports import AuditStore

# Catalogs the platform seeds itself; no API call may change them (domain/catalog.py).
RESERVED_SERVICES: tuple[str, ...] = ("tessera", "control-plane", "core")
MAX_ENTRIES = 500
PERMISSION_NAME_MAX_LENGTH = 200
# OpenID Connect Core §5.4 / §11 scopes are the provider's own; a tenant scope of the same
# name would be ambiguous at the authorize and token endpoints.
RESERVED_SCOPES: tuple[str, ...] = (
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
)
AUDIENCE_MAX_LENGTH = 200

_SCOPE_NAME = re.compile(r"[a-z][a-z0-9_.:-]{0,99}")
_AUDIENCE_SLUG = re.compile(r"[a-z][a-z0-9._-]*[a-z0-9]")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


# -- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionDeclaration:
    """One entry as a service declares it. ``resource``/``action`` are the Vendidit seed's
    redundant spelling of ``code``; when given they must agree with it."""

    code: str
    name: str = ""
    description: str = ""
    renamed_from: str | None = None
    resource: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class DeclaredEntry:
    """A validated, normalised declaration."""

    code: str
    name: str
    description: str
    renamed_from: str | None = None


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    service_code: str
    code: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime | None = None
    deprecated_at: datetime | None = None


@dataclass(frozen=True)
class EntryReferences:
    """What still points at a catalog entry: granting roles and gating resource servers."""

    roles: tuple[str, ...] = ()
    resource_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rename:
    from_code: str
    to_code: str


@dataclass(frozen=True)
class ReferencedEntry:
    code: str
    roles: tuple[str, ...]
    resource_servers: tuple[str, ...]
    deprecated_at: datetime | None = None


@dataclass(frozen=True)
class ReconcileReport:
    service: str
    revision: int
    dry_run: bool
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    renamed: tuple[Rename, ...] = ()
    unchanged: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    blocked: tuple[ReferencedEntry, ...] = ()
    pruned_with_grants: tuple[ReferencedEntry, ...] = ()
    changed: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "renamed": len(self.renamed),
            "unchanged": len(self.unchanged),
            "pruned": len(self.pruned),
            "blocked": len(self.blocked),
            "pruned_with_grants": len(self.pruned_with_grants),
        }


@dataclass(frozen=True)
class ReconcilePlan:
    """The writes a reconcile makes, and the report describing them (revision not yet set)."""

    report: ReconcileReport
    inserts: tuple[CatalogEntry, ...] = ()
    updates: tuple[CatalogEntry, ...] = ()
    deletes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


@dataclass(frozen=True)
class Scope:
    id: str
    tenant_id: str
    tenant_slug: str
    name: str
    description: str
    app_id: str | None
    app_slug: str | None
    created_at: datetime


@dataclass(frozen=True)
class ResourceServer:
    id: str
    tenant_id: str
    tenant_slug: str
    app_id: str
    app_slug: str
    audience: str
    name: str
    created_at: datetime
    permissions: tuple[str, ...] = field(default=())  # codes of the subset
    # Set when created or updated with an empty subset. A subset that a forced prune
    # empties stays a subset (gating nothing), so a prune never widens a server's reach.
    whole_catalog: bool = True


@dataclass(frozen=True)
class ResourceServerDraft:
    app: str
    audience: str
    name: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceServerPatch:
    name: str | None = None
    permissions: tuple[str, ...] | None = None  # None = unchanged; () = the whole catalog


# -- storage ---------------------------------------------------------------------------------


class CatalogTx(AuditStore, Protocol):
    """The storage this feature needs, bound to one unit of work (never commits)."""

    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None: ...
    async def get_app(self, tenant_id: str, id_or_slug: str) -> App | None: ...

    async def lock_catalog(self, tenant_id: str, service_code: str, at: datetime) -> int:
        """Create the (tenant, service) catalog row if it is missing, lock it until the unit
        of work ends (concurrent reconciles of that catalog wait here) and return its
        revision. Must not fail when another transaction creates the row at the same time."""
        ...

    async def catalog_revision(self, tenant_id: str, service_code: str) -> int:
        """The revision without locking; 0 when the service never registered."""
        ...

    async def set_catalog_revision(
        self, tenant_id: str, service_code: str, revision: int, at: datetime
    ) -> None: ...
    async def catalog_entries(
        self, tenant_id: str, service_codes: Sequence[str], *, lock: str | None = None
    ) -> list[CatalogEntry]: ...
    async def entry_references(self, permission_ids: Sequence[str]) -> dict[str, EntryReferences]:
        """References of the given entries; entries nothing references are absent."""
        ...

    async def insert_permissions(self, tenant_id: str, entries: Sequence[CatalogEntry]) -> None: ...
    async def update_permission(self, entry: CatalogEntry) -> None: ...
    async def delete_permissions(self, permission_ids: Sequence[str]) -> None:
        """Remove the entries with their role grants and resource-server subset rows."""
        ...

    async def list_permissions(
        self,
        tenant_id: str,
        service_code: str | None,
        include_deprecated: bool,
        page: PageRequest,
    ) -> PageOf[CatalogEntry]: ...

    async def get_scope(self, tenant_id: str, name: str) -> Scope | None: ...
    async def insert_scope(self, scope: Scope) -> None:
        """Raises AlreadyExists(SCOPE_TAKEN) when the name is taken (also under a race)."""
        ...

    async def list_scopes(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[Scope]: ...
    async def scope_holders(self, scope_id: str) -> list[str]:
        """client_ids of the clients that hold the scope, sorted."""
        ...

    async def delete_scope(self, scope_id: str) -> None: ...

    async def get_resource_server(self, tenant_id: str, ref: str) -> ResourceServer | None:
        """By id or audience."""
        ...

    async def insert_resource_server(
        self, server: ResourceServer, permission_ids: Sequence[str]
    ) -> None:
        """Raises AlreadyExists(AUDIENCE_TAKEN) when the audience is taken (also under a race)."""
        ...

    async def update_resource_server(
        self, server_id: str, name: str, permission_ids: Sequence[str] | None
    ) -> None: ...
    async def delete_resource_server(self, server_id: str) -> None: ...
    async def list_resource_servers(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[ResourceServer]: ...


class CatalogUnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[CatalogTx]: ...


# -- rules (pure) ----------------------------------------------------------------------------


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


def validate_service(errors: ValidationErrors, value: str, *, field: str = "service") -> str | None:
    """A service code, with :func:`rules.validate_service_codes`'s grammar [Vendidit seed §1]."""
    inner = ValidationErrors()
    result = rules.validate_service_codes(inner, [value], slug=value, field=field)
    for violation in inner.violations:
        errors.add(field, violation.reason, violation.message.replace(f"{field}[0]", field, 1))
    return result[0] if result else None


def _permission_name(errors: ValidationErrors, value: str, code: str, path: str) -> str | None:
    name = value.strip()
    if not name:
        return code
    if len(name) > PERMISSION_NAME_MAX_LENGTH:
        errors.add(
            path,
            "PERMISSION_NAME_TOO_LONG",
            f"{path} is {len(name)} characters long; shorten it to at most "
            f"{PERMISSION_NAME_MAX_LENGTH}.",
        )
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        errors.add(
            path,
            "PERMISSION_NAME_CONTROL_CHARACTER",
            f"{path} contains a control character; names are a single line of visible text.",
        )
        return None
    return name


def _code_from_parts(
    errors: ValidationErrors, entry: PermissionDeclaration, path: str
) -> tuple[str, bool]:
    """The entry's code, made from ``resource``/``action`` when ``code`` is empty. The flag
    is False when the parts disagree with the code (already reported)."""
    code = entry.code.strip()
    if entry.resource is None and entry.action is None:
        return code, True
    made = f"{(entry.resource or '').strip()}:{(entry.action or '').strip()}"
    if not code:
        return made, True
    if made != code:
        for part, value in (("resource", entry.resource), ("action", entry.action)):
            expected = code.partition(":")[0 if part == "resource" else 2]
            if value is not None and value.strip() != expected:
                errors.add(
                    f"{path}.{part}",
                    "PERMISSION_PARTS_MISMATCH",
                    f"{path}.{part} {_show(value)} does not match code {_show(code)} "
                    f"(expected {_show(expected)}); send matching values or only the code.",
                )
        return code, False
    return code, True


def validate_declarations(
    errors: ValidationErrors, entries: Sequence[PermissionDeclaration], *, field: str = "entries"
) -> list[DeclaredEntry] | None:
    """A whole catalog declaration [Modgud seed; Vendidit seed §5].

    Every code is ``<resource>:<action>``, kebab-case both sides; names default to the code
    (at most 200 characters, one line); descriptions at most 500 characters. A code may be
    declared once; a ``renamed_from`` must be a valid code that is neither declared itself
    nor renamed by another entry. Reports every bad entry (paths ``entries[3].code``).
    """
    if len(entries) > MAX_ENTRIES:
        errors.add(
            field,
            "ENTRIES_TOO_MANY",
            f"{field} has {len(entries)} entries; a service declares at most {MAX_ENTRIES}.",
        )
        return None
    ok = True
    result: list[DeclaredEntry] = []
    first_code: dict[str, int] = {}
    first_source: dict[str, int] = {}
    for index, entry in enumerate(entries):
        path = f"{field}[{index}]"
        raw, parts_ok = _code_from_parts(errors, entry, path)
        code = rules.validate_permission_code(errors, raw, field=f"{path}.code")
        name = _permission_name(errors, entry.name, raw, f"{path}.name")
        description = rules.validate_description(
            errors, entry.description, field=f"{path}.description"
        )
        source: str | None = None
        if entry.renamed_from is not None and entry.renamed_from.strip():
            source = rules.validate_permission_code(
                errors, entry.renamed_from.strip(), field=f"{path}.renamed_from"
            )
            if source is None:
                ok = False
            elif source in first_source:
                errors.add(
                    f"{path}.renamed_from",
                    "RENAME_SOURCE_DUPLICATE",
                    f"{path}.renamed_from {_show(source)} is also renamed by "
                    f"{field}[{first_source[source]}]; an entry can be renamed only once.",
                )
                ok = False
            else:
                first_source[source] = index
        if code is not None:
            if code in first_code:
                errors.add(
                    f"{path}.code",
                    "PERMISSION_DUPLICATE",
                    f"{path}.code {_show(code)} duplicates {field}[{first_code[code]}]; "
                    "declare each code once.",
                )
                ok = False
            else:
                first_code[code] = index
        if code is None or name is None or description is None or not parts_ok:
            ok = False
            continue
        result.append(DeclaredEntry(code, name, description, source))
    for source, index in first_source.items():
        if source in first_code:
            errors.add(
                f"{field}[{index}].renamed_from",
                "RENAME_SOURCE_DECLARED",
                f"{field}[{index}].renamed_from {_show(source)} is declared as a code too "
                f"({field}[{first_code[source]}]); a renamed entry is no longer declared, "
                "so remove one of them.",
            )
            ok = False
    return result if ok else None


def plan_reconcile(
    service: str,
    existing: Sequence[CatalogEntry],
    declared: Sequence[DeclaredEntry],
    references: Mapping[str, EntryReferences],
    *,
    force: bool,
    now: datetime,
    new_id: Callable[[], str],
) -> ReconcilePlan:
    """What reconciling ``existing`` with ``declared`` writes, as a plan and a report.

    * A declared code that exists is updated when its name or description differ, or when it
      was deprecated (declaring it again restores it); otherwise it is unchanged.
    * ``renamed_from`` renames the existing source entry in place (same id, grants kept).
      When the source no longer exists the rename already happened (or never applied), and
      the entry is upserted by its code; this keeps the declaration idempotent. Renaming onto
      a code that exists while the source exists too raises RENAME_TARGET_EXISTS.
    * Every other existing entry is pruned. One that roles grant or resource servers name is
      instead kept, deprecated (once) and reported as blocked; with ``force`` it is pruned
      with its grants and reported as pruned_with_grants.
    """
    by_code = {e.code: e for e in existing}
    inserts: list[CatalogEntry] = []
    updates: list[CatalogEntry] = []
    created: list[str] = []
    updated: list[str] = []
    renamed: list[Rename] = []
    unchanged: list[str] = []
    kept: set[str] = set()
    for entry in declared:
        source = by_code.get(entry.renamed_from) if entry.renamed_from else None
        current = by_code.get(entry.code)
        if source is not None and current is not None:
            raise FailedPrecondition(
                "RENAME_TARGET_EXISTS",
                f"Cannot rename {source.code!r} to {entry.code!r} in service {service!r}: "
                f"{entry.code!r} already exists. Drop renamed_from to keep both entries, or "
                f"remove {entry.code!r} first (declare the catalog without it).",
                metadata={"from": source.code, "to": entry.code},
            )
        if source is not None:
            kept.add(source.code)
            updates.append(
                replace(
                    source,
                    code=entry.code,
                    name=entry.name,
                    description=entry.description,
                    updated_at=now,
                    deprecated_at=None,
                )
            )
            renamed.append(Rename(source.code, entry.code))
            continue
        if current is None:
            inserts.append(
                CatalogEntry(
                    id=new_id(),
                    service_code=service,
                    code=entry.code,
                    name=entry.name,
                    description=entry.description,
                    created_at=now,
                )
            )
            created.append(entry.code)
            continue
        kept.add(current.code)
        if (
            current.name != entry.name
            or current.description != entry.description
            or current.deprecated_at is not None
        ):
            updates.append(
                replace(
                    current,
                    name=entry.name,
                    description=entry.description,
                    updated_at=now,
                    deprecated_at=None,
                )
            )
            updated.append(entry.code)
        else:
            unchanged.append(entry.code)

    deletes: list[str] = []
    pruned: list[str] = []
    blocked: list[ReferencedEntry] = []
    forced: list[ReferencedEntry] = []
    for stale in sorted(existing, key=lambda e: e.code):
        if stale.code in kept:
            continue
        refs = references.get(stale.id)
        if refs is None or not (refs.roles or refs.resource_servers):
            deletes.append(stale.id)
            pruned.append(stale.code)
        elif force:
            deletes.append(stale.id)
            forced.append(ReferencedEntry(stale.code, refs.roles, refs.resource_servers))
        else:
            deprecated_at = stale.deprecated_at or now
            if stale.deprecated_at is None:
                updates.append(replace(stale, deprecated_at=now, updated_at=now))
            blocked.append(
                ReferencedEntry(stale.code, refs.roles, refs.resource_servers, deprecated_at)
            )
    plan = ReconcilePlan(
        report=ReconcileReport(
            service=service,
            revision=0,
            dry_run=False,
            created=tuple(created),
            updated=tuple(updated),
            renamed=tuple(renamed),
            unchanged=tuple(unchanged),
            pruned=tuple(pruned),
            blocked=tuple(blocked),
            pruned_with_grants=tuple(forced),
        ),
        inserts=tuple(inserts),
        updates=tuple(updates),
        deletes=tuple(deletes),
    )
    return replace(plan, report=replace(plan.report, changed=plan.changed))


def validate_scope_name(errors: ValidationErrors, value: str, *, field: str = "name") -> str | None:
    """An OAuth scope name [Modgud seed, "Invite codes"]: ``[a-z][a-z0-9_.:-]{0,99}``
    (``invite:write``, ``billing.read``); the OpenID Connect scopes are the provider's."""
    if value in RESERVED_SCOPES:
        errors.add(
            field,
            "SCOPE_NAME_RESERVED",
            f"{field} {_show(value)} is an OpenID Connect scope that the platform provides "
            "itself; choose another name.",
        )
        return None
    if not _SCOPE_NAME.fullmatch(value):
        errors.add(
            field,
            "SCOPE_NAME_INVALID",
            f"{field} {_show(value)} is not a scope name; use 1-100 characters: a lowercase "
            "letter, then lowercase letters, digits, '_', '.', ':' or '-' (e.g. 'invite:write').",
        )
        return None
    return value


# Audiences the platform's own tokens carry (system app, service tokens).
RESERVED_AUDIENCES = frozenset({"tessera", "control-plane", "core", "tessera-internal"})


def _audience_problem(value: str) -> str | None:
    if not value:
        return (
            "is empty; give an absolute URI such as 'https://api.example.com' or an "
            "identifier such as 'billing-api'."
        )
    if len(value) > AUDIENCE_MAX_LENGTH:
        return f"is {len(value)} characters long; keep it to at most {AUDIENCE_MAX_LENGTH}."
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        return "contains whitespace or control characters; remove them."
    if value in RESERVED_AUDIENCES:
        return "is reserved for the platform's own tokens; choose another."
    if ":" not in value:
        if _AUDIENCE_SLUG.fullmatch(value):
            return None
        return (
            "is neither an absolute URI nor an identifier; identifiers are 2 or more lowercase "
            "letters, digits, '.', '_' and '-', starting with a letter and ending with a "
            "letter or digit (e.g. 'billing-api')."
        )
    scheme, _, rest = value.partition(":")
    if not _URI_SCHEME.fullmatch(scheme) or not rest:
        return (
            "is not an absolute URI; give a scheme and what follows it, e.g. "
            "'https://api.example.com/billing' or 'urn:example:billing'."
        )
    if "#" in value:
        return "has a fragment; an audience is an absolute URI without '#...'."
    if scheme.lower() in ("http", "https"):
        try:
            host = urlsplit(value).hostname
        except ValueError:
            host = None
        if not host:
            return f"has no host; {scheme} audiences need one, e.g. 'https://api.example.com'."
    return None


def validate_audience(
    errors: ValidationErrors, value: str, *, field: str = "audience"
) -> str | None:
    """A resource server's audience (the ``aud`` its tokens carry) [Modgud seed]: an absolute
    URI without fragment (``https://api.example.com``, ``urn:example:billing``) or a slug-like
    identifier of at least 2 characters (``billing-api``); at most 200 characters. Returned
    unchanged: audiences are compared as exact strings."""
    problem = _audience_problem(value)
    if problem is not None:
        errors.add(field, "AUDIENCE_INVALID", f"{field} {_show(value)} {problem}")
        return None
    return value


def subset_ids(
    errors: ValidationErrors,
    codes: Sequence[str],
    catalog: Sequence[CatalogEntry],
    app: App,
    *,
    field: str = "permissions",
) -> list[str] | None:
    """Resolve a resource server's permission subset against the app's catalog (entries of
    the app's service codes). Each code must be a non-deprecated entry there; a code several
    of the app's services declare selects each of them. Repeats are harmless and dropped."""
    by_code: dict[str, list[CatalogEntry]] = {}
    for entry in catalog:
        by_code.setdefault(entry.code, []).append(entry)
    ok = True
    ids: list[str] = []
    for index, raw in enumerate(codes):
        path = f"{field}[{index}]"
        code = rules.validate_permission_code(errors, raw, field=path)
        if code is None:
            ok = False
            continue
        entries = by_code.get(code)
        if not entries:
            errors.add(
                path,
                "PERMISSION_NOT_IN_CATALOG",
                f"{path} {_show(code)} is not in app {app.slug!r}'s catalog (services "
                f"{', '.join(app.service_codes)}); register it first or pick an existing code.",
            )
            ok = False
            continue
        live = [e.id for e in entries if e.deprecated_at is None]
        if not live:
            errors.add(
                path,
                "PERMISSION_DEPRECATED",
                f"{path} {_show(code)} is deprecated (its service no longer declares it) and "
                "cannot be granted anew.",
            )
            ok = False
            continue
        ids.extend(i for i in live if i not in ids)
    return ids if ok else None


# -- use cases -------------------------------------------------------------------------------


def _new_id() -> str:
    return str(uuid.uuid4())


def _require_any(principal: Principal, tenant: str, first: str, second: str) -> None:
    """Either permission, for ``tenant`` (the second one is named when both are missing)."""
    principal.require(first if first in principal.permissions else second, tenant)


class CatalogService:
    def __init__(
        self,
        transaction: CatalogUnitOfWork,
        read: CatalogUnitOfWork,
        now: Callable[[], datetime],
        changes: ChangeBus,
    ) -> None:
        self._tx = transaction
        self._read = read
        self._now = now
        self._changes = changes

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _tenant(tx: CatalogTx, slug: str) -> Tenant:
        tenant = await tx.get_tenant(slug)
        if tenant is None:
            raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {slug!r}.")
        return tenant

    @staticmethod
    async def _app(tx: CatalogTx, tenant: Tenant, ref: str) -> App:
        app = await tx.get_app(tenant.id, ref)
        if app is None:
            raise NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {ref!r}.")
        return app

    # -- permission catalog ------------------------------------------------------------------

    async def register_permissions(
        self,
        principal: Principal,
        tenant_slug: str,
        service: str,
        entries: Sequence[PermissionDeclaration],
        *,
        dry_run: bool = False,
        force: bool = False,
    ) -> ReconcileReport:
        """Reconcile ``service``'s catalog in the tenant with ``entries`` (see module rules).

        Side effects unless ``dry_run``: permission rows inserted, updated (renamed,
        deprecated, restored) and deleted, with the role grants and resource-server subset
        rows of force-pruned entries; the catalog revision bumped; audit
        ``catalog.reconcile``; one ``Change(tenant, "catalog", service)``. A call that
        changes nothing writes nothing of that and keeps the revision.
        """
        principal.require("permission:write", tenant_slug)
        if service in RESERVED_SERVICES:
            raise PermissionDenied(
                "SERVICE_RESERVED",
                f"The {service!r} catalog belongs to the platform and is seeded by it; register "
                "your own service's permissions under its own service code.",
                metadata={"service": service},
            )
        errors = ValidationErrors()
        code = validate_service(errors, service)
        declared = validate_declarations(errors, entries)
        errors.raise_if_any()
        assert code is not None
        assert declared is not None
        now = self._now()
        if dry_run:
            async with self._read() as tx:
                tenant = await self._tenant(tx, tenant_slug)
                revision = await tx.catalog_revision(tenant.id, code)
                plan = await self._plan(tx, tenant, code, declared, force, now)
            bumped = revision + 1 if plan.changed else revision
            return replace(plan.report, revision=bumped, dry_run=True)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            revision = await tx.lock_catalog(tenant.id, code, now)
            plan = await self._plan(tx, tenant, code, declared, force, now)
            if plan.changed:
                await tx.delete_permissions(plan.deletes)
                for entry in plan.updates:
                    await tx.update_permission(entry)
                await tx.insert_permissions(tenant.id, plan.inserts)
                revision += 1
                await tx.set_catalog_revision(tenant.id, code, revision, now)
                await audit.record(
                    tx,
                    principal,
                    "catalog.reconcile",
                    "catalog",
                    code,
                    tenant,
                    now,
                    {"service": code, "revision": revision, "force": force, **plan.report.counts()},
                )
        if plan.changed:
            await self._changes.publish(Change(tenant.slug, "catalog", code))
        return replace(plan.report, revision=revision)

    @staticmethod
    async def _plan(
        tx: CatalogTx,
        tenant: Tenant,
        service: str,
        declared: Sequence[DeclaredEntry],
        force: bool,
        now: datetime,
    ) -> ReconcilePlan:
        existing = await tx.catalog_entries(tenant.id, [service], lock="update")
        references = await tx.entry_references([e.id for e in existing])
        return plan_reconcile(
            service, existing, declared, references, force=force, now=now, new_id=_new_id
        )

    async def list_permissions(
        self,
        principal: Principal,
        tenant_slug: str,
        service: str,
        include_deprecated: bool,
        size: int,
        offset: int,
    ) -> PageOf[CatalogEntry]:
        """Catalog entries, by service then code; deprecated ones only when asked."""
        _require_any(principal, tenant_slug, "permission:write", "app:read")
        code = rules.checked(validate_service, service) if service else None
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await tx.list_permissions(tenant.id, code, include_deprecated, page)

    # -- scopes ------------------------------------------------------------------------------

    async def create_scope(
        self, principal: Principal, tenant_slug: str, name: str, description: str, app_ref: str
    ) -> Scope:
        """Create a scope, tenant-wide or bound to one app. Side effects: audit
        ``scope.create``; ``Change(tenant, "scope", id)``."""
        principal.require("app:write", tenant_slug)
        errors = ValidationErrors()
        checked_name = validate_scope_name(errors, name)
        checked_description = rules.validate_description(errors, description)
        errors.raise_if_any()
        assert checked_name is not None
        assert checked_description is not None
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref) if app_ref else None
            if await tx.get_scope(tenant.id, checked_name) is not None:
                raise AlreadyExists(
                    "SCOPE_TAKEN",
                    f"Tenant {tenant.slug!r} already has a scope {checked_name!r}; scope names "
                    "are unique per tenant, so name app-bound scopes per app.",
                )
            scope = Scope(
                id=_new_id(),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                name=checked_name,
                description=checked_description,
                app_id=app.id if app else None,
                app_slug=app.slug if app else None,
                created_at=now,
            )
            await tx.insert_scope(scope)
            await audit.record(
                tx,
                principal,
                "scope.create",
                "scope",
                scope.name,
                tenant,
                now,
                {"app": app.slug if app else None},
            )
        await self._changes.publish(Change(tenant.slug, "scope", scope.id))
        return scope

    async def list_scopes(
        self, principal: Principal, tenant_slug: str, app_ref: str, size: int, offset: int
    ) -> PageOf[Scope]:
        principal.require("app:read", tenant_slug)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref) if app_ref else None
            return await tx.list_scopes(tenant.id, app.id if app else None, page)

    async def delete_scope(self, principal: Principal, tenant_slug: str, name: str) -> None:
        """Delete a scope nobody holds. Side effects: audit ``scope.delete``; change."""
        principal.require("app:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            scope = await tx.get_scope(tenant.id, name)
            if scope is None:
                raise NotFound("SCOPE_NOT_FOUND", f"Tenant {tenant.slug!r} has no scope {name!r}.")
            holders = [f"client:{c}" for c in await tx.scope_holders(scope.id)]
            if holders:
                raise FailedPrecondition(
                    "SCOPE_IN_USE",
                    f"Scope {name!r} is still held by {', '.join(holders)}; remove it from those "
                    "clients first.",
                    blockers=holders,
                )
            await tx.delete_scope(scope.id)
            await audit.record(tx, principal, "scope.delete", "scope", name, tenant, self._now())
        await self._changes.publish(Change(tenant.slug, "scope", scope.id))

    # -- resource servers --------------------------------------------------------------------

    async def _resource_server(self, tx: CatalogTx, tenant: Tenant, ref: str) -> ResourceServer:
        server = await tx.get_resource_server(tenant.id, ref)
        if server is None:
            raise NotFound(
                "RESOURCE_SERVER_NOT_FOUND",
                f"Tenant {tenant.slug!r} has no resource server {ref!r}.",
            )
        return server

    async def create_resource_server(
        self, principal: Principal, tenant_slug: str, draft: ResourceServerDraft
    ) -> ResourceServer:
        """Provision a resource server for an app. Side effects: audit
        ``resource_server.create``; ``Change(tenant, "resource_server", id)``."""
        principal.require("app:write", tenant_slug)
        errors = ValidationErrors()
        if not draft.app.strip():
            errors.add(
                "app", "APP_REQUIRED", "Name the app (id or slug) the resource server belongs to."
            )
        audience = validate_audience(errors, draft.audience)
        name = rules.validate_display_name(errors, draft.name, field="name")
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, draft.app) if draft.app.strip() else None
            ids: list[str] | None = []
            if app is not None and draft.permissions:
                catalog = await tx.catalog_entries(tenant.id, app.service_codes, lock="share")
                ids = subset_ids(errors, draft.permissions, catalog, app)
            errors.raise_if_any()
            assert app is not None
            assert audience is not None
            assert name is not None
            assert ids is not None
            if await tx.get_resource_server(tenant.id, audience) is not None:
                raise AlreadyExists(
                    "AUDIENCE_TAKEN",
                    f"Tenant {tenant.slug!r} already has a resource server with audience "
                    f"{audience!r}; audiences are unique per tenant.",
                )
            named_app = await tx.get_app(tenant.id, audience)
            if named_app is not None and named_app.id != app.id:
                # Tokens of app X default to aud=X; another app's clients must not be able
                # to mint tokens that X's resource servers would accept.
                raise AlreadyExists(
                    "AUDIENCE_IS_ANOTHER_APP",
                    f"{audience!r} is the slug of app {named_app.slug!r}, whose tokens carry it "
                    "as their audience; choose an audience of this app's own.",
                )
            server = ResourceServer(
                id=_new_id(),
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                app_id=app.id,
                app_slug=app.slug,
                audience=audience,
                name=name,
                created_at=now,
            )
            await tx.insert_resource_server(server, ids)
            await audit.record(
                tx,
                principal,
                "resource_server.create",
                "resource_server",
                server.id,
                tenant,
                now,
                {"app": app.slug, "audience": audience, "permissions": len(ids)},
            )
            stored = await self._resource_server(tx, tenant, server.id)
        await self._changes.publish(Change(tenant.slug, "resource_server", server.id))
        return stored

    async def get_resource_server(
        self, principal: Principal, tenant_slug: str, ref: str
    ) -> ResourceServer:
        principal.require("app:read", tenant_slug)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            return await self._resource_server(tx, tenant, ref)

    async def list_resource_servers(
        self, principal: Principal, tenant_slug: str, app_ref: str, size: int, offset: int
    ) -> PageOf[ResourceServer]:
        principal.require("app:read", tenant_slug)
        page = page_request(size, offset)
        async with self._read() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            app = await self._app(tx, tenant, app_ref) if app_ref else None
            return await tx.list_resource_servers(tenant.id, app.id if app else None, page)

    async def update_resource_server(
        self, principal: Principal, tenant_slug: str, ref: str, patch: ResourceServerPatch
    ) -> ResourceServer:
        """Rename a resource server or replace its permission subset (the audience and app
        are fixed). Side effects: audit ``resource_server.update``; change."""
        principal.require("app:write", tenant_slug)
        errors = ValidationErrors()
        name = (
            rules.validate_display_name(errors, patch.name, field="name")
            if patch.name is not None
            else None
        )
        now = self._now()
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            server = await self._resource_server(tx, tenant, ref)
            ids: list[str] | None = None
            if patch.permissions is not None:
                ids = []
                if patch.permissions:
                    app = await self._app(tx, tenant, server.app_id)
                    catalog = await tx.catalog_entries(tenant.id, app.service_codes, lock="share")
                    ids = subset_ids(errors, patch.permissions, catalog, app)
            errors.raise_if_any()
            await tx.update_resource_server(server.id, name or server.name, ids)
            fields = [k for k, v in (("name", name), ("permissions", ids)) if v is not None]
            await audit.record(
                tx,
                principal,
                "resource_server.update",
                "resource_server",
                server.id,
                tenant,
                now,
                {"fields": fields},
            )
            stored = await self._resource_server(tx, tenant, server.id)
        await self._changes.publish(Change(tenant.slug, "resource_server", server.id))
        return stored

    async def delete_resource_server(
        self, principal: Principal, tenant_slug: str, ref: str
    ) -> None:
        """Delete a resource server and its subset. Side effects: audit
        ``resource_server.delete``; change."""
        principal.require("app:write", tenant_slug)
        async with self._tx() as tx:
            tenant = await self._tenant(tx, tenant_slug)
            server = await self._resource_server(tx, tenant, ref)
            await tx.delete_resource_server(server.id)
            await audit.record(
                tx,
                principal,
                "resource_server.delete",
                "resource_server",
                server.id,
                tenant,
                self._now(),
                {"audience": server.audience, "app": server.app_slug},
            )
        await self._changes.publish(Change(tenant.slug, "resource_server", server.id))
