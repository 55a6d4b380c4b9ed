"""Recording admin writes (ARCHITECTURE §7): every write names its actor, never "system"."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.common.auth import Principal
from services.registry.domain.models import AuditEvent, Tenant
from services.registry.domain.ports import AuditStore


async def record(
    store: AuditStore,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: str,
    tenant: Tenant | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """Insert one audit event inside the caller's unit of work (so it commits or rolls back
    with the change it describes)."""
    await store.insert_audit(
        AuditEvent(
            id=str(uuid.uuid4()),
            tenant_id=tenant.id if tenant else None,
            tenant_slug=tenant.slug if tenant else "",
            actor_type=principal.actor_type,
            actor_id=principal.subject,
            actor_tenant=principal.tenant,
            action=action,
            target_type=target_type,
            target_id=target_id,
            occurred_at=at,
            details=details or {},
        )
    )
