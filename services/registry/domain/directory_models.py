"""Directory entities (ARCHITECTURE §2 "Roles, groups, users, memberships") and the inputs of
directory writes. Immutable values: storage maps rows to these, transports map these to
messages; neither side sees the other's types.

A user's password hash is deliberately absent from :class:`User`: the domain only ever learns
whether one exists (``has_password``), so no read path can leak it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.registry.domain.catalog import PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE

SYSTEM_ROLES = (PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE)
ALL_APPS = "*"
AUTO_GRANT_ACTOR = "auto_grant_on_signup"
# AlreadyExists reason when a (user, app) membership row exists already (concurrent grants).
MEMBERSHIP_EXISTS = "MEMBERSHIP_EXISTS"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


def _etag(*parts: object) -> str:
    """A strong validator over the listed values (roles and groups have no version column)."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    tenant_slug: str
    email: str
    email_verified: bool
    first_name: str | None
    last_name: str | None
    username: str | None
    has_password: bool
    status: UserStatus
    token_version: int
    version: int
    created_at: datetime
    updated_at: datetime
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolePermission:
    """One granted catalog entry; ``deprecated`` entries keep working but cannot be granted
    anew (the catalog wanted to prune them while this role still granted them)."""

    id: str
    service: str
    code: str
    deprecated: bool


@dataclass(frozen=True)
class Role:
    id: str
    tenant_id: str
    tenant_slug: str
    code: str
    name: str
    description: str
    app_id: str | None
    app_slug: str | None
    permissions: tuple[RolePermission, ...]
    created_at: datetime

    @property
    def system(self) -> bool:
        return self.code in SYSTEM_ROLES

    @property
    def etag(self) -> str:
        return _etag(
            self.code,
            self.name,
            self.description,
            self.app_id,
            sorted(p.id for p in self.permissions),
        )


@dataclass(frozen=True)
class AppRef:
    id: str
    slug: str


@dataclass(frozen=True)
class RoleRef:
    id: str
    code: str


@dataclass(frozen=True)
class Group:
    id: str
    tenant_id: str
    tenant_slug: str
    code: str
    name: str
    all_apps: bool
    apps: tuple[AppRef, ...]
    roles: tuple[RoleRef, ...]
    created_at: datetime

    @property
    def bound_to(self) -> tuple[str, ...]:
        """Modgud's BoundTo: ``("*",)`` for every app, else the bound apps' slugs."""
        return (ALL_APPS,) if self.all_apps else tuple(a.slug for a in self.apps)

    @property
    def etag(self) -> str:
        return _etag(
            self.code,
            self.name,
            self.all_apps,
            sorted(a.id for a in self.apps),
            sorted(r.id for r in self.roles),
        )


@dataclass(frozen=True)
class Membership:
    """user_apps (Vendidit seed §1): the user may enter the app while ``status`` is active."""

    user_id: str
    user_email: str
    app_id: str
    app_slug: str
    status: MembershipStatus
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Admission:
    """The outcome of :meth:`DirectoryService.admit`: the active membership and the user's
    current token version (the ``tv`` claim to mint)."""

    membership: Membership
    token_version: int
    created: bool


@dataclass(frozen=True)
class PermissionEntry:
    """A catalog row of the tenant, as role-permission resolution sees it."""

    id: str
    service: str
    code: str
    deprecated: bool


# -- write inputs (raw; validated by the service, which reports every bad field at once) --


@dataclass(frozen=True)
class UserDraft:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    password: str | None = None  # None = passwordless
    email_verified: bool = False


@dataclass(frozen=True)
class UserPatch:
    """``None`` leaves a field unchanged; ``""`` clears a name or the username."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    email_verified: bool | None = None


@dataclass(frozen=True)
class RoleDraft:
    code: str
    name: str
    description: str = ""
    app: str = ""  # app id or slug; "" = tenant-wide


@dataclass(frozen=True)
class RolePatch:
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class PermissionRef:
    service: str
    code: str


@dataclass(frozen=True)
class GroupDraft:
    code: str
    name: str
    bound_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupPatch:
    name: str | None = None
    bound_to: tuple[str, ...] | None = None
