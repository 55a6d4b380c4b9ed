"""In-memory AppStore and AppUsage (services.registry.apps.store)."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import AlreadyExists
from services.registry.apps.models import App, AppRef
from services.registry.apps.rows import app_columns, app_from_row, insert_columns
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page

_ORDER_COLUMNS = ("slug", "display_name", "created_at", "updated_at")


class MemoryAppStore(MemoryStore):
    # -- reading ---------------------------------------------------------------------------

    def _client_ids(self, app_id: str) -> tuple[str, ...]:
        clients = self._table("clients")
        linked = [
            clients[link["client_pk"]]
            for link in self._table("client_apps").values()
            if link["app_id"] == app_id and link["client_pk"] in clients
        ]
        linked.sort(key=lambda c: (c["created_at"], c["client_id"]))
        return tuple(c["client_id"] for c in linked)

    def _app(self, row: Row, *, with_client_ids: bool = True) -> App | None:
        """The app as the SQL join returns it: None when its tenant row is missing."""
        tenant = self._table("tenants").get(row["tenant_id"])
        if tenant is None:
            return None
        region = self._table("regions").get(row["region_id"]) if row["region_id"] else None
        return app_from_row(
            row,
            tenant_slug=tenant["slug"],
            region_code=region["code"] if region else None,
            client_ids=self._client_ids(row["id"]) if with_client_ids else (),
        )

    def _tenant_rows(self, tenant_id: str) -> list[Row]:
        return [r for r in self._table("apps").values() if r["tenant_id"] == tenant_id]

    async def get(self, tenant_id: str, id_or_slug: str) -> App | None:
        for row in self._tenant_rows(tenant_id):
            if id_or_slug in (row["id"], row["slug"]):
                return self._app(row)
        return None

    async def get_by_id(self, app_id: str, *, with_client_ids: bool = True) -> App | None:
        row = self._table("apps").get(app_id)
        return self._app(row, with_client_ids=with_client_ids) if row else None

    async def find(self, tenant_id: str, refs: Sequence[str]) -> dict[str, AppRef]:
        wanted = set(refs)
        found: dict[str, AppRef] = {}
        for row in self._tenant_rows(tenant_id):
            if row["id"] in wanted or row["slug"] in wanted:
                ref = AppRef(row["id"], row["slug"])
                found[row["id"]] = ref
                found[row["slug"]] = ref
        return {ref: found[ref] for ref in refs if ref in found}

    async def search(
        self,
        tenant_id: str,
        page: PageRequest,
        enabled: bool | None,
        query: str,
        order_by: str,
    ) -> PageOf[App]:
        rows = self._tenant_rows(tenant_id)
        if enabled is not None:
            rows = [r for r in rows if r["enabled"] == enabled]
        if query:
            needle = query.lower()
            rows = [
                r for r in rows if needle in r["slug"].lower() or needle in r["display_name_key"]
            ]
        descending = order_by.startswith("-")
        column = order_by.lstrip("-") or "slug"
        if column not in _ORDER_COLUMNS:
            raise ValueError(f"cannot order apps by {order_by!r}")
        # Ties are broken by id, ascending whatever the direction (as the SQL store does).
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r[column], reverse=descending)
        apps = [self._app(r) for r in rows]
        return slice_page([a for a in apps if a is not None], page)

    async def count(self, tenant_id: str) -> int:
        return sum(1 for r in self._tenant_rows(tenant_id) if not r["is_system"])

    async def name_taken(self, tenant_id: str, key: str, exclude_app_id: str | None) -> bool:
        return any(
            r["display_name_key"] == key and not (exclude_app_id and r["id"] == exclude_app_id)
            for r in self._tenant_rows(tenant_id)
        )

    # -- writing ---------------------------------------------------------------------------

    def _check_unique(self, tenant_id: str, app_id: str, slug: str | None, key: str) -> None:
        for row in self._tenant_rows(tenant_id):
            if row["id"] == app_id:
                continue
            if slug is not None and row["slug"] == slug:
                raise unique_violation("apps", "tenant_id", "slug")
            if row["display_name_key"] == key:
                raise unique_violation("apps", "tenant_id", "display_name_key")

    async def insert(self, app: App) -> None:
        values = insert_columns(app)
        self._check_unique(app.tenant_id, app.id, app.slug, values["display_name_key"])
        table = self._table("apps")
        if app.id in table:
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
        table[app.id] = values

    async def update(self, app: App, expected_version: int) -> bool:
        row = self._table("apps").get(app.id)
        if row is None or row["version"] != expected_version:
            return False
        values = app_columns(app)
        self._check_unique(row["tenant_id"], row["id"], None, values["display_name_key"])
        row.update(values)
        return True

    async def delete(self, app_id: str) -> None:
        """Memberships and group bindings go with the app; what could block the deletion was
        checked (``blockers``) first."""
        for name in ("memberships", "group_apps"):
            table = self._table(name)
            for key in [k for k, r in table.items() if r["app_id"] == app_id]:
                del table[key]
        self._table("apps").pop(app_id, None)

    async def blockers(self, app_id: str) -> list[str]:
        clients = self._table("clients")
        client_ids = sorted(
            clients[link["client_pk"]]["client_id"]
            for link in self._table("client_apps").values()
            if link["app_id"] == app_id and link["client_pk"] in clients
        )
        roles = sorted(r["code"] for r in self._table("roles").values() if r["app_id"] == app_id)
        scopes = sorted(s["name"] for s in self._table("scopes").values() if s["app_id"] == app_id)
        audiences = sorted(
            s["audience"] for s in self._table("resource_servers").values() if s["app_id"] == app_id
        )
        return [
            *(f"client:{c}" for c in client_ids),
            *(f"role:{c}" for c in roles),
            *(f"scope:{n}" for n in scopes),
            *(f"resource_server:{a}" for a in audiences),
        ]

    # -- usage (AppUsage) ------------------------------------------------------------------

    async def using(self, *, region_id: str | None = None, plan_id: str | None = None) -> list[str]:
        tenants = self._table("tenants")
        found = sorted(
            (tenants[r["tenant_id"]]["slug"], r["slug"])
            for r in self._table("apps").values()
            if r["tenant_id"] in tenants
            and (r["region_id"] == region_id if region_id else r["plan_id"] == plan_id)
        )
        return [f"app:{tenant}/{slug}" for tenant, slug in found]
