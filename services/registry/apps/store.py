"""What the app use cases (and the features that point at apps) need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.registry.apps.models import App, AppRef
from services.registry.kernel.models import PageOf, PageRequest


class AppLookup(Protocol):
    """Finding apps of a tenant: what other features need."""

    async def get(self, tenant_id: str, id_or_slug: str) -> App | None: ...
    async def get_by_id(self, app_id: str, *, with_client_ids: bool = True) -> App | None:
        """``with_client_ids=False`` skips reading the app's clients (``client_ids`` is then
        empty): the token path and client views do not need them."""
        ...

    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, AppRef]:
        """The tenant's apps among ``refs`` (ids or slugs), keyed by the reference that found
        them; unknown references are absent."""
        ...


class AppStore(AppLookup, Protocol):
    async def search(
        self,
        tenant_id: str,
        page: PageRequest,
        enabled: bool | None,
        query: str,
        order_by: str,
    ) -> PageOf[App]:
        """``query`` matches a substring of slug or display name (case-insensitive);
        ``order_by`` is slug, display_name, created_at or updated_at, - for descending."""
        ...

    async def count(self, tenant_id: str) -> int:
        """Non-system apps of the tenant (the app limit counts these)."""
        ...

    async def name_taken(self, tenant_id: str, key: str, exclude_app_id: str | None) -> bool:
        """Whether another app of the tenant has the display-name key ``key``."""
        ...

    async def insert(self, app: App) -> None:
        """AlreadyExists(APP_SLUG_TAKEN / APP_NAME_TAKEN) on a uniqueness race."""
        ...

    async def update(self, app: App, expected_version: int) -> bool:
        """Write every mutable field; False if the stored version is not ``expected_version``."""
        ...

    async def delete(self, app_id: str) -> None: ...
    async def blockers(self, app_id: str) -> list[str]:
        """What keeps the app from being deleted: ``client:<client_id>``, then ``role:<code>``,
        ``scope:<name>`` and ``resource_server:<audience>``, each group sorted."""
        ...


class AppUsage(Protocol):
    async def using(self, *, region_id: str | None = None, plan_id: str | None = None) -> list[str]:
        """``app:<tenant>/<slug>`` of every app (any tenant) on the region or plan, sorted."""
        ...
