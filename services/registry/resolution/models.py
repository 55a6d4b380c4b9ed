"""What a token carries, as the token service receives it (ARCHITECTURE §3)."""

from __future__ import annotations

from dataclasses import dataclass


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
