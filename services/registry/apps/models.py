"""Apps: a tenant's registered consumers of tokens (TrueParser seed "What An App Represents",
Vendidit seed §1, Modgud seed "Applications"), and the inputs of app writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.registry.kernel.models import Settings


@dataclass(frozen=True)
class StorageConfig:
    """An app's own S3-compatible storage as stored: both keys are envelope ciphertexts and
    the access key is also kept as a masked hint for reads (TrueParser seed)."""

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
    homepage_url: str | None = None  # the app's public home page (OIDC client_uri)


@dataclass(frozen=True)
class AppRef:
    """An app as other objects point at it."""

    id: str
    slug: str


@dataclass(frozen=True)
class StorageInput:
    """Storage settings as a caller sends them (plaintext keys, validated and encrypted by the
    use case before anything is stored)."""

    provider: str
    access_key: str
    secret_key: str
    bucket: str
    endpoint: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class AppDraft:
    slug: str
    display_name: str
    region: str
    description: str = ""
    db_code: str = ""
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    auto_grant_on_signup: bool = False
    service_codes: tuple[str, ...] = ()
    plan: str | None = None
    storage: StorageInput | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    grant_types: tuple[str, ...] = ()
    homepage_url: str | None = None


@dataclass(frozen=True)
class AppPatch:
    """None leaves a field unchanged."""

    display_name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    redirect_uris: tuple[str, ...] | None = None
    post_logout_redirect_uris: tuple[str, ...] | None = None
    allowed_domains: tuple[str, ...] | None = None
    auto_grant_on_signup: bool | None = None
    service_codes: tuple[str, ...] | None = None
    plan: str | None = None  # "" clears the plan
    storage: StorageInput | None = None
    clear_storage: bool = False
    # A JSON Merge Patch (RFC 7396) over dotted keys: a value sets the override, None
    # removes it (the app inherits the tenant's value again).
    settings: dict[str, Any] | None = None
    grant_types: tuple[str, ...] | None = None
    slug: str | None = None  # accepted only when it is the current slug (immutable)
    homepage_url: str | None = None  # "" removes it


@dataclass(frozen=True)
class CloneDraft:
    slug: str
    display_name: str
    description: str | None = None
    region: str = ""
    db_code: str = ""
