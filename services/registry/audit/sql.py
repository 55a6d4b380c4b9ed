"""SQL AuditLog (services.registry.kernel.ports.AuditLog)."""

from __future__ import annotations

from sqlalchemy import insert, select

from services.registry import schema as t
from services.registry.kernel.models import AuditEvent, PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc


class SqlAuditLog(SqlStore):
    async def insert(self, event: AuditEvent) -> None:
        await self.execute(
            insert(t.audit_events).values(
                id=event.id,
                tenant_id=event.tenant_id,
                actor_type=event.actor_type,
                actor_id=event.actor_id,
                actor_tenant=event.actor_tenant,
                action=event.action,
                target_type=event.target_type,
                target_id=event.target_id,
                occurred_at=event.occurred_at,
                details=event.details,
            )
        )

    async def search(
        self, tenant_id: str | None, page: PageRequest, action: str, target_id: str
    ) -> PageOf[AuditEvent]:
        statement = select(t.audit_events, t.tenants.c.slug.label("tenant_slug")).outerjoin(
            t.tenants, t.tenants.c.id == t.audit_events.c.tenant_id
        )
        if tenant_id is not None:
            statement = statement.where(t.audit_events.c.tenant_id == tenant_id)
        if action:
            statement = statement.where(t.audit_events.c.action == action)
        if target_id:
            statement = statement.where(t.audit_events.c.target_id == target_id)
        rows, total = await self.page(
            statement, page, [t.audit_events.c.occurred_at.desc(), t.audit_events.c.id]
        )
        events = [
            AuditEvent(
                id=m["id"],
                tenant_id=m["tenant_id"],
                tenant_slug=m["tenant_slug"] or "",
                actor_type=m["actor_type"],
                actor_id=m["actor_id"],
                actor_tenant=m["actor_tenant"],
                action=m["action"],
                target_type=m["target_type"],
                target_id=m["target_id"],
                occurred_at=utc(m["occurred_at"]),
                details=dict(m["details"]),
            )
            for m in (r._mapping for r in rows)
        ]
        return offset_page(events, total, page)
