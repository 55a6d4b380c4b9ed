"""Rules of groups: codes, the apps a group is bound to (Modgud seed, Group.BoundTo: ``*`` =
every app) and the roles it gives its members.

Calling convention: services.registry.kernel.text. Reasons (stable): GROUP_CODE_INVALID,
BOUND_TO_TOO_MANY, BOUND_TO_WILDCARD_NOT_ALONE, APP_NOT_FOUND, ROLES_TOO_MANY, ROLE_NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.common.errors import ValidationErrors
from services.common.vocabulary import ALL_APPS
from services.registry.apps.models import AppRef
from services.registry.kernel.text import show
from services.registry.roles.models import RoleRef
from services.registry.roles.rules import validate_directory_code

MAX_BOUND_APPS = 100
MAX_ROLES_PER_GROUP = 100


def validate_group_code(errors: ValidationErrors, value: str, *, field: str = "code") -> str | None:
    """A group code ``[a-z][a-z0-9-]{1,62}``."""
    return validate_directory_code(
        errors, value, field=field, reason="GROUP_CODE_INVALID", what="group"
    )


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
            errors.add(path, "APP_NOT_FOUND", f"{path} {show(ref)} is not an app of this tenant.")
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
            errors.add(path, "ROLE_NOT_FOUND", f"{path} {show(ref)} is not a role of this tenant.")
            ok = False
        else:
            roles.setdefault(role.id, role)
    return list(roles.values()) if ok else None
