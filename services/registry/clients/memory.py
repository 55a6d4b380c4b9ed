"""In-memory ClientStore (services.registry.clients.store): tables ``clients``,
``client_apps``, ``client_secrets``, ``client_scopes`` and ``client_roles``."""

from __future__ import annotations

from datetime import datetime

from services.registry.clients.models import Client, ClientCredentials, ClientSecretRecord
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import slice_page


def _secret(row: Row) -> ClientSecretRecord:
    return ClientSecretRecord(
        id=row["id"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


class MemoryClientStore(MemoryStore):
    def _row(self, client_id: str) -> Row | None:
        return next(
            (row for row in self._table("clients").values() if row["client_id"] == client_id),
            None,
        )

    def _client(self, row: Row) -> Client:
        app_ids = tuple(
            app_id for client_pk, app_id in self._table("client_apps") if client_pk == row["id"]
        )
        return Client(
            id=row["id"],
            tenant_id=row["tenant_id"],
            client_id=row["client_id"],
            display_name=row["display_name"],
            confidential=row["confidential"],
            enabled=row["enabled"],
            grant_types=tuple(row["grant_types"]),
            app_ids=app_ids,
            version=row["version"],
            description=row["description"],
        )

    def _secret_rows(self, client_pk: str) -> list[Row]:
        rows = [
            row for row in self._table("client_secrets").values() if row["client_pk"] == client_pk
        ]
        return sorted(rows, key=lambda row: row["created_at"], reverse=True)

    async def get(self, client_id: str) -> Client | None:
        row = self._row(client_id)
        return None if row is None else self._client(row)

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        row = self._row(client_id)
        if row is None:
            return None
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:
            return None
        return ClientCredentials(
            client_pk=row["id"],
            tenant_slug=tenant["slug"],
            enabled=row["enabled"],
            confidential=row["confidential"],
            secrets=tuple(_secret(s) for s in self._secret_rows(row["id"])),
        )

    async def search(self, tenant_id: str, page: PageRequest, app_id: str | None) -> PageOf[Client]:
        rows = [row for row in self._table("clients").values() if row["tenant_id"] == tenant_id]
        if app_id is not None:
            links = self._table("client_apps")
            rows = [row for row in rows if (row["id"], app_id) in links]
        rows.sort(key=lambda row: row["client_id"])
        return slice_page([self._client(row) for row in rows], page)

    async def insert(self, client: Client, at: datetime) -> None:
        if self._row(client.client_id) is not None:
            raise unique_violation("clients", "client_id")
        self._table("clients")[client.id] = {
            "id": client.id,
            "tenant_id": client.tenant_id,
            "client_id": client.client_id,
            "display_name": client.display_name,
            "confidential": client.confidential,
            "enabled": client.enabled,
            "grant_types": list(client.grant_types),
            "description": client.description,
            "version": client.version,
            "created_at": at,
            "updated_at": at,
        }

    async def update(self, client: Client, expected_version: int, at: datetime) -> bool:
        row = self._table("clients").get(client.id)
        if row is None or row["version"] != expected_version:
            return False
        row.update(
            display_name=client.display_name,
            description=client.description,
            enabled=client.enabled,
            grant_types=list(client.grant_types),
            version=client.version,
            updated_at=at,
        )
        return True

    async def delete(self, client_pk: str) -> None:
        secrets = self._table("client_secrets")
        for secret_id in [k for k, row in secrets.items() if row["client_pk"] == client_pk]:
            del secrets[secret_id]
        for name in ("client_apps", "client_roles", "client_scopes"):
            links = self._table(name)
            for key in [k for k in links if k[0] == client_pk]:
                del links[key]
        self._table("clients").pop(client_pk, None)

    def _replace_links(self, table: str, column: str, client_pk: str, ids: list[str]) -> None:
        links = self._table(table)
        for key in [k for k in links if k[0] == client_pk]:
            del links[key]
        for value in dict.fromkeys(ids):
            links[(client_pk, value)] = {"client_pk": client_pk, column: value}

    async def set_apps(self, client_pk: str, app_ids: list[str]) -> None:
        self._replace_links("client_apps", "app_id", client_pk, app_ids)

    async def set_scopes(self, client_pk: str, scope_ids: list[str]) -> None:
        self._replace_links("client_scopes", "scope_id", client_pk, scope_ids)

    async def set_roles(self, client_pk: str, role_ids: list[str]) -> None:
        self._replace_links("client_roles", "role_id", client_pk, role_ids)

    async def add_role(self, client_pk: str, role_id: str) -> None:
        self._table("client_roles").setdefault(
            (client_pk, role_id), {"client_pk": client_pk, "role_id": role_id}
        )

    async def scopes(self, client_pk: str) -> list[NamedRef]:
        scopes = self._table("scopes")
        refs = [
            NamedRef(scope["id"], scope["name"], scope["app_id"])
            for pk, scope_id in self._table("client_scopes")
            if pk == client_pk and (scope := scopes.get(scope_id)) is not None
        ]
        return sorted(refs, key=lambda ref: ref.name)

    async def roles(self, client_pk: str) -> list[NamedRef]:
        roles = self._table("roles")
        refs = [
            NamedRef(role["id"], role["code"], role["app_id"])
            for pk, role_id in self._table("client_roles")
            if pk == client_pk and (role := roles.get(role_id)) is not None
        ]
        return sorted(refs, key=lambda ref: ref.name)

    async def secrets(self, client_pk: str) -> list[ClientSecretRecord]:
        return [_secret(row) for row in self._secret_rows(client_pk)]

    async def insert_secret(self, client_pk: str, record: ClientSecretRecord) -> None:
        self._table("client_secrets")[record.id] = {
            "id": record.id,
            "client_pk": client_pk,
            "secret_hash": record.secret_hash,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "last_used_at": None,
        }

    async def retire_secrets(
        self, client_pk: str, keep: str | None, keep_until: datetime | None
    ) -> None:
        secrets = self._table("client_secrets")
        for secret_id in [
            k for k, row in secrets.items() if row["client_pk"] == client_pk and k != keep
        ]:
            del secrets[secret_id]
        if keep is None or keep_until is None:
            return
        kept = secrets.get(keep)
        if kept is not None and (kept["expires_at"] is None or kept["expires_at"] > keep_until):
            kept["expires_at"] = keep_until

    async def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        row = self._table("client_secrets").get(secret_id)
        if row is not None:
            row["last_used_at"] = at

    async def replace_secret_hash(self, secret_id: str, secret_hash: str) -> None:
        row = self._table("client_secrets").get(secret_id)
        if row is not None:
            row["secret_hash"] = secret_hash
