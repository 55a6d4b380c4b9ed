"""What the scope use cases (and client links) need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.scopes.models import Scope


class ScopeLookup(Protocol):
    async def named(self, tenant_id: str, names: Sequence[str]) -> dict[str, NamedRef]:
        """The tenant's scopes among ``names``, keyed by name; unknown names are absent."""
        ...


class ScopeStore(ScopeLookup, Protocol):
    async def get(self, tenant_id: str, name: str) -> Scope | None: ...
    async def insert(self, scope: Scope) -> None:
        """AlreadyExists(SCOPE_TAKEN) when the name is taken (also under a race)."""
        ...

    async def search(self, tenant_id: str, app_id: str | None, page: PageRequest) -> PageOf[Scope]:
        """Ordered by name; ``app_id`` keeps the scopes bound to that app."""
        ...

    async def holders(self, scope_id: str) -> list[str]:
        """client_ids of the clients that hold the scope, sorted."""
        ...

    async def delete(self, scope_id: str) -> None: ...
