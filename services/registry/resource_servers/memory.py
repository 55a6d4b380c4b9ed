"""In-memory ResourceServerStore (services.registry.resource_servers.store): tables
``resource_servers`` and ``resource_server_permissions`` (the subset a server gates on)."""

from __future__ import annotations

from collections.abc import Sequence

from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.resource_servers.models import ResourceServer


class MemoryResourceServerStore(MemoryStore):
    def _server(self, row: Row) -> ResourceServer | None:
        """The row joined to its tenant and app (both inner, as the SQL store reads it), with
        the distinct codes of its subset, sorted."""
        tenant = self._table("tenants").get(row["tenant_id"])
        app = self._table("apps").get(row["app_id"])
        if tenant is None or app is None:
            return None
        permissions = self._table("permissions")
        codes = {
            entry["code"]
            for server_id, permission_id in self._table("resource_server_permissions")
            if server_id == row["id"] and (entry := permissions.get(permission_id)) is not None
        }
        return ResourceServer(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"],
            app_id=row["app_id"],
            app_slug=app["slug"],
            audience=row["audience"],
            name=row["name"],
            created_at=row["created_at"],
            permissions=tuple(sorted(codes)),
            whole_catalog=row["whole_catalog"],
        )

    def _set_subset(self, server_id: str, permission_ids: Sequence[str]) -> None:
        """An admin's explicit choice: an empty subset means the whole catalog."""
        subset = self._table("resource_server_permissions")
        for key in [k for k in subset if k[0] == server_id]:
            del subset[key]
        row = self._table("resource_servers").get(server_id)
        if row is not None:
            row["whole_catalog"] = not permission_ids
        for permission_id in permission_ids:
            subset[(server_id, permission_id)] = {
                "resource_server_id": server_id,
                "permission_id": permission_id,
            }

    async def get(self, tenant_id: str, ref: str) -> ResourceServer | None:
        rows = [
            row
            for row in self._table("resource_servers").values()
            if row["tenant_id"] == tenant_id and ref in (row["id"], row["audience"])
        ]
        # An id wins over an audience that happens to look like one.
        rows.sort(key=lambda row: row["id"] != ref)
        for row in rows:
            server = self._server(row)
            if server is not None:
                return server
        return None

    async def insert(self, server: ResourceServer, permission_ids: Sequence[str]) -> None:
        servers = self._table("resource_servers")
        if any(
            row["tenant_id"] == server.tenant_id and row["audience"] == server.audience
            for row in servers.values()
        ):
            raise unique_violation("resource_servers", "tenant_id", "audience")
        servers[server.id] = {
            "id": server.id,
            "tenant_id": server.tenant_id,
            "app_id": server.app_id,
            "audience": server.audience,
            "name": server.name,
            "whole_catalog": not permission_ids,
            "created_at": server.created_at,
        }
        self._set_subset(server.id, list(permission_ids))

    async def update(self, server_id: str, name: str, permission_ids: Sequence[str] | None) -> None:
        row = self._table("resource_servers").get(server_id)
        if row is not None:
            row["name"] = name
        if permission_ids is not None:
            self._set_subset(server_id, list(permission_ids))

    async def delete(self, server_id: str) -> None:
        self._set_subset(server_id, ())
        self._table("resource_servers").pop(server_id, None)

    async def search(
        self, tenant_id: str, app_id: str | None, page: PageRequest
    ) -> PageOf[ResourceServer]:
        rows = sorted(
            (
                row
                for row in self._table("resource_servers").values()
                if row["tenant_id"] == tenant_id and (app_id is None or row["app_id"] == app_id)
            ),
            key=lambda row: row["audience"],
        )
        servers = [server for server in map(self._server, rows) if server is not None]
        return slice_page(servers, page)
