"""In-memory ScopeStore (services.registry.scopes.store): table ``scopes`` (and the
``client_scopes`` links a deleted scope takes with it)."""

from __future__ import annotations

from collections.abc import Sequence

from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import NamedRef, PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.scopes.models import Scope


class MemoryScopeStore(MemoryStore):
    def _scope(self, row: Row) -> Scope | None:
        """The row joined to its tenant (inner) and app (outer), as the SQL store reads it."""
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:
            return None
        app = None if row["app_id"] is None else self._table("apps").get(row["app_id"])
        return Scope(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"],
            name=row["name"],
            description=row["description"],
            app_id=row["app_id"],
            app_slug=None if app is None else app["slug"],
            created_at=row["created_at"],
        )

    async def named(self, tenant_id: str, names: Sequence[str]) -> dict[str, NamedRef]:
        wanted = set(names)
        return {
            row["name"]: NamedRef(row["id"], row["name"], row["app_id"])
            for row in self._table("scopes").values()
            if row["tenant_id"] == tenant_id and row["name"] in wanted
        }

    async def get(self, tenant_id: str, name: str) -> Scope | None:
        for row in self._table("scopes").values():
            if row["tenant_id"] == tenant_id and row["name"] == name:
                return self._scope(row)
        return None

    async def insert(self, scope: Scope) -> None:
        scopes = self._table("scopes")
        if any(
            row["tenant_id"] == scope.tenant_id and row["name"] == scope.name
            for row in scopes.values()
        ):
            raise unique_violation("scopes", "tenant_id", "name")
        scopes[scope.id] = {
            "id": scope.id,
            "tenant_id": scope.tenant_id,
            "app_id": scope.app_id,
            "name": scope.name,
            "description": scope.description,
            "created_at": scope.created_at,
        }

    async def search(self, tenant_id: str, app_id: str | None, page: PageRequest) -> PageOf[Scope]:
        rows = sorted(
            (
                row
                for row in self._table("scopes").values()
                if row["tenant_id"] == tenant_id and (app_id is None or row["app_id"] == app_id)
            ),
            key=lambda row: row["name"],
        )
        scopes = [scope for scope in map(self._scope, rows) if scope is not None]
        return slice_page(scopes, page)

    async def holders(self, scope_id: str) -> list[str]:
        clients = self._table("clients")
        return sorted(
            client["client_id"]
            for client_pk, held in self._table("client_scopes")
            if held == scope_id and (client := clients.get(client_pk)) is not None
        )

    async def delete(self, scope_id: str) -> None:
        links = self._table("client_scopes")
        for key in [k for k in links if k[1] == scope_id]:
            del links[key]
        self._table("scopes").pop(scope_id, None)
