"""Finding the user a request names (by id or email) and how far they rank: what users,
groups and memberships share."""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import NotFound
from services.registry.kernel.escalation import ensure_outranks
from services.registry.kernel.models import Tenant
from services.registry.users.models import User
from services.registry.users.rules import email_key
from services.registry.users.store import UserLookup, UserStore


async def user_of(users: UserLookup, tenant: Tenant, ref: str, *, for_update: bool = False) -> User:
    """The tenant's user ``ref`` (an id, or an email in any case)."""
    found = await users.get(tenant.id, email_key(ref.strip()), for_update=for_update)
    if found is None:
        raise NotFound(
            "USER_NOT_FOUND",
            f"Tenant {tenant.slug!r} has no user {ref!r} (give the user's id or email).",
        )
    return found


async def ensure_outranks_user(
    principal: Principal, users: UserStore, user: User, operation: str
) -> None:
    """No escalation (ARCHITECTURE §7): the caller holds every admin permission the user has,
    directly or through any group."""
    ensure_outranks(
        principal,
        await users.grants(user.id),
        target_type="user",
        target_id=user.id,
        operation=operation,
    )
