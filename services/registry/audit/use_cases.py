"""Reading the audit log: every admin write of the tenant with its actor (ARCHITECTURE §7).
Records are written by the write scope (services.registry.kernel.scope), never here."""

from __future__ import annotations

from services.common.access import needs
from services.common.auth import Principal
from services.registry.kernel.models import AuditEvent, PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases

READ = needs("audit:read")


class AuditUseCases(UseCases[BaseTx]):
    async def search(
        self,
        principal: Principal,
        tenant: str,
        size: int,
        offset: int,
        action: str,
        target_id: str,
    ) -> PageOf[AuditEvent]:
        """Newest first; ``action`` and ``target_id`` filter when given."""
        async with self.read(principal, READ, tenant) as scope:
            return await scope.tx.audit.search(
                scope.tenant.id, page_request(size, offset), action, target_id
            )
