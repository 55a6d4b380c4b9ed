"""In-memory AuditLog (services.registry.kernel.ports)."""

from __future__ import annotations

import copy

from services.common.errors import AlreadyExists
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import AuditEvent, PageOf, PageRequest
from services.registry.kernel.paging import slice_page


class MemoryAuditLog(MemoryStore):
    def _event(self, row: Row) -> AuditEvent:
        tenant = self._table("tenants").get(row["tenant_id"]) if row["tenant_id"] else None
        return AuditEvent(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_slug=tenant["slug"] if tenant else "",
            actor_type=row["actor_type"],
            actor_id=row["actor_id"],
            actor_tenant=row["actor_tenant"],
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            occurred_at=row["occurred_at"],
            details=copy.deepcopy(row["details"]),
        )

    async def insert(self, event: AuditEvent) -> None:
        table = self._table("audit_events")
        if event.id in table:
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.")
        table[event.id] = {
            "id": event.id,
            "tenant_id": event.tenant_id,
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "actor_tenant": event.actor_tenant,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "occurred_at": event.occurred_at,
            "details": copy.deepcopy(event.details),
        }

    async def search(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        rows = [
            r
            for r in self._table("audit_events").values()
            if (tenant_id is None or r["tenant_id"] == tenant_id)
            and (not action or r["action"] == action)
            and (not target_id or r["target_id"] == target_id)
        ]
        # Newest first; events of the same instant by id.
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r["occurred_at"], reverse=True)
        return slice_page([self._event(r) for r in rows], page)
