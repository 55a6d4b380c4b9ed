"""Finding the role a request names (by id or code)."""

from __future__ import annotations

from services.common.errors import NotFound
from services.registry.kernel.models import Tenant
from services.registry.roles.models import Role
from services.registry.roles.store import RoleLookup


async def role_of(roles: RoleLookup, tenant: Tenant, ref: str, *, for_update: bool = False) -> Role:
    found = await roles.get(tenant.id, ref.strip(), for_update=for_update)
    if found is None:
        raise NotFound(
            "ROLE_NOT_FOUND",
            f"Tenant {tenant.slug!r} has no role {ref!r} (give the role's id or code).",
        )
    return found


def role_grants(role: Role) -> list[tuple[str, str]]:
    """(service, code) of what the role carries."""
    return [(p.service, p.code) for p in role.permissions]
