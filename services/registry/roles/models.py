"""Roles: bundles of catalog permissions, tenant-wide or bound to one app (Modgud seed
"Roles with AppId"); two system roles the platform seeds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from services.common.vocabulary import SYSTEM_ROLES


def etag(*parts: object) -> str:
    """A strong validator over the listed values (roles and groups have no version column)."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:20]


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
        return etag(
            self.code,
            self.name,
            self.description,
            self.app_id,
            sorted(p.id for p in self.permissions),
        )


@dataclass(frozen=True)
class RoleRef:
    id: str
    code: str


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
