"""SQL RegionStore (services.registry.regions.store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore
from services.registry.regions.models import Region, RegionDatabase


class SqlRegionStore(SqlStore):
    async def _region(self, row: Row[Any]) -> Region:
        m = row._mapping
        databases = (
            await self._c.execute(
                select(t.region_databases)
                .where(t.region_databases.c.region_id == m["id"])
                .order_by(t.region_databases.c.position)
            )
        ).all()
        return Region(
            id=m["id"],
            code=m["code"],
            name=m["name"],
            active=m["active"],
            databases=tuple(
                RegionDatabase(d._mapping["db_code"], d._mapping["active"]) for d in databases
            ),
            version=m["version"],
        )

    async def get(self, id_or_code: str) -> Region | None:
        row = (
            await self._c.execute(
                select(t.regions).where(
                    or_(t.regions.c.id == id_or_code, t.regions.c.code == id_or_code)
                )
            )
        ).first()
        return await self._region(row) if row else None

    async def search(self, page: PageRequest, active: bool | None) -> PageOf[Region]:
        statement = select(t.regions)
        if active is not None:
            statement = statement.where(t.regions.c.active == active)
        rows, total = await self.page(statement, page, [t.regions.c.code])
        return offset_page([await self._region(r) for r in rows], total, page)

    async def insert(self, region: Region, at: datetime) -> None:
        await self.execute(
            insert(t.regions).values(
                id=region.id,
                code=region.code,
                name=region.name,
                active=region.active,
                version=region.version,
                created_at=at,
                updated_at=at,
            )
        )
        for position, database in enumerate(region.databases):
            await self.execute(
                insert(t.region_databases).values(
                    region_id=region.id,
                    db_code=database.db_code,
                    position=position,
                    active=database.active,
                    created_at=at,
                )
            )

    async def update(self, region: Region, expected_version: int, at: datetime) -> bool:
        result = await self.execute(
            update(t.regions)
            .where(and_(t.regions.c.id == region.id, t.regions.c.version == expected_version))
            .values(name=region.name, active=region.active, version=region.version, updated_at=at)
        )
        return bool(result.rowcount == 1)

    async def add_database(self, region_id: str, database: RegionDatabase, at: datetime) -> None:
        last = (
            await self._c.execute(
                select(func.max(t.region_databases.c.position)).where(
                    t.region_databases.c.region_id == region_id
                )
            )
        ).scalar_one()
        await self.execute(
            insert(t.region_databases).values(
                region_id=region_id,
                db_code=database.db_code,
                position=0 if last is None else last + 1,
                active=database.active,
                created_at=at,
            )
        )
        await self._bump(region_id)

    async def set_database_active(self, region_id: str, db_code: str, active: bool) -> bool:
        result = await self.execute(
            update(t.region_databases)
            .where(
                and_(
                    t.region_databases.c.region_id == region_id,
                    t.region_databases.c.db_code == db_code,
                )
            )
            .values(active=active)
        )
        await self._bump(region_id)
        return bool(result.rowcount == 1)

    async def _bump(self, region_id: str) -> None:
        # A database change is a change of the region: ETags and If-Match see it.
        await self.execute(
            update(t.regions)
            .where(t.regions.c.id == region_id)
            .values(version=t.regions.c.version + 1)
        )

    async def delete(self, region_id: str) -> None:
        await self._c.execute(
            delete(t.region_databases).where(t.region_databases.c.region_id == region_id)
        )
        await self._c.execute(delete(t.regions).where(t.regions.c.id == region_id))
