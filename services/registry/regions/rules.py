"""Rules of license regions: region and region-database codes (Tessera platform rules)."""

from __future__ import annotations

from services.common.errors import ValidationErrors
from services.registry.kernel.text import validate_code


def validate_region_code(
    errors: ValidationErrors, value: str, *, field: str = "code"
) -> str | None:
    """A license-region code such as ``eu-west``: ``[a-z][a-z0-9-]{1,62}``."""
    return validate_code(
        errors, value, field=field, reason="REGION_CODE_INVALID", example="eu-west"
    )


def validate_db_code(errors: ValidationErrors, value: str, *, field: str = "db_code") -> str | None:
    """A region-database code such as ``eu-west-db1``: ``[a-z][a-z0-9-]{1,62}``."""
    return validate_code(
        errors, value, field=field, reason="DB_CODE_INVALID", example="eu-west-db1"
    )
