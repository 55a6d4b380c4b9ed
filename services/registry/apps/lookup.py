"""Finding the app a request names: every feature that points at apps reports a missing one
the same way (APP_NOT_FOUND)."""

from __future__ import annotations

from services.common.errors import NotFound
from services.registry.apps.models import App
from services.registry.apps.store import AppLookup
from services.registry.kernel.models import Tenant


def app_not_found(tenant: Tenant, ref: str) -> NotFound:
    return NotFound("APP_NOT_FOUND", f"Tenant {tenant.slug!r} has no app {ref!r}.")


async def app_of(apps: AppLookup, tenant: Tenant, ref: str) -> App:
    """The tenant's app ``ref`` (id or slug, surrounding spaces ignored)."""
    found = await apps.get(tenant.id, ref.strip())
    if found is None:
        raise app_not_found(tenant, ref)
    return found
