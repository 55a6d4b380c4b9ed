"""Rules of permission catalogs (Vendidit seed §5; Modgud seed "Extending or changing the
catalog"): permission codes, declarations, and the reconcile of a declared catalog against the
stored one — a pure function that computes the whole plan before anything is written.

Reasons (stable): PERMISSION_CODE_INVALID, PERMISSION_CODE_CORE_ONLY, SERVICE_CODE_INVALID,
ENTRIES_TOO_MANY, PERMISSION_DUPLICATE, PERMISSION_NAME_TOO_LONG,
PERMISSION_NAME_CONTROL_CHARACTER, PERMISSION_PARTS_MISMATCH, RENAME_SOURCE_DUPLICATE,
RENAME_SOURCE_DECLARED, DESCRIPTION_TOO_LONG.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from services.common.errors import FailedPrecondition, ValidationErrors
from services.common.vocabulary import CORE_PERMISSIONS, PERMISSION_CODE_PATTERN
from services.registry.apps.rules import validate_service_codes
from services.registry.catalog.models import (
    CatalogEntry,
    DeclaredEntry,
    EntryReferences,
    PermissionDeclaration,
    ReconcilePlan,
    ReconcileReport,
    ReferencedEntry,
    Rename,
)
from services.registry.kernel.text import show, validate_description

MAX_ENTRIES = 500
PERMISSION_NAME_MAX_LENGTH = 200


def validate_permission_code(
    errors: ValidationErrors,
    value: str,
    *,
    field: str = "permission",
    core: bool = False,
) -> str | None:
    """A permission code ``<resource>:<action>``, both kebab-case [Modgud seed].

    ``invoice:read`` and ``purchase-order:bulk-approve`` are valid; ``Invoice:read``,
    ``invoice``, ``invoice:read:x``, ``invoice:`` and ``in_voice:read`` are not. The
    platform's :data:`CORE_PERMISSIONS` break the grammar (``read_self``) and are accepted only
    with ``core=True``, the platform's own seeding path; anyone else naming them gets
    ``PERMISSION_CODE_CORE_ONLY``.
    """
    if value in CORE_PERMISSIONS:
        if core:
            return value
        errors.add(
            field,
            "PERMISSION_CODE_CORE_ONLY",
            f"{field} {show(value)} is a platform-defined core permission; it exists in every "
            "app already, so remove it from the request.",
        )
        return None
    if not PERMISSION_CODE_PATTERN.fullmatch(value):
        errors.add(
            field,
            "PERMISSION_CODE_INVALID",
            f"{field} {show(value)} is not '<resource>:<action>'; use exactly one ':' with "
            "lowercase kebab-case on both sides (letters, digits, single hyphens, starting "
            "with a letter), e.g. 'invoice:read'.",
        )
        return None
    return value


def validate_service(errors: ValidationErrors, value: str, *, field: str = "service") -> str | None:
    """A service code, with :func:`rules.validate_service_codes`'s grammar [Vendidit seed §1]."""
    inner = ValidationErrors()
    result = validate_service_codes(inner, [value], slug=value, field=field)
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
                    f"{path}.{part} {show(value)} does not match code {show(code)} "
                    f"(expected {show(expected)}); send matching values or only the code.",
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
        code = validate_permission_code(errors, raw, field=f"{path}.code")
        name = _permission_name(errors, entry.name, raw, f"{path}.name")
        description = validate_description(errors, entry.description, field=f"{path}.description")
        source: str | None = None
        if entry.renamed_from is not None and entry.renamed_from.strip():
            source = validate_permission_code(
                errors, entry.renamed_from.strip(), field=f"{path}.renamed_from"
            )
            if source is None:
                ok = False
            elif source in first_source:
                errors.add(
                    f"{path}.renamed_from",
                    "RENAME_SOURCE_DUPLICATE",
                    f"{path}.renamed_from {show(source)} is also renamed by "
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
                    f"{path}.code {show(code)} duplicates {field}[{first_code[code]}]; "
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
                f"{field}[{index}].renamed_from {show(source)} is declared as a code too "
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
