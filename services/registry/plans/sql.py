"""SQL PlanStore (services.registry.plans.store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row

from services.common.vocabulary import PlanStatus
from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore
from services.registry.plans.models import Plan


def _plan(row: Row[Any]) -> Plan:
    m = row._mapping
    return Plan(
        id=m["id"],
        code=m["code"],
        name=m["name"],
        status=PlanStatus(m["status"]),
        limits={k: int(v) for k, v in dict(m["limits"]).items()},
        version=m["version"],
    )


class SqlPlanStore(SqlStore):
    async def get(self, id_or_code: str) -> Plan | None:
        row = (
            await self._c.execute(
                select(t.plans).where(or_(t.plans.c.id == id_or_code, t.plans.c.code == id_or_code))
            )
        ).first()
        return _plan(row) if row else None

    async def search(self, page: PageRequest, status: str | None) -> PageOf[Plan]:
        statement = select(t.plans)
        if status:
            statement = statement.where(t.plans.c.status == status)
        rows, total = await self.page(statement, page, [t.plans.c.code])
        return offset_page([_plan(r) for r in rows], total, page)

    async def insert(self, plan: Plan, at: datetime) -> None:
        await self.execute(
            insert(t.plans).values(
                id=plan.id,
                code=plan.code,
                name=plan.name,
                status=plan.status.value,
                limits=plan.limits,
                version=plan.version,
                created_at=at,
                updated_at=at,
            )
        )

    async def update(self, plan: Plan, expected_version: int, at: datetime) -> bool:
        result = await self.execute(
            update(t.plans)
            .where(and_(t.plans.c.id == plan.id, t.plans.c.version == expected_version))
            .values(
                name=plan.name,
                status=plan.status.value,
                limits=plan.limits,
                version=plan.version,
                updated_at=at,
            )
        )
        return bool(result.rowcount == 1)

    async def delete(self, plan_id: str) -> None:
        await self._c.execute(delete(t.plans).where(t.plans.c.id == plan_id))
