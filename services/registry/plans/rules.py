"""Rules of plans: codes and limits in Document Units (TrueParser seed)."""

from __future__ import annotations

import re

from services.common.errors import ValidationErrors
from services.registry.kernel.text import validate_code

_LIMIT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def validate_plan_code(errors: ValidationErrors, value: str, *, field: str = "code") -> str | None:
    """A plan code such as ``starter``: ``[a-z][a-z0-9-]{1,62}``."""
    return validate_code(errors, value, field=field, reason="PLAN_CODE_INVALID", example="starter")


def validate_limits(errors: ValidationErrors, limits: dict[str, int]) -> dict[str, int]:
    """Plan limits: named like ``monthly-document-units``, whole non-negative numbers of
    Document Units (TrueParser seed)."""
    clean: dict[str, int] = {}
    for key, value in limits.items():
        if not _LIMIT_NAME.fullmatch(key):
            errors.add(
                f"limits.{key}",
                "LIMIT_NAME_INVALID",
                "Limit names are lowercase letters, digits, '-' or '_' (e.g. monthly-document-units).",
            )
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.add(
                f"limits.{key}",
                "LIMIT_VALUE_INVALID",
                "Limits are whole, non-negative numbers of Document Units.",
            )
        else:
            clean[key] = value
    return clean
