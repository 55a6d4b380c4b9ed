"""No escalation: nobody grants an admin permission that their own token does not carry.

Admin permissions are those of the platform catalogs (the system app ``tessera`` and the
control plane). A tenant admin may delegate any subset of what they hold — through a role's
permissions, a role given to a user, client or group, or a group membership — but a holder of
only ``user:write`` cannot make anyone (themselves included) a ``tenant-admin``.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.auth import Principal
from services.common.errors import PermissionDenied
from services.registry.domain.catalog import CONTROL_PLANE_APP, SYSTEM_APP

ADMIN_SERVICES = frozenset({SYSTEM_APP, CONTROL_PLANE_APP})


def ensure_no_escalation(principal: Principal, grants: Iterable[tuple[str, str]]) -> None:
    """Raise PermissionDenied (ESCALATION) if ``grants`` — (service, code) pairs about to be
    given — hold an admin permission the caller does not hold itself."""
    missing = sorted(
        {code for service, code in grants if service in ADMIN_SERVICES} - set(principal.permissions)
    )
    if missing:
        raise PermissionDenied(
            "ESCALATION",
            f"This would grant {', '.join(missing)}, which your own token does not carry; only "
            "an administrator holding those permissions can grant them.",
            metadata={"permissions": ",".join(missing)},
        )
