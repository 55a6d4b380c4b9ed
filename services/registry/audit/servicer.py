"""The audit RPC of RegistryService."""

from __future__ import annotations

import json

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.audit.use_cases import AuditUseCases
from services.registry.kernel import convert as cv
from services.registry.kernel.models import AuditEvent
from services.registry.kernel.servicer import Servicer

Ctx = cv.ServicerContext


def audit_pb(event: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        id=event.id,
        tenant=event.tenant_slug,
        actor_type=event.actor_type,
        actor_id=f"{event.actor_tenant}/{event.actor_id}",
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        occurred_at=cv.timestamp(event.occurred_at),
        details_json=json.dumps(event.details, sort_keys=True),
    )


class AuditServicer(Servicer):
    def __init__(self, auth: Authenticator, audit: AuditUseCases) -> None:
        super().__init__(auth)
        self._audit = audit

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        page = await self._audit.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            request.action,
            request.target_id,
        )
        return pb.ListAuditEventsResponse(
            events=[audit_pb(e) for e in page.items],
            next_page_token=cv.page_token(page.next_offset),
        )
