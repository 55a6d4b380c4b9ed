"""No escalation (ARCHITECTURE §7): a principal may create, change, regenerate, disable or
delete only principals whose effective permissions are a subset of its own, and may grant only
what it holds itself.

What counts are admin permissions, those of the platform catalogs (the system app ``tessera``
and the control plane): they are the only ones that act on principals. A principal's effective
admin permissions are taken conservatively, whatever app a role or group is bound to, so a
binding changed later can never turn a permitted act into an escalation:

- a role: its own; a group: those of its roles;
- a client: those of its roles; a user: those of its roles, directly or through any group.

A tenant admin (role ``tenant-admin``: the whole ``tessera`` catalog) therefore acts on
everyone in its tenant, and a platform admin on everyone. Refusals are
:class:`EscalationDenied`; the write scope (services.registry.kernel.scope) records each
refused attempt in a unit of work of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.auth import Principal
from services.common.errors import PermissionDenied
from services.common.vocabulary import ADMIN_SERVICES


class EscalationDenied(PermissionDenied):
    """A refused escalation, with what the audit log records about it."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        missing: Iterable[str],
        target_type: str,
        target_id: str,
        operation: str,
    ) -> None:
        self.missing = tuple(sorted(missing))
        super().__init__(reason, message, metadata={"permissions": ",".join(self.missing)})
        self.target_type = target_type
        self.target_id = target_id
        self.operation = operation


def admin_permissions(grants: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The admin permission codes among (service, code) grants."""
    return frozenset(code for service, code in grants if service in ADMIN_SERVICES)


def ensure_no_escalation(
    principal: Principal,
    grants: Iterable[tuple[str, str]],
    *,
    target_type: str,
    target_id: str,
    operation: str,
) -> None:
    """Raise EscalationDenied (ESCALATION) if ``grants`` — (service, code) pairs about to be
    given to the target — hold an admin permission the caller does not hold itself."""
    missing = admin_permissions(grants) - principal.permissions
    if missing:
        raise EscalationDenied(
            "ESCALATION",
            f"This would grant {', '.join(sorted(missing))}, which your own token does not "
            "carry; only an administrator holding those permissions can grant them.",
            missing=missing,
            target_type=target_type,
            target_id=target_id,
            operation=operation,
        )


def ensure_outranks(
    principal: Principal,
    target_grants: Iterable[tuple[str, str]],
    *,
    target_type: str,
    target_id: str,
    operation: str,
) -> None:
    """Raise EscalationDenied (TARGET_OUTRANKS_CALLER) unless the target's effective admin
    permissions (``target_grants``, see the module docstring) are a subset of the caller's."""
    missing = admin_permissions(target_grants) - principal.permissions
    if missing:
        raise EscalationDenied(
            "TARGET_OUTRANKS_CALLER",
            f"This {target_type} holds {', '.join(sorted(missing))}, which your own token does "
            f"not carry; only an administrator holding at least what the {target_type} holds "
            "may change it.",
            missing=missing,
            target_type=target_type,
            target_id=target_id,
            operation=operation,
        )
