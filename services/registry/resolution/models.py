"""What a token carries, as the token service receives it (ARCHITECTURE §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class GrantContext:
    """What a client's tokens for one app carry (machine tokens)."""

    tenant_slug: str
    tenant_id: str
    client_id: str
    confidential: bool
    app_id: str
    app_code: str
    region: str
    db_code: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    plan_code: str | None
    entitlements: dict[str, int]
    access_token_seconds: int
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    status: str
    token_version: int


@dataclass(frozen=True)
class UserGrantContext:
    """What a user's tokens for one app carry (user tokens)."""

    app: GrantContext
    user_id: str
    email: str
    first_name: str | None
    last_name: str | None
    token_version: int


@dataclass(frozen=True)
class SnapshotSecret:
    id: str
    hash: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class AppFacts:
    """An app a client serves, as the token path reads it (one query for all of them)."""

    id: str
    slug: str
    enabled: bool
    region: str
    db_code: str
    plan_code: str | None  # None: no plan
    plan_retired: bool  # also when the plan no longer exists
    entitlements: dict[str, int]
    service_codes: tuple[str, ...]
    settings: dict[str, Any]
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class RoleFacts:
    code: str
    app_id: str | None
    permissions: tuple[tuple[str, str], ...]  # (service, code)


@dataclass(frozen=True)
class ClientFacts:
    """Everything a client's tokens are decided from, read in a constant number of queries."""

    client_pk: str
    client_id: str
    enabled: bool
    confidential: bool
    grant_types: tuple[str, ...]
    secrets: tuple[SnapshotSecret, ...]  # newest first
    apps: tuple[AppFacts, ...]  # by slug
    roles: tuple[RoleFacts, ...]
    scopes: tuple[tuple[str, str | None], ...]  # (name, app id or None)


@dataclass(frozen=True)
class SnapshotApp:
    id: str
    slug: str
    enabled: bool
    region: str
    db_code: str
    plan_code: str | None
    plan_retired: bool
    entitlements: dict[str, int]
    service_codes: tuple[str, ...]
    access_token_seconds: int
    audiences: tuple[str, ...]
    roles: tuple[str, ...]
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class ClientSnapshot:
    """What the token service decides a client's tokens from, at the versions it was read at
    (services.common.versions). ``facts`` None: no such client in the tenant asked."""

    tenant_version: int
    platform_version: int
    tenant: str
    tenant_id: str
    client_pk: str = ""
    client_id: str = ""
    enabled: bool = False
    confidential: bool = False
    grant_types: tuple[str, ...] = ()
    secrets: tuple[SnapshotSecret, ...] = ()
    apps: tuple[SnapshotApp, ...] = ()
    scopes: tuple[tuple[str, str | None], ...] = ()
    found: bool = False
