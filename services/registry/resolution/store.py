"""The reads behind the token service's resolution calls. Each is a constant number of
indexed queries, so the cost does not grow with the size of the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.registry.resolution.models import ClientFacts, UserRecord


class ResolutionStore(Protocol):
    async def user(self, tenant_id: str, user_id: str) -> UserRecord | None: ...
    async def membership_status(self, user_id: str, app_id: str) -> str | None: ...
    async def client_facts(self, tenant_id: str, client_id: str) -> ClientFacts | None:
        """The client ``client_id`` of tenant ``tenant_id`` with everything its tokens are
        decided from; None when the tenant has no such client (another tenant's client is
        none of its business). A constant number of indexed queries, however many apps,
        roles or permissions the client has."""
        ...

    async def user_roles_and_permissions(
        self, tenant_id: str, user_id: str, app_id: str, service_codes: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Roles given directly or through groups bound to the app (or to every app), limited
        to tenant-wide roles and roles of this app; permissions of those roles within the
        app's service codes, plus the core catalog (all sorted, without duplicates)."""
        ...

    async def app_audiences(self, app_id: str) -> list[str]:
        """Audiences of the app's resource servers, sorted."""
        ...

    async def enabled_app_domains(self, tenant_id: str) -> set[str]:
        """The allowed domains of the tenant's enabled apps (CORS)."""
        ...
