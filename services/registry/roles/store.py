"""What the role use cases (and client links, escalation checks, seeding) need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.roles.models import Role, RoleRef


class RoleGrants(Protocol):
    async def grants(self, role_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(service, code) of every permission the roles carry."""
        ...


class RoleLookup(RoleGrants, Protocol):
    async def get(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Role | None: ...
    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, RoleRef]:
        """The tenant's roles among ``refs`` (ids or codes), keyed by the reference that found
        them; unknown references are absent."""
        ...

    async def coded(self, tenant_id: str, codes: Sequence[str]) -> dict[str, NamedRef]:
        """The tenant's roles among ``codes`` as clients reference them, keyed by code."""
        ...


class RoleStore(RoleLookup, Protocol):
    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Role]:
        """Ordered by code; ``app_id`` keeps the roles bound to that app."""
        ...

    async def insert(self, role: Role) -> None:
        """The role row (its permissions: :meth:`replace_permissions`). AlreadyExists
        (ROLE_CODE_TAKEN) when the code is taken."""
        ...

    async def update(self, role: Role) -> None:
        """Write name and description."""
        ...

    async def delete(self, role_id: str) -> None:
        """Remove the role with its permission grants."""
        ...

    async def blockers(self, role_id: str) -> list[str]:
        """``user:<email>``, then ``group:<code>`` and ``client:<client_id>`` still holding the
        role, each group sorted."""
        ...

    async def replace_permissions(self, role_id: str, permission_ids: Sequence[str]) -> None: ...
    async def upsert(
        self, tenant_id: str, app_id: str | None, code: str, name: str, at: datetime
    ) -> str:
        """The id of the tenant's role ``code``, created when missing (seeding system roles)."""
        ...

    async def grant(self, role_id: str, permission_ids: Sequence[str]) -> None:
        """Add the permissions the role does not carry yet (seeding)."""
        ...
