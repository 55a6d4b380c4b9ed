"""What the token service decides a client's tokens from: the registry's facts about one client
of one tenant, at the snapshot versions they were read at (services.common.versions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Secret:
    """One stored client secret: its keyed hash only (services.common.hashing)."""

    id: str
    hash: str
    created_at: datetime
    expires_at: datetime | None  # None = valid until replaced; set = a grace period's end
    last_used_at: datetime | None


@dataclass(frozen=True)
class AppGrant:
    """An app the client serves, with what the client's tokens for it carry."""

    id: str
    slug: str
    enabled: bool
    region: str
    db_code: str
    has_plan: bool
    plan_code: str
    plan_retired: bool
    entitlements: dict[str, int]
    service_codes: tuple[str, ...]
    access_token_seconds: int
    audiences: tuple[str, ...]
    roles: tuple[str, ...]
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class ClientSnapshot:
    """``found`` False: the tenant has no such client (or no such tenant exists); the
    versions are then the asked tenant's, so the answer may be cached like any other."""

    tenant: str
    tenant_version: int
    platform_version: int
    found: bool = False
    tenant_id: str = ""
    client_pk: str = ""
    client_id: str = ""
    enabled: bool = False
    confidential: bool = False
    grant_types: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()  # newest first
    apps: tuple[AppGrant, ...] = ()
    scopes: tuple[tuple[str, str | None], ...] = field(default=())  # (name, app id or None)

    @property
    def versions(self) -> tuple[int, int]:
        return self.tenant_version, self.platform_version
