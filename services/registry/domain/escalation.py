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
:class:`EscalationDenied`; the use cases that can raise one are wrapped with
:func:`audits_denied_escalations`, which records each refused attempt in its own unit of work
(the attempt's own transaction rolls back).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import structlog

from services.common.auth import Principal
from services.common.errors import PermissionDenied
from services.registry.domain import audit
from services.registry.domain.catalog import CONTROL_PLANE_APP, SYSTEM_APP
from services.registry.domain.models import Tenant
from services.registry.domain.ports import AuditStore

ADMIN_SERVICES = frozenset({SYSTEM_APP, CONTROL_PLANE_APP})
DENIED_ACTION = "escalation.denied"

log = structlog.get_logger("tessera.registry.escalation")


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


class _AuditTx(AuditStore, Protocol):
    async def get_tenant(self, slug: str, *, for_update: bool = False) -> Tenant | None: ...


class _UseCases(Protocol):
    @property
    def _tx(self) -> Callable[[], AbstractAsyncContextManager[Any]]: ...
    @property
    def _now(self) -> Callable[[], datetime]: ...


S = TypeVar("S", bound=_UseCases)
P = ParamSpec("P")
R = TypeVar("R")


def audits_denied_escalations(
    use_case: Callable[Concatenate[S, Principal, str, P], Awaitable[R]],
) -> Callable[Concatenate[S, Principal, str, P], Awaitable[R]]:
    """Record every EscalationDenied a use case ``(self, principal, tenant_slug, ...)`` raises
    as an ``escalation.denied`` audit event, in a unit of work of its own; re-raise it."""

    async def audited(
        self: S, principal: Principal, tenant_slug: str, /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        try:
            return await use_case(self, principal, tenant_slug, *args, **kwargs)
        except EscalationDenied as denied:
            await _record(self, principal, tenant_slug, denied)
            raise

    functools.update_wrapper(audited, use_case)
    return audited


async def _record(
    use_cases: _UseCases, principal: Principal, tenant_slug: str, denied: EscalationDenied
) -> None:
    try:
        async with use_cases._tx() as tx:
            store: _AuditTx = tx
            await audit.record(
                store,
                principal,
                DENIED_ACTION,
                denied.target_type,
                denied.target_id,
                await store.get_tenant(tenant_slug),
                use_cases._now(),
                {
                    "operation": denied.operation,
                    "reason": denied.reason,
                    "missing": list(denied.missing),
                },
            )
    except Exception:
        # The refusal stands either way; a lost audit record is logged, never a 500.
        log.exception("escalation refusal not audited", operation=denied.operation)
