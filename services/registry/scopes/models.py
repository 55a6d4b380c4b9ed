"""OAuth scopes of a tenant, tenant-wide or bound to one app (Modgud seed, "Invite codes":
the app-bound ``invite:write`` scope)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Scope:
    id: str
    tenant_id: str
    tenant_slug: str
    name: str
    description: str
    app_id: str | None
    app_slug: str | None
    created_at: datetime
