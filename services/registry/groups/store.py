"""What the group use cases need of storage."""

from __future__ import annotations

from typing import Protocol

from services.registry.groups.models import Group
from services.registry.kernel.models import PageOf, PageRequest


class GroupStore(Protocol):
    async def get(
        self, tenant_id: str, id_or_code: str, *, for_update: bool = False
    ) -> Group | None: ...
    async def search(self, tenant_id: str, page: PageRequest, query: str) -> PageOf[Group]:
        """Ordered by code; ``query`` matches a substring of code or name (case-insensitive)."""
        ...

    async def insert(self, group: Group) -> None:
        """With its app binding and roles. AlreadyExists(GROUP_CODE_TAKEN) when the code is
        taken."""
        ...

    async def update(self, group: Group) -> None:
        """Write name, binding (all apps / app list) and roles."""
        ...

    async def delete(self, group_id: str) -> None:
        """Remove the group with its members, app bindings and roles."""
        ...

    async def add_member(self, group_id: str, user_id: str) -> bool:
        """False when the user is a member already."""
        ...

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        """False when the user was not a member."""
        ...
