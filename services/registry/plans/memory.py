"""In-memory PlanStore (services.registry.plans.store)."""

from __future__ import annotations

from datetime import datetime

from services.common.errors import AlreadyExists
from services.common.vocabulary import PlanStatus
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.plans.models import Plan


def _plan(row: Row) -> Plan:
    return Plan(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        status=PlanStatus(row["status"]),
        limits={k: int(v) for k, v in row["limits"].items()},
        version=row["version"],
    )


class MemoryPlanStore(MemoryStore):
    async def get(self, id_or_code: str) -> Plan | None:
        plans = self._table("plans")
        row = plans.get(id_or_code) or next(
            (r for r in plans.values() if r["code"] == id_or_code), None
        )
        return _plan(row) if row else None

    async def search(self, page: PageRequest, status: str | None) -> PageOf[Plan]:
        rows = [r for r in self._table("plans").values() if not status or r["status"] == status]
        rows.sort(key=lambda r: r["code"])
        return slice_page([_plan(r) for r in rows], page)

    async def insert(self, plan: Plan, at: datetime) -> None:
        table = self._table("plans")
        if any(r["code"] == plan.code for r in table.values()):
            raise unique_violation("plans", "code")
        if plan.id in table:
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
        table[plan.id] = {
            "id": plan.id,
            "code": plan.code,
            "name": plan.name,
            "status": PlanStatus(plan.status).value,
            "limits": dict(plan.limits),
            "version": plan.version,
            "created_at": at,
            "updated_at": at,
        }

    async def update(self, plan: Plan, expected_version: int, at: datetime) -> bool:
        row = self._table("plans").get(plan.id)
        if row is None or row["version"] != expected_version:
            return False
        row.update(
            name=plan.name,
            status=PlanStatus(plan.status).value,
            limits=dict(plan.limits),
            version=plan.version,
            updated_at=at,
        )
        return True

    async def delete(self, plan_id: str) -> None:
        self._table("plans").pop(plan_id, None)
