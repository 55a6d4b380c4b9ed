"""In-memory twin of the token service's key store (SqlKeyStore): for tests and tools."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.token.domain.keys import StoredKey


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}

    async def current_key(self, tenant: str, alg: str) -> StoredKey | None:
        return next(
            (
                k
                for k in self._keys.values()
                if k.tenant == tenant and k.alg == alg and k.state == "current"
            ),
            None,
        )

    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]:
        published = [
            k
            for k in self._keys.values()
            if k.tenant == tenant
            and (
                k.state in ("next", "current")
                or (k.state == "retired" and k.publish_until is not None and k.publish_until > now)
            )
        ]
        return sorted(published, key=lambda k: k.created_at)

    async def insert_current_key(self, key: StoredKey) -> bool:
        """False when the tenant already has a current key of that algorithm (the SQL store's
        unique index) or the kid is taken."""
        if key.kid in self._keys or await self.current_key(key.tenant, key.alg) is not None:
            return False
        self._keys[key.kid] = replace(key)
        return True
