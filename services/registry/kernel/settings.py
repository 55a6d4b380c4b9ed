"""Validation of tenant settings and per-app overrides (Modgud seed, "Application settings").

Settings travel as a flat dict of dotted keys; an app's dict is sparse (absent = inherit the
tenant's value, field by field). Changes are JSON Merge Patches (RFC 7396) over those keys, for
tenants and apps alike: a value replaces that one setting, null resets it (an app inherits the
tenant's value again, a tenant falls back to the platform default), absent keys stay.
"""

from __future__ import annotations

import re
from typing import Any

from services.common.errors import ValidationErrors
from services.common.vocabulary import FieldRequirement, Posture

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_LIFETIME_BOUNDS = {
    "token_lifetimes.access_token_seconds": (60, 86_400),
    "token_lifetimes.refresh_token_seconds": (300, 31_536_000),
    "token_lifetimes.id_token_seconds": (60, 86_400),
}
SETTING_KEYS = (
    "branding.product_name",
    "branding.primary_color",
    "branding.logo_url",
    "registration_posture",
    "registration_fields.first_name",
    "registration_fields.last_name",
    "registration_fields.username",
    *_LIFETIME_BOUNDS,
)


def merge_patch(current: dict[str, Any], patch: dict[str, Any | None]) -> dict[str, Any]:
    """RFC 7396 over dotted keys: None removes a key, any other value replaces it."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def validate_settings(
    errors: ValidationErrors, values: dict[str, Any], *, field: str = "settings"
) -> dict[str, Any | None]:
    """Return the valid settings (None kept: it resets the key in a merge patch); report
    unknown keys and bad values."""
    clean: dict[str, Any | None] = {}
    for key, value in values.items():
        path = f"{field}.{key}"
        if key not in SETTING_KEYS:
            errors.add(
                path,
                "SETTING_UNKNOWN",
                f"Unknown setting {key!r}; known: {', '.join(SETTING_KEYS)}.",
            )
        elif value is None:
            clean[key] = None
        elif key == "registration_posture":
            if value not in {p.value for p in Posture}:
                errors.add(
                    path, "POSTURE_INVALID", f"Use one of {', '.join(p.value for p in Posture)}."
                )
            else:
                clean[key] = value
        elif key.startswith("registration_fields."):
            if value not in {r.value for r in FieldRequirement}:
                errors.add(path, "FIELD_REQUIREMENT_INVALID", "Use one of off, optional, required.")
            else:
                clean[key] = value
        elif key in _LIFETIME_BOUNDS:
            low, high = _LIFETIME_BOUNDS[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                errors.add(
                    path,
                    "LIFETIME_OUT_OF_RANGE",
                    f"Use a whole number of seconds from {low} to {high}.",
                )
            else:
                clean[key] = value
        elif key == "branding.primary_color":
            if not isinstance(value, str) or not _COLOR.fullmatch(value):
                errors.add(path, "COLOR_INVALID", "Use a hex colour such as #1a73e8.")
            else:
                clean[key] = value.lower()
        elif key == "branding.logo_url":
            if not isinstance(value, str) or not value.startswith("https://") or len(value) > 500:
                errors.add(
                    path, "LOGO_URL_INVALID", "Use an https:// URL of at most 500 characters."
                )
            else:
                clean[key] = value
        else:
            if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
                errors.add(path, "PRODUCT_NAME_INVALID", "Use 1 to 100 characters.")
            else:
                clean[key] = value.strip()
    return clean
