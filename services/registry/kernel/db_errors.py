"""The one place storage failures become domain errors.

Every uniqueness rule the registry's schema enforces is listed once in :data:`UNIQUES`, with
the stable reason and message callers get when a write breaks it — typically when two requests
race past the use case's own check. The SQL stores translate IntegrityError through
:func:`translate_integrity_error`; the memory stores raise :func:`unique_violation` for the
same rule, so both backends fail alike (the contract suite holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from services.common.db import constraint_name, is_unique_violation
from services.common.errors import AlreadyExists

MEMBERSHIP_EXISTS = "MEMBERSHIP_EXISTS"


@dataclass(frozen=True)
class Unique:
    table: str
    columns: tuple[str, ...]
    reason: str
    message: str
    primary_key: bool = False

    @property
    def names(self) -> tuple[str, str]:
        """How PostgreSQL (the schema's naming convention) and SQLite name a violation."""
        postgres = (
            f"pk_{self.table}" if self.primary_key else f"uq_{self.table}_{'_'.join(self.columns)}"
        )
        sqlite = ", ".join(f"{self.table}.{column}" for column in self.columns)
        return postgres, sqlite

    def error(self) -> AlreadyExists:
        return AlreadyExists(self.reason, self.message)


UNIQUES: tuple[Unique, ...] = (
    Unique("tenants", ("slug",), "TENANT_SLUG_TAKEN", "A tenant with that slug already exists."),
    Unique("regions", ("code",), "REGION_CODE_TAKEN", "A region with that code already exists."),
    Unique(
        "region_databases",
        ("region_id", "db_code"),
        "DB_CODE_TAKEN",
        "The region already has a database with that code.",
        primary_key=True,
    ),
    Unique("plans", ("code",), "PLAN_CODE_TAKEN", "A plan with that code already exists."),
    Unique(
        "apps",
        ("tenant_id", "slug"),
        "APP_SLUG_TAKEN",
        "This tenant already has an app with that slug.",
    ),
    Unique(
        "apps",
        ("tenant_id", "display_name_key"),
        "APP_NAME_TAKEN",
        "Another app of this tenant already has that name.",
    ),
    Unique(
        "clients", ("client_id",), "CLIENT_ID_TAKEN", "A client with that client_id already exists."
    ),
    Unique(
        "users",
        ("tenant_id", "email_key"),
        "EMAIL_TAKEN",
        "Another user of this tenant has that email.",
    ),
    Unique(
        "users",
        ("tenant_id", "username"),
        "USERNAME_TAKEN",
        "Another user of this tenant has that username.",
    ),
    Unique(
        "roles",
        ("tenant_id", "code"),
        "ROLE_CODE_TAKEN",
        "This tenant already has a role with that code.",
    ),
    Unique(
        "groups",
        ("tenant_id", "code"),
        "GROUP_CODE_TAKEN",
        "This tenant already has a group with that code.",
    ),
    Unique(
        "memberships",
        ("user_id", "app_id"),
        MEMBERSHIP_EXISTS,
        "The user already has a membership of that app.",
        primary_key=True,
    ),
    Unique(
        "scopes",
        ("tenant_id", "name"),
        "SCOPE_TAKEN",
        "This tenant already has a scope of that name; scope names are unique per tenant.",
    ),
    Unique(
        "resource_servers",
        ("tenant_id", "audience"),
        "AUDIENCE_TAKEN",
        "This tenant already has a resource server with that audience.",
    ),
    Unique(
        "permissions",
        ("tenant_id", "service_code", "code"),
        "PERMISSION_TAKEN",
        "The service's catalog already has an entry with that code.",
    ),
)


def unique_violation(table: str, *columns: str) -> AlreadyExists:
    """The error a write breaking ``table``'s uniqueness of ``columns`` raises (memory stores)."""
    for rule in UNIQUES:
        if rule.table == table and rule.columns == columns:
            return rule.error()
    raise KeyError(f"no uniqueness rule on {table}{columns}")


def translate_integrity_error(exc: IntegrityError) -> AlreadyExists | None:
    """The domain error for a unique violation the schema reports, None for anything else."""
    if not is_unique_violation(exc):
        return None
    name = constraint_name(exc)
    for rule in UNIQUES:
        postgres, sqlite = rule.names
        if name == postgres or name.endswith(f"failed: {sqlite}"):
            return rule.error()
    return AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
