"""What the resource-server use cases need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.registry.kernel.models import PageOf, PageRequest
from services.registry.resource_servers.models import ResourceServer


class ResourceServerStore(Protocol):
    async def get(self, tenant_id: str, ref: str) -> ResourceServer | None:
        """By id or audience."""
        ...

    async def insert(self, server: ResourceServer, permission_ids: Sequence[str]) -> None:
        """With its subset (none = the whole catalog). AlreadyExists(AUDIENCE_TAKEN) when the
        audience is taken (also under a race)."""
        ...

    async def update(self, server_id: str, name: str, permission_ids: Sequence[str] | None) -> None:
        """Rename; ``permission_ids`` None keeps the subset, [] makes it the whole catalog."""
        ...

    async def delete(self, server_id: str) -> None: ...
    async def search(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[ResourceServer]:
        """Ordered by audience; ``app_id`` keeps one app's servers."""
        ...
