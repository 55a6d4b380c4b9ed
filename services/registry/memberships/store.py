"""What the membership use cases need of storage."""

from __future__ import annotations

from typing import Protocol

from services.common.vocabulary import MembershipStatus
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.memberships.models import Membership


class MembershipStore(Protocol):
    async def get(
        self, user_id: str, app_id: str, *, for_update: bool = False
    ) -> Membership | None: ...
    async def insert(self, membership: Membership) -> None:
        """AlreadyExists(MEMBERSHIP_EXISTS) when the (user, app) row exists (a race)."""
        ...

    async def update(self, membership: Membership) -> None:
        """Write status, granted_at, granted_by and revoked_at."""
        ...

    async def search(
        self,
        tenant_id: str,
        page: PageRequest,
        *,
        user_id: str | None,
        app_id: str | None,
        status: MembershipStatus | None,
    ) -> PageOf[Membership]:
        """Ordered by app slug then user email."""
        ...
