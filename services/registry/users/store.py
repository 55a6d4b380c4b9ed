"""What the user use cases (and memberships, groups, sign-in) need of storage."""

from __future__ import annotations

from typing import Protocol

from services.common.vocabulary import UserStatus
from services.registry.kernel.models import PageOf, PageRequest
from services.registry.users.models import User


class UserLookup(Protocol):
    async def get(
        self, tenant_id: str, id_or_email_key: str, *, for_update: bool = False
    ) -> User | None:
        """By id or by email key (services.registry.users.rules.email_key). ``for_update``
        locks the user's row (never the tenant's) until the unit of work ends."""
        ...


class UserStore(UserLookup, Protocol):
    async def search(
        self, tenant_id: str, page: PageRequest, query: str, status: UserStatus | None
    ) -> PageOf[User]:
        """Ordered by email; ``query`` matches a literal substring of email, names or username
        (case-insensitive)."""
        ...

    async def username_taken(
        self, tenant_id: str, username: str, exclude_user_id: str | None
    ) -> bool: ...
    async def insert(self, user: User, password_hash: str | None) -> None:
        """AlreadyExists(EMAIL_TAKEN / USERNAME_TAKEN) on a uniqueness race."""
        ...

    async def update(self, user: User, expected_version: int) -> bool:
        """Write every mutable column except the password hash; False if the stored version
        is not ``expected_version``."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> None: ...
    async def delete(self, user_id: str) -> None:
        """Remove the user with its role assignments, group and app memberships."""
        ...

    async def assign_role(self, user_id: str, role_id: str) -> bool:
        """False when it was assigned already."""
        ...

    async def unassign_role(self, user_id: str, role_id: str) -> bool:
        """False when it was not assigned."""
        ...

    async def grants(self, user_id: str) -> list[tuple[str, str]]:
        """(service, code) of every permission of the user's roles, direct or through any
        group, whatever app they are bound to; without duplicates."""
        ...
