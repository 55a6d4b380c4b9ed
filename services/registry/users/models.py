"""Users of a tenant's pool (ARCHITECTURE §2 "Roles, groups, users, memberships").

A user's password hash is deliberately absent from :class:`User`: the use cases only ever
learn whether one exists (``has_password``), so no read path can leak it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.vocabulary import UserStatus


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
    roles: tuple[str, ...] = ()  # codes of the roles assigned directly, sorted
    groups: tuple[str, ...] = ()  # codes of the user's groups, sorted


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
