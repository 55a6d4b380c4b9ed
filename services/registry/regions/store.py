"""What the region use cases need of storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.registry.kernel.models import PageOf, PageRequest
from services.registry.regions.models import Region, RegionDatabase


class RegionStore(Protocol):
    async def get(self, id_or_code: str) -> Region | None: ...
    async def search(self, page: PageRequest, active: bool | None) -> PageOf[Region]:
        """Ordered by code."""
        ...

    async def insert(self, region: Region, at: datetime) -> None:
        """AlreadyExists(REGION_CODE_TAKEN) when the code is taken."""
        ...

    async def update(self, region: Region, expected_version: int, at: datetime) -> bool:
        """Write name and active flag; False if the stored version is not ``expected_version``."""
        ...

    async def add_database(self, region_id: str, database: RegionDatabase, at: datetime) -> None:
        """Append to the listing order. AlreadyExists(DB_CODE_TAKEN) when it exists."""
        ...

    async def set_database_active(self, region_id: str, db_code: str, active: bool) -> bool:
        """False when the region has no such database."""
        ...

    async def delete(self, region_id: str) -> None:
        """Remove the region with its databases."""
        ...
