"""Who may call an operation: one vocabulary for the gateway's gate and the registry's use cases.

An :class:`Access` names what a caller's token must carry; :func:`admit` applies it with the
same reasons and wording everywhere (TENANT_FORBIDDEN, PERMISSION_MISSING, OPERATOR_ONLY,
SERVICE_ONLY). The registry's use cases declare their Access and are the authority; the
gateway applies a coarse copy before it reads a request body (services.gateway.access).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.auth import Principal, require_operator


@dataclass(frozen=True)
class Access:
    """What a caller's token must carry for one operation.

    ``all_of``: every one of these; ``any_of``: at least one (when given); ``operator``: the
    caller must belong to the control plane (platform-wide resources); ``operator_instead``:
    an operator holding this permission may act where the rule above does not let it — on
    another tenant, or on platform resources a tenant may read; ``service``: only that
    platform service (its own service token).
    """

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    operator: bool = False
    operator_instead: str = ""
    service: str = ""

    def describe(self) -> str:
        if self.service:
            return f"Internal: the {self.service} service only."
        parts = []
        if self.operator:
            parts.append("a platform operator (control-plane tenant)")
        if self.all_of:
            parts.append(" and ".join(f"`{p}`" for p in self.all_of))
        if self.any_of:
            parts.append("one of " + ", ".join(f"`{p}`" for p in self.any_of))
        text = "Requires " + " with ".join(parts) + "."
        if self.operator_instead:
            text += f" Otherwise: an operator with `{self.operator_instead}`."
        return text


def needs(*permissions: str) -> Access:
    """Every one of ``permissions``, on the caller's own tenant (operators: any tenant)."""
    return Access(all_of=permissions)


def any_of(*permissions: str, operator_instead: str = "") -> Access:
    return Access(any_of=permissions, operator_instead=operator_instead)


def operator(permission: str) -> Access:
    """A control-plane caller holding ``permission`` (platform-wide resources)."""
    return Access(all_of=(permission,), operator=True)


def service(name: str) -> Access:
    return Access(service=name)


def admit(principal: Principal, access: Access, tenant: str | None) -> None:
    """Raise PermissionDenied unless ``principal`` passes ``access`` on ``tenant`` (the
    operation's tenant slug, None for platform-wide operations)."""
    if access.service:
        principal.require_service(access.service)
        return
    if access.operator:
        require_operator(principal, access.all_of[0])
        return
    if access.operator_instead:
        if tenant is not None and tenant != principal.tenant:
            require_operator(principal, access.operator_instead)
            return
        if tenant is None and not _holds(principal, access):
            require_operator(principal, access.operator_instead)
            return
    if tenant is not None:
        principal.require_tenant(tenant)
    for permission in access.all_of:
        principal.require(permission, tenant)
    if access.any_of and not any(p in principal.permissions for p in access.any_of):
        principal.require(access.any_of[-1], tenant)


def _holds(principal: Principal, access: Access) -> bool:
    return all(p in principal.permissions for p in access.all_of) and (
        not access.any_of or any(p in principal.permissions for p in access.any_of)
    )
