"""In-memory RegionStore (services.registry.regions.store)."""

from __future__ import annotations

from datetime import datetime

from services.common.errors import AlreadyExists
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.regions.models import Region, RegionDatabase


class MemoryRegionStore(MemoryStore):
    def _databases(self, region_id: str) -> list[Row]:
        rows = [r for r in self._table("region_databases").values() if r["region_id"] == region_id]
        return sorted(rows, key=lambda r: r["position"])

    def _region(self, row: Row) -> Region:
        return Region(
            id=row["id"],
            code=row["code"],
            name=row["name"],
            active=row["active"],
            databases=tuple(
                RegionDatabase(d["db_code"], d["active"]) for d in self._databases(row["id"])
            ),
            version=row["version"],
        )

    def _insert_database(
        self, region_id: str, database: RegionDatabase, position: int, at: datetime
    ) -> None:
        table = self._table("region_databases")
        key = (region_id, database.db_code)
        if key in table:
            raise unique_violation("region_databases", "region_id", "db_code")
        table[key] = {
            "region_id": region_id,
            "db_code": database.db_code,
            "position": position,
            "active": database.active,
            "created_at": at,
        }

    def _bump_version(self, region_id: str) -> None:
        row = self._table("regions").get(region_id)
        if row is not None:
            row["version"] += 1

    async def get(self, id_or_code: str) -> Region | None:
        regions = self._table("regions")
        row = regions.get(id_or_code) or next(
            (r for r in regions.values() if r["code"] == id_or_code), None
        )
        return self._region(row) if row else None

    async def search(self, page: PageRequest, active: bool | None) -> PageOf[Region]:
        rows = [
            r for r in self._table("regions").values() if active is None or r["active"] == active
        ]
        rows.sort(key=lambda r: r["code"])
        return slice_page([self._region(r) for r in rows], page)

    async def insert(self, region: Region, at: datetime) -> None:
        table = self._table("regions")
        if any(r["code"] == region.code for r in table.values()):
            raise unique_violation("regions", "code")
        if region.id in table:
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
        table[region.id] = {
            "id": region.id,
            "code": region.code,
            "name": region.name,
            "active": region.active,
            "version": region.version,
            "created_at": at,
            "updated_at": at,
        }
        for position, database in enumerate(region.databases):
            self._insert_database(region.id, database, position, at)

    async def update(self, region: Region, expected_version: int, at: datetime) -> bool:
        row = self._table("regions").get(region.id)
        if row is None or row["version"] != expected_version:
            return False
        row.update(name=region.name, active=region.active, version=region.version, updated_at=at)
        return True

    async def add_database(self, region_id: str, database: RegionDatabase, at: datetime) -> None:
        positions = [d["position"] for d in self._databases(region_id)]
        self._insert_database(region_id, database, max(positions) + 1 if positions else 0, at)
        self._bump_version(region_id)

    async def set_database_active(self, region_id: str, db_code: str, active: bool) -> bool:
        row = self._table("region_databases").get((region_id, db_code))
        if row is not None:
            row["active"] = active
        self._bump_version(region_id)
        return row is not None

    async def delete(self, region_id: str) -> None:
        databases = self._table("region_databases")
        for key in [k for k, d in databases.items() if d["region_id"] == region_id]:
            del databases[key]
        self._table("regions").pop(region_id, None)
