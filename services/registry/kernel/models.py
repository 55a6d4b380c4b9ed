"""Values every registry feature shares: the tenant (the isolation boundary each unit of work
is scoped to), settings, pages and audit events. Immutable; storage maps rows to these and the
use cases never see SQLAlchemy or protobuf types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from services.common.vocabulary import FieldRequirement, Posture

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Tenant settings, or an app's sparse overrides of them (absent = inherit).

    Keys: see :data:`services.registry.kernel.settings.SETTING_KEYS`. Stored as a flat dict of
    dotted keys so that "override field by field" is a dict merge.
    """

    values: dict[str, Any] = field(default_factory=dict)

    def merged_over(self, base: Settings) -> Settings:
        """These overrides on top of ``base`` (the tenant's), field by field."""
        merged = dict(base.values)
        merged.update({k: v for k, v in self.values.items() if v is not None})
        return Settings(merged)


DEFAULT_TENANT_SETTINGS = Settings(
    {
        "registration_posture": Posture.JIT_ON_OTP.value,
        "registration_fields.first_name": FieldRequirement.OPTIONAL.value,
        "registration_fields.last_name": FieldRequirement.OPTIONAL.value,
        "registration_fields.username": FieldRequirement.OFF.value,
    }
)


@dataclass(frozen=True)
class Tenant:
    id: str
    slug: str
    display_name: str
    app_limit: int
    control_plane: bool
    settings: Settings
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PageRequest:
    size: int = 50
    offset: int = 0


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    total: int
    next_offset: int | None


@dataclass(frozen=True)
class AuditEvent:
    id: str
    tenant_id: str | None
    tenant_slug: str
    actor_type: str
    actor_id: str
    actor_tenant: str
    action: str
    target_type: str
    target_id: str
    occurred_at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class NamedRef:
    """A scope or role as a client references it: id, name (or code) and optional app."""

    id: str
    name: str
    app_id: str | None
