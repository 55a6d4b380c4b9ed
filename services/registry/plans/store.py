"""What the plan use cases need of storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.registry.kernel.models import PageOf, PageRequest
from services.registry.plans.models import Plan


class PlanLookup(Protocol):
    async def get(self, id_or_code: str) -> Plan | None: ...


class PlanStore(PlanLookup, Protocol):
    async def search(self, page: PageRequest, status: str | None) -> PageOf[Plan]:
        """Ordered by code; ``status`` filters when given."""
        ...

    async def insert(self, plan: Plan, at: datetime) -> None:
        """AlreadyExists(PLAN_CODE_TAKEN) when the code is taken."""
        ...

    async def update(self, plan: Plan, expected_version: int, at: datetime) -> bool:
        """Write name, status and limits; False if the stored version is not
        ``expected_version``."""
        ...

    async def delete(self, plan_id: str) -> None: ...
