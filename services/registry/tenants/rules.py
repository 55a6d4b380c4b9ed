"""Rules of tenants: slugs (the app-slug grammar, ARCHITECTURE §2, and names reserved by the
gateway's URLs) and app limits."""

from __future__ import annotations

from services.common.errors import ValidationErrors
from services.common.vocabulary import CONTROL_PLANE_TENANT
from services.registry.kernel.text import validate_slug

RESERVED_TENANT_SLUGS: tuple[str, ...] = (CONTROL_PLANE_TENANT, "api", "admin", "t", ".well-known")
SYSTEM_TENANT_SLUGS: tuple[str, ...] = (CONTROL_PLANE_TENANT,)
APP_LIMIT_MAX = 100_000


def validate_tenant_slug(
    errors: ValidationErrors,
    value: str,
    *,
    field: str = "slug",
    allow_reserved: bool = False,
) -> str | None:
    """A tenant slug: the app-slug grammar. Reserved: ``control-plane`` (system path only,
    ``allow_reserved=True``) and ``api``, ``admin``, ``t``, ``.well-known``, which collide with
    gateway URL segments and can never be tenant slugs."""
    return validate_slug(
        errors,
        value,
        field=field,
        kind="tenant",
        reserved=RESERVED_TENANT_SLUGS,
        system=SYSTEM_TENANT_SLUGS,
        allow_reserved=allow_reserved,
    )


def validate_app_limit(errors: ValidationErrors, value: int) -> int | None:
    """How many apps a tenant may have: 1 to 100000."""
    if not 1 <= value <= APP_LIMIT_MAX:
        errors.add(
            "app_limit", "APP_LIMIT_INVALID", f"app_limit must be between 1 and {APP_LIMIT_MAX}."
        )
        return None
    return value
