"""Inputs of registry write operations, as transports hand them to the domain.

Patches use ``None`` for "leave unchanged"; every value is still raw (validated by the
service, which reports all bad fields at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TenantDraft:
    slug: str
    display_name: str
    app_limit: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantPatch:
    display_name: str | None = None
    app_limit: int | None = None
    settings: dict[str, Any] | None = None


@dataclass(frozen=True)
class RegionDraft:
    code: str
    name: str
    active: bool = True
    databases: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class RegionPatch:
    name: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class PlanDraft:
    code: str
    name: str
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanPatch:
    name: str | None = None
    status: str | None = None
    limits: dict[str, int] | None = None


@dataclass(frozen=True)
class StorageInput:
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


@dataclass(frozen=True)
class AppPatch:
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


@dataclass(frozen=True)
class CloneDraft:
    slug: str
    display_name: str
    description: str | None = None
    region: str = ""
    db_code: str = ""
