"""Rules of OAuth scopes (Modgud seed, "Invite codes"). Reasons (stable): SCOPE_NAME_INVALID,
SCOPE_NAME_RESERVED."""

from __future__ import annotations

import re

from services.common.errors import ValidationErrors
from services.registry.kernel.text import show

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
_SCOPE_NAME = re.compile(r"[a-z][a-z0-9_.:-]{0,99}")


def validate_scope_name(errors: ValidationErrors, value: str, *, field: str = "name") -> str | None:
    """An OAuth scope name [Modgud seed, "Invite codes"]: ``[a-z][a-z0-9_.:-]{0,99}``
    (``invite:write``, ``billing.read``); the OpenID Connect scopes are the provider's."""
    if value in RESERVED_SCOPES:
        errors.add(
            field,
            "SCOPE_NAME_RESERVED",
            f"{field} {show(value)} is an OpenID Connect scope that the platform provides "
            "itself; choose another name.",
        )
        return None
    if not _SCOPE_NAME.fullmatch(value):
        errors.add(
            field,
            "SCOPE_NAME_INVALID",
            f"{field} {show(value)} is not a scope name; use 1-100 characters: a lowercase "
            "letter, then lowercase letters, digits, '_', '.', ':' or '-' (e.g. 'invite:write').",
        )
        return None
    return value
