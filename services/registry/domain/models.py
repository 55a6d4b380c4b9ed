"""Registry entities as immutable values. Storage maps rows to these; the domain never sees
SQLAlchemy or protobuf types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Posture(StrEnum):
    """Registration posture (Modgud seed, "Self-registration posture")."""

    JIT_ON_OTP = "jit_on_otp"
    OFF = "off"
    EXPLICIT_ENDPOINT = "explicit_endpoint"
    INVITE_CODE = "invite_code"


class FieldRequirement(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class PlanStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


STORAGE_PROVIDERS = ("aws-s3", "tigris", "cloudflare-r2", "minio", "backblaze-b2")


@dataclass(frozen=True)
class Settings:
    """Tenant settings, or an app's sparse overrides of them (None = inherit).

    Keys: branding.{product_name,primary_color,logo_url}, registration_posture,
    registration_fields.{first_name,last_name,username}, token_lifetimes.{access_token_seconds,
    refresh_token_seconds,id_token_seconds}. Stored as a flat dict of dotted keys so that
    "override field by field" is a dict merge.
    """

    values: dict[str, Any] = field(default_factory=dict)

    def merged_over(self, base: Settings) -> Settings:
        """This app's overrides on top of ``base`` (the tenant's), field by field."""
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
class RegionDatabase:
    db_code: str
    active: bool


@dataclass(frozen=True)
class Region:
    id: str
    code: str
    name: str
    active: bool
    databases: tuple[RegionDatabase, ...]
    version: int

    def first_active_database(self) -> RegionDatabase | None:
        return next((d for d in self.databases if d.active), None)


@dataclass(frozen=True)
class Plan:
    id: str
    code: str
    name: str
    status: PlanStatus
    limits: dict[str, int]
    version: int


@dataclass(frozen=True)
class StorageConfig:
    """Customer storage (TrueParser seed). ``secret_key_ciphertext`` is an envelope token."""

    provider: str
    access_key_ciphertext: str
    secret_key_ciphertext: str
    access_key_hint: str
    bucket: str
    endpoint: str | None
    region: str | None


@dataclass(frozen=True)
class App:
    id: str
    tenant_id: str
    tenant_slug: str
    slug: str
    display_name: str
    description: str
    enabled: bool
    is_system: bool
    region_id: str | None
    region_code: str | None
    db_code: str | None
    plan_id: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    auto_grant_on_signup: bool
    service_codes: tuple[str, ...]
    grant_types: tuple[str, ...]
    storage: StorageConfig | None
    settings: Settings
    client_ids: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ClientSecretRecord:
    id: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class ClientCredentials:
    """What authenticating a client needs, read in one query whatever the outcome."""

    client_pk: str
    tenant_slug: str
    enabled: bool
    confidential: bool
    secrets: tuple[ClientSecretRecord, ...]


@dataclass(frozen=True)
class Client:
    id: str
    tenant_id: str
    client_id: str
    display_name: str
    confidential: bool
    enabled: bool
    grant_types: tuple[str, ...]
    app_ids: tuple[str, ...]
    version: int
    description: str = ""


@dataclass(frozen=True)
class NamedRef:
    """A scope or role as other objects reference it: id, name/code and optional app."""

    id: str
    name: str
    app_id: str | None


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    status: str
    token_version: int


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
class PageRequest:
    size: int = 50
    offset: int = 0


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    total: int
    next_offset: int | None


@dataclass(frozen=True)
class GrantContext:
    """What a client's tokens for one app carry (ARCHITECTURE §3, machine tokens)."""

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
class UserGrantContext:
    """What a user's tokens for one app carry (ARCHITECTURE §3, user tokens)."""

    app: GrantContext
    user_id: str
    email: str
    first_name: str | None
    last_name: str | None
    token_version: int
