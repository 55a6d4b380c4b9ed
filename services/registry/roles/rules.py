"""Rules of roles: codes (the system roles' are reserved) and the permissions a role grants,
resolved against the tenant's catalog (Modgud seed, "Roles with AppId").

Calling convention: services.registry.kernel.text. Reasons (stable): ROLE_CODE_INVALID,
ROLE_CODE_RESERVED, PERMISSIONS_TOO_MANY, PERMISSION_NOT_FOUND, PERMISSION_OUTSIDE_APP,
PERMISSION_DEPRECATED.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from services.common.errors import ValidationErrors
from services.common.vocabulary import CODE_PATTERN, SYSTEM_ROLES
from services.registry.catalog.models import PermissionEntry
from services.registry.kernel.text import show
from services.registry.roles.models import PermissionRef

MAX_PERMISSIONS_PER_ROLE = 500


def validate_directory_code(
    errors: ValidationErrors, value: str, *, field: str, reason: str, what: str
) -> str | None:
    """A role or group code ``[a-z][a-z0-9-]{1,62}``, trimmed (``reason`` when it is not)."""
    code = value.strip()
    if not CODE_PATTERN.fullmatch(code):
        errors.add(
            field,
            reason,
            f"{field} {show(code)} is not a {what} code; use 2-63 lowercase letters, digits "
            "and hyphens, starting with a letter (e.g. 'billing-admin').",
        )
        return None
    return code


def validate_role_code(errors: ValidationErrors, value: str, *, field: str = "code") -> str | None:
    """A role code ``[a-z][a-z0-9-]{1,62}``; the system roles' codes are reserved."""
    code = validate_directory_code(
        errors, value, field=field, reason="ROLE_CODE_INVALID", what="role"
    )
    if code in SYSTEM_ROLES:
        errors.add(
            field,
            "ROLE_CODE_RESERVED",
            f"{field} {code!r} is the code of a system role; choose another code.",
        )
        return None
    return code


def resolve_role_permissions(
    errors: ValidationErrors,
    refs: Sequence[PermissionRef],
    catalog: Mapping[tuple[str, str], PermissionEntry],
    *,
    granted: Collection[str],
    app_services: Collection[str] | None,
    app_slug: str | None = None,
    field: str = "permissions",
) -> list[PermissionEntry] | None:
    """Resolve a role's complete new permission set against the tenant's catalog.

    Each reference must name an existing entry (``PERMISSION_NOT_FOUND``); for a role bound to
    an app (``app_services`` given) its service must be one of the app's service codes
    (``PERMISSION_OUTSIDE_APP``, Modgud "Roles with AppId"); a deprecated entry may stay
    granted when ``granted`` (the role's current permission ids) already has it, but cannot be
    granted anew (``PERMISSION_DEPRECATED``). Repeats are dropped. Returns the entries in
    request order.
    """
    if len(refs) > MAX_PERMISSIONS_PER_ROLE:
        errors.add(
            field,
            "PERMISSIONS_TOO_MANY",
            f"{field} has {len(refs)} entries; a role grants at most {MAX_PERMISSIONS_PER_ROLE}.",
        )
        return None
    ok = True
    result: dict[str, PermissionEntry] = {}
    for index, ref in enumerate(refs):
        path = f"{field}[{index}]"
        service, code = ref.service.strip(), ref.code.strip()
        entry = catalog.get((service, code))
        if entry is None:
            errors.add(
                path,
                "PERMISSION_NOT_FOUND",
                f"{path} {service}/{code} is not in this tenant's permission catalog; check the "
                "service and code, or register the service's catalog first.",
            )
            ok = False
        elif app_services is not None and entry.service not in app_services:
            errors.add(
                path,
                "PERMISSION_OUTSIDE_APP",
                f"{path} belongs to service {entry.service!r}, but the role is bound to app "
                f"{app_slug!r} whose services are {', '.join(sorted(app_services))}; grant it "
                "from a tenant-wide role or add the service to the app.",
            )
            ok = False
        elif entry.deprecated and entry.id not in granted:
            errors.add(
                path,
                "PERMISSION_DEPRECATED",
                f"{path} {service}/{code} is deprecated (its service no longer declares it); "
                "existing grants keep working but it cannot be granted anew.",
            )
            ok = False
        else:
            result.setdefault(entry.id, entry)
    return list(result.values()) if ok else None
