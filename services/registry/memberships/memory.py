"""In-memory MembershipStore (services.registry.memberships.store): the SQL store's semantics
over :class:`~services.registry.kernel.memory.MemoryTables` (memberships; users and apps are
read as the SQL joins do: a membership shows its user's email and its app's slug)."""

from __future__ import annotations

from services.common.vocabulary import MembershipStatus
from services.registry.kernel.db_errors import unique_violation
from services.registry.kernel.memory import MemoryStore, Row
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.kernel.paging import slice_page
from services.registry.memberships.models import Membership


class MemoryMembershipStore(MemoryStore):
    def _joined(self, row: Row) -> tuple[Row, Row] | None:
        """The membership's user and app rows; None when either is gone (the inner joins)."""
        user = self._table("users").get(row["user_id"])
        app = self._table("apps").get(row["app_id"])
        return None if user is None or app is None else (user, app)

    @staticmethod
    def _membership(row: Row, user: Row, app: Row) -> Membership:
        return Membership(
            user_id=row["user_id"],
            user_email=user["email"],
            app_id=row["app_id"],
            app_slug=app["slug"],
            status=MembershipStatus(row["status"]),
            granted_at=row["granted_at"],
            granted_by=row["granted_by"],
            revoked_at=row["revoked_at"],
        )

    async def get(
        self,
        user_id: str,
        app_id: str,
        *,
        for_update: bool = False,  # noqa: ARG002 - writers are serialised in memory
    ) -> Membership | None:
        row = self._table("memberships").get((user_id, app_id))
        joined = None if row is None else self._joined(row)
        return None if row is None or joined is None else self._membership(row, *joined)

    async def insert(self, membership: Membership) -> None:
        rows = self._table("memberships")
        key = (membership.user_id, membership.app_id)
        if key in rows:
            raise unique_violation("memberships", "user_id", "app_id")
        rows[key] = {
            "user_id": membership.user_id,
            "app_id": membership.app_id,
            **self._values(membership),
        }

    async def update(self, membership: Membership) -> None:
        row = self._table("memberships").get((membership.user_id, membership.app_id))
        if row is not None:
            row.update(self._values(membership))

    @staticmethod
    def _values(membership: Membership) -> Row:
        return {
            "status": membership.status.value,
            "granted_at": membership.granted_at,
            "granted_by": membership.granted_by,
            "revoked_at": membership.revoked_at,
        }

    async def search(
        self,
        tenant_id: str,
        page: PageRequest,
        *,
        user_id: str | None,
        app_id: str | None,
        status: MembershipStatus | None,
    ) -> PageOf[Membership]:
        found: list[tuple[Row, Row, Row]] = []
        for row in self._table("memberships").values():
            if user_id is not None and row["user_id"] != user_id:
                continue
            if app_id is not None and row["app_id"] != app_id:
                continue
            if status is not None and row["status"] != status.value:
                continue
            joined = self._joined(row)
            if joined is None or joined[0]["tenant_id"] != tenant_id:
                continue
            found.append((row, *joined))
        found.sort(key=lambda item: (item[2]["slug"], item[1]["email_key"], item[0]["user_id"]))
        return slice_page([self._membership(*item) for item in found], page)
