"""Resource servers (Modgud seed, "Provisioning the resource server"): an app's API, with an
audience unique per tenant, gating on a subset of the app's catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ResourceServer:
    id: str
    tenant_id: str
    tenant_slug: str
    app_id: str
    app_slug: str
    audience: str
    name: str
    created_at: datetime
    permissions: tuple[str, ...] = field(default=())  # codes of the subset
    # Set when created or updated with an empty subset. A subset that a forced prune
    # empties stays a subset (gating nothing), so a prune never widens a server's reach.
    whole_catalog: bool = True


@dataclass(frozen=True)
class ResourceServerDraft:
    app: str
    audience: str
    name: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceServerPatch:
    name: str | None = None
    permissions: tuple[str, ...] | None = None  # None = unchanged; () = the whole catalog
