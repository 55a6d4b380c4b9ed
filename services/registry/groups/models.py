"""Groups: give their roles to their members, in the apps they are bound to (Modgud seed,
Group.BoundTo; ``*`` = every app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.vocabulary import ALL_APPS
from services.registry.apps.models import AppRef
from services.registry.roles.models import RoleRef, etag


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
        return etag(
            self.code,
            self.name,
            self.all_apps,
            sorted(a.id for a in self.apps),
            sorted(r.id for r in self.roles),
        )


@dataclass(frozen=True)
class GroupDraft:
    code: str
    name: str
    bound_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupPatch:
    name: str | None = None
    bound_to: tuple[str, ...] | None = None
