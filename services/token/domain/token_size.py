"""Access tokens within a size budget (issue 9): many HTTP servers cap a request's headers near
8 KiB, and a bearer token travels in one. When the permissions would push a token past the
budget, the token carries no ``permissions`` claim at all (never a truncated list, which a
resource server would misread as "not granted") and the marker ``permissions_omitted: true``
instead; introspection (RFC 7662) returns the full list, and the SDK fetches it when it sees
the marker."""

from __future__ import annotations

import json
import math
from typing import Any

PERMISSIONS_OMITTED = "permissions_omitted"
DEFAULT_BUDGET_BYTES = 8 * 1024
# Header (alg, kid, typ), two dots and an ES256/EdDSA signature, base64url-encoded: an upper
# bound, so the check never lets a token over the budget through.
_ENVELOPE_BYTES = 256


def _encoded(length: int) -> int:
    return math.ceil(length * 4 / 3)


def fit_permissions(claims: dict[str, Any], budget: int) -> dict[str, Any]:
    """``claims`` as they may be signed within ``budget`` bytes of token."""
    permissions = claims.get("permissions") or ()
    # Cheap first: most tokens are far below the budget and skip the exact measure.
    rough = 1024 + sum(len(p) + 3 for p in permissions) + sum(len(r) + 3 for r in claims["roles"])
    if _ENVELOPE_BYTES + _encoded(rough) <= budget:
        return claims
    size = _ENVELOPE_BYTES + _encoded(len(json.dumps(claims, separators=(",", ":"))))
    if size <= budget:
        return claims
    trimmed = {k: v for k, v in claims.items() if k != "permissions"}
    trimmed[PERMISSIONS_OMITTED] = True
    return trimmed
