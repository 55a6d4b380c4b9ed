"""Tenant write inputs (the Tenant value itself is the kernel's: every unit of work is scoped
to one). Patches use None for "leave unchanged"; values are raw until the use case validates."""

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
    # A JSON Merge Patch (RFC 7396) over dotted setting keys: None resets a key.
    settings: dict[str, Any] | None = None
