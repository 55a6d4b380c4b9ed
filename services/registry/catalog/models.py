"""Permission catalogs (Vendidit seed §5; Modgud seed "Extending or changing the catalog"): the
declarations a service sends, the entries stored, and the reconcile's plan and report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
class PermissionEntry:
    """A catalog entry as a role grant references it."""

    id: str
    service: str
    code: str
    deprecated: bool
