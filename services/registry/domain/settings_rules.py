"""Validation of tenant settings and per-app overrides (Modgud seed, "Application settings").

Settings travel as a flat dict of dotted keys; an app's dict is sparse (absent or None =
inherit the tenant's value, field by field).
"""

from __future__ import annotations

import re
from typing import Any

from services.common.errors import ValidationErrors
from services.registry.domain.models import FieldRequirement, Posture

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


def validate_settings(
    errors: ValidationErrors, values: dict[str, Any], *, field: str = "settings"
) -> dict[str, Any]:
    """Return the settings with None values dropped; report unknown keys and bad values."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{field}.{key}"
        if value is None:
            continue
        if key not in SETTING_KEYS:
            errors.add(
                path,
                "SETTING_UNKNOWN",
                f"Unknown setting {key!r}; known: {', '.join(SETTING_KEYS)}.",
            )
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
