"""What the client use cases (and client authentication) need of storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.registry.clients.models import Client, ClientCredentials, ClientSecretRecord
from services.registry.kernel.models import NamedRef, PageOf, PageRequest


class ClientLookup(Protocol):
    async def get(self, client_id: str) -> Client | None: ...


class ClientAuthentication(ClientLookup, Protocol):
    """What authenticating a client and resolving its grant need (the token path)."""

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        """The client's tenant, state and secrets in ONE read, found or not: an unknown
        client must cost what a known one with a wrong secret costs (§7, no oracle)."""
        ...

    async def scopes(self, client_pk: str) -> list[NamedRef]:
        """The client's scopes, ordered by name."""
        ...

    async def mark_secret_used(self, secret_id: str, at: datetime) -> None: ...
    async def replace_secret_hash(self, secret_id: str, secret_hash: str) -> None:
        """Store a re-hash of the same secret (under the current pepper)."""
        ...


class ClientStore(ClientAuthentication, Protocol):
    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Client]:
        """Ordered by client_id; ``app_id`` keeps the clients serving that app."""
        ...

    async def insert(self, client: Client, at: datetime) -> None:
        """The client row only (its app links: :meth:`set_apps`). AlreadyExists
        (CLIENT_ID_TAKEN) when the client_id is taken."""
        ...

    async def update(self, client: Client, expected_version: int, at: datetime) -> bool:
        """Write name, description, enabled, grant types and version; False if the stored
        version is not ``expected_version``."""
        ...

    async def delete(self, client_pk: str) -> None:
        """Remove the client with its secrets, app links, scopes and role assignments."""
        ...

    async def set_apps(self, client_pk: str, app_ids: list[str]) -> None: ...
    async def set_scopes(self, client_pk: str, scope_ids: list[str]) -> None: ...
    async def set_roles(self, client_pk: str, role_ids: list[str]) -> None: ...
    async def add_role(self, client_pk: str, role_id: str) -> None:
        """Assign one role; nothing happens when it is assigned already."""
        ...

    async def roles(self, client_pk: str) -> list[NamedRef]:
        """The client's roles (name = code), ordered by code."""
        ...

    async def secrets(self, client_pk: str) -> list[ClientSecretRecord]:
        """Newest first."""
        ...

    async def insert_secret(self, client_pk: str, record: ClientSecretRecord) -> None: ...
    async def retire_secrets(
        self, client_pk: str, keep: str | None, keep_until: datetime | None
    ) -> None:
        """Delete every secret of the client but ``keep``, which then expires at
        ``keep_until`` at the latest (a grace period never lengthens)."""
        ...
