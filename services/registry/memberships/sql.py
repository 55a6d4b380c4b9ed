"""SQL MembershipStore (services.registry.memberships.store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.engine import Row

from services.common.vocabulary import MembershipStatus
from services.registry import schema as t
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import offset_page
from services.registry.kernel.sql import SqlStore, utc, utc_or_none
from services.registry.memberships.models import Membership


class SqlMembershipStore(SqlStore):
    # -- memberships -----------------------------------------------------------------------

    def _memberships_query(self) -> Select[Any]:
        return (
            select(
                t.memberships,
                t.users.c.email.label("user_email"),
                t.apps.c.slug.label("app_slug"),
            )
            .join(t.users, t.users.c.id == t.memberships.c.user_id)
            .join(t.apps, t.apps.c.id == t.memberships.c.app_id)
        )

    @staticmethod
    def _membership(row: Row[Any]) -> Membership:
        m = row._mapping
        return Membership(
            user_id=m["user_id"],
            user_email=m["user_email"],
            app_id=m["app_id"],
            app_slug=m["app_slug"],
            status=MembershipStatus(m["status"]),
            granted_at=utc(m["granted_at"]),
            granted_by=m["granted_by"],
            revoked_at=utc_or_none(m["revoked_at"]),
        )

    async def get(
        self, user_id: str, app_id: str, *, for_update: bool = False
    ) -> Membership | None:
        statement = self._memberships_query().where(
            and_(t.memberships.c.user_id == user_id, t.memberships.c.app_id == app_id)
        )
        row = (await self._c.execute(self.locked(statement, t.memberships, for_update))).first()
        return self._membership(row) if row else None

    async def insert(self, membership: Membership) -> None:
        await self.execute(
            insert(t.memberships).values(
                user_id=membership.user_id,
                app_id=membership.app_id,
                status=membership.status.value,
                granted_at=membership.granted_at,
                granted_by=membership.granted_by,
                revoked_at=membership.revoked_at,
            )
        )

    async def update(self, membership: Membership) -> None:
        await self.execute(
            update(t.memberships)
            .where(
                and_(
                    t.memberships.c.user_id == membership.user_id,
                    t.memberships.c.app_id == membership.app_id,
                )
            )
            .values(
                status=membership.status.value,
                granted_at=membership.granted_at,
                granted_by=membership.granted_by,
                revoked_at=membership.revoked_at,
            )
        )

    async def search(
        self,
        tenant_id: str,
        page: PageRequest,
        *,
        user_id: str | None,
        app_id: str | None,
        status: MembershipStatus | None,
    ) -> PageOf[Membership]:
        statement = self._memberships_query().where(t.users.c.tenant_id == tenant_id)
        if user_id is not None:
            statement = statement.where(t.memberships.c.user_id == user_id)
        if app_id is not None:
            statement = statement.where(t.memberships.c.app_id == app_id)
        if status is not None:
            statement = statement.where(t.memberships.c.status == status.value)
        rows, total = await self.page(
            statement, page, [t.apps.c.slug, t.users.c.email_key, t.memberships.c.user_id]
        )
        return offset_page([self._membership(r) for r in rows], total, page)
