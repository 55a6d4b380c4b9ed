"""Validation rules of the directory: emails, names, usernames, passwords, role and group codes,
role-permission references and group bindings.

Pure functions, same calling convention as :mod:`services.registry.domain.rules`:
``validate_<thing>(errors, value, *, field=...) -> T | None`` appends one violation per bad
field (or list item, ``permissions[2]``) and returns the *normalised* value, or ``None`` when
the value was refused.

Reasons (stable; never reworded once shipped)
---------------------------------------------
EMAIL_REQUIRED, EMAIL_INVALID, EMAIL_TOO_LONG,
NAME_TOO_LONG, NAME_CONTROL_CHARACTER,
USERNAME_INVALID,
PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, PASSWORD_EQUALS_EMAIL,
ROLE_CODE_INVALID, ROLE_CODE_RESERVED, GROUP_CODE_INVALID,
PERMISSIONS_TOO_MANY, PERMISSION_NOT_FOUND, PERMISSION_OUTSIDE_APP, PERMISSION_DEPRECATED,
BOUND_TO_TOO_MANY, BOUND_TO_WILDCARD_NOT_ALONE, APP_NOT_FOUND,
ROLES_TOO_MANY, ROLE_NOT_FOUND.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence

from services.common.errors import ValidationErrors
from services.registry.domain.directory_models import (
    ALL_APPS,
    SYSTEM_ROLES,
    AppRef,
    PermissionEntry,
    PermissionRef,
    RoleRef,
)

EMAIL_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3: a path holds at most 256 octets incl. "<>"
EMAIL_LOCAL_MAX_LENGTH = 64  # RFC 5321 §4.5.3.1.1
NAME_MAX_LENGTH = 100
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256
MAX_PERMISSIONS_PER_ROLE = 500
MAX_BOUND_APPS = 100
MAX_ROLES_PER_GROUP = 100

# Dot-atom local part (RFC 5322 §3.4.1) widened to UTF-8 (RFC 6531); quoted local parts are
# not accepted (no mail provider hands them out and they complicate uniqueness).
_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\\x00-\x1f\x7f]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_USERNAME = re.compile(r"[a-z0-9._-]{3,63}")
_CODE = re.compile(r"[a-z][a-z0-9-]{1,62}")


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def email_key(email: str) -> str:
    """The key two emails collide on within a tenant: NFKC, case-folded (ARCHITECTURE §2:
    "email unique per tenant, case-insensitive"), so ``Ann@Example.com`` = ``ann@example.com``."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


def _domain_ok(domain: str) -> bool:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return (
        len(labels) >= 2
        and len(ascii_domain) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def validate_email(errors: ValidationErrors, value: str, *, field: str = "email") -> str | None:
    """A user's email: trimmed, ``local@domain`` with a dot-atom local part (≤64 characters)
    and a DNS domain, at most 254 characters. The domain is lower-cased (domains are
    case-insensitive); the local part is kept as typed. Uniqueness uses :func:`email_key`."""
    text = value.strip()
    if not text:
        errors.add(field, "EMAIL_REQUIRED", f"{field} is required; give the user's email address.")
        return None
    if len(text) > EMAIL_MAX_LENGTH:
        errors.add(
            field,
            "EMAIL_TOO_LONG",
            f"{field} is {len(text)} characters long; an email address has at most "
            f"{EMAIL_MAX_LENGTH}.",
        )
        return None
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or len(local) > EMAIL_LOCAL_MAX_LENGTH
        or not _LOCAL.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or not _domain_ok(domain.lower())
    ):
        errors.add(
            field,
            "EMAIL_INVALID",
            f"{field} {_show(text)} is not an email address; use the form 'name@example.com' "
            "(no spaces or quotes, a domain with at least one dot).",
        )
        return None
    return f"{local}@{domain.lower()}"


def validate_person_name(errors: ValidationErrors, value: str, *, field: str) -> str | None:
    """An optional first or last name: trimmed, at most 100 characters, no control characters.
    Blank input is valid and normalises to ``""`` (= no name)."""
    name = value.strip()
    if len(name) > NAME_MAX_LENGTH:
        errors.add(
            field,
            "NAME_TOO_LONG",
            f"{field} is {len(name)} characters long; shorten it to at most {NAME_MAX_LENGTH}.",
        )
        return None
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        errors.add(
            field,
            "NAME_CONTROL_CHARACTER",
            f"{field} contains the control character U+{ord(bad):04X}; remove it.",
        )
        return None
    return name


def validate_username(
    errors: ValidationErrors, value: str, *, field: str = "username"
) -> str | None:
    """An optional username: trimmed, 3-63 of ``a-z 0-9 . _ -``. Blank normalises to ``""``
    (= no username). Uniqueness within the tenant is checked by the service."""
    name = value.strip()
    if name and not _USERNAME.fullmatch(name):
        errors.add(
            field,
            "USERNAME_INVALID",
            f"{field} {_show(name)} is not a username; use 3-63 lowercase letters, digits, "
            "'.', '_' or '-'.",
        )
        return None
    return name


def validate_password(
    errors: ValidationErrors, value: str, *, email: str | None, field: str = "password"
) -> str | None:
    """A password: 12-256 characters (NIST SP 800-63B §3.1.1.2 length rules; no composition
    rules), and not the account's email. Returned unchanged (passwords are never trimmed)."""
    if len(value) < PASSWORD_MIN_LENGTH:
        errors.add(
            field,
            "PASSWORD_TOO_SHORT",
            f"{field} has {len(value)} characters; use at least {PASSWORD_MIN_LENGTH} "
            "(a passphrase of a few words is easiest).",
        )
        return None
    if len(value) > PASSWORD_MAX_LENGTH:
        errors.add(
            field,
            "PASSWORD_TOO_LONG",
            f"{field} has {len(value)} characters; use at most {PASSWORD_MAX_LENGTH}.",
        )
        return None
    if email is not None and email_key(value.strip()) == email_key(email):
        errors.add(
            field,
            "PASSWORD_EQUALS_EMAIL",
            f"{field} is the account's email address; choose something else.",
        )
        return None
    return value


def _validate_code(
    errors: ValidationErrors, value: str, *, field: str, reason: str, what: str
) -> str | None:
    code = value.strip()
    if not _CODE.fullmatch(code):
        errors.add(
            field,
            reason,
            f"{field} {_show(code)} is not a {what} code; use 2-63 lowercase letters, digits "
            "and hyphens, starting with a letter (e.g. 'billing-admin').",
        )
        return None
    return code


def validate_role_code(errors: ValidationErrors, value: str, *, field: str = "code") -> str | None:
    """A role code ``[a-z][a-z0-9-]{1,62}``; the system roles' codes are reserved."""
    code = _validate_code(errors, value, field=field, reason="ROLE_CODE_INVALID", what="role")
    if code in SYSTEM_ROLES:
        errors.add(
            field,
            "ROLE_CODE_RESERVED",
            f"{field} {code!r} is the code of a system role; choose another code.",
        )
        return None
    return code


def validate_group_code(errors: ValidationErrors, value: str, *, field: str = "code") -> str | None:
    """A group code ``[a-z][a-z0-9-]{1,62}``."""
    return _validate_code(errors, value, field=field, reason="GROUP_CODE_INVALID", what="group")


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


def resolve_bound_to(
    errors: ValidationErrors,
    values: Sequence[str],
    known: Mapping[str, AppRef],
    *,
    field: str = "bound_to",
) -> tuple[bool, list[AppRef]] | None:
    """A group's BoundTo (Modgud "Groups via BoundTo"): ``["*"]`` for every app, else app ids
    or slugs of this tenant (``known`` maps each reference that exists to its app). ``*`` must
    stand alone. Repeats (also an id and the slug of one app) are dropped. Returns
    ``(all_apps, apps)``."""
    cleaned = [v.strip() for v in values]
    if len(cleaned) > MAX_BOUND_APPS:
        errors.add(
            field,
            "BOUND_TO_TOO_MANY",
            f"{field} has {len(cleaned)} entries; bind at most {MAX_BOUND_APPS} apps or use '*'.",
        )
        return None
    if ALL_APPS in cleaned:
        if len(cleaned) == 1:
            return True, []
        index = next(i for i, v in enumerate(cleaned) if v == ALL_APPS)
        errors.add(
            f"{field}[{index}]",
            "BOUND_TO_WILDCARD_NOT_ALONE",
            f"'*' already means every app; send {field} as ['*'] alone or list apps without it.",
        )
        return None
    ok = True
    apps: dict[str, AppRef] = {}
    for index, ref in enumerate(cleaned):
        app = known.get(ref)
        if app is None:
            path = f"{field}[{index}]"
            errors.add(path, "APP_NOT_FOUND", f"{path} {_show(ref)} is not an app of this tenant.")
            ok = False
        else:
            apps.setdefault(app.id, app)
    return (False, list(apps.values())) if ok else None


def resolve_roles(
    errors: ValidationErrors,
    values: Sequence[str],
    known: Mapping[str, RoleRef],
    *,
    field: str = "roles",
) -> list[RoleRef] | None:
    """A complete list of role ids or codes (a group's roles); repeats are dropped."""
    if len(values) > MAX_ROLES_PER_GROUP:
        errors.add(
            field,
            "ROLES_TOO_MANY",
            f"{field} has {len(values)} entries; a group carries at most {MAX_ROLES_PER_GROUP}.",
        )
        return None
    ok = True
    roles: dict[str, RoleRef] = {}
    for index, ref in enumerate(v.strip() for v in values):
        role = known.get(ref)
        if role is None:
            path = f"{field}[{index}]"
            errors.add(path, "ROLE_NOT_FOUND", f"{path} {_show(ref)} is not a role of this tenant.")
            ok = False
        else:
            roles.setdefault(role.id, role)
    return list(roles.values()) if ok else None
