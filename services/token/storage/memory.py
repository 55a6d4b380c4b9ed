"""In-memory twin of the token service's key store (SqlKeyStore): for tests and tools.

Each method runs without awaiting in between, so it is as atomic as the SQL store's
transactions; tests/contract/test_token_key_store.py holds both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from services.token.domain.keys import KeyState, StoredKey

_CURRENT = KeyState.CURRENT.value
_NEXT = KeyState.NEXT.value
_RETIRED = KeyState.RETIRED.value


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}

    async def signing_keys(self, tenant: str) -> list[StoredKey]:
        return self._sorted(
            k for k in self._keys.values() if k.tenant == tenant and k.state in (_CURRENT, _NEXT)
        )

    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]:
        return self._sorted(
            k
            for k in self._keys.values()
            if k.tenant == tenant
            and (
                k.state in (_NEXT, _CURRENT)
                or (k.state == _RETIRED and k.publish_until is not None and k.publish_until > now)
            )
        )

    async def insert_current_key(self, key: StoredKey) -> bool:
        """False when the tenant already has a current key (of any algorithm) or the kid is
        taken."""
        if key.kid in self._keys or self._one(key.tenant, _CURRENT) is not None:
            return False
        self._keys[key.kid] = replace(key)
        return True

    async def insert_next_key(self, key: StoredKey) -> StoredKey | None:
        pending = self._one(key.tenant, _NEXT)
        if pending is not None:
            return pending
        if key.kid in self._keys:
            raise ValueError(f"kid {key.kid} is taken")  # the SQL store's primary key
        self._keys[key.kid] = replace(key)
        return None

    async def promote(
        self, tenant: str, kid: str, activated_at: datetime, publish_until: datetime
    ) -> bool:
        pending = self._one(tenant, _NEXT)
        if pending is None or pending.kid != kid:
            return False
        for key in list(self._keys.values()):
            if key.tenant == tenant and key.state == _CURRENT:
                self._keys[key.kid] = replace(key, state=_RETIRED, publish_until=publish_until)
        self._keys[kid] = replace(pending, state=_CURRENT, activated_at=activated_at)
        return True

    async def forget_retired(self, tenant: str, now: datetime) -> int:
        gone = [
            k.kid
            for k in self._keys.values()
            if k.tenant == tenant
            and k.state == _RETIRED
            and k.publish_until is not None
            and k.publish_until <= now
        ]
        for kid in gone:
            del self._keys[kid]
        return len(gone)

    def _one(self, tenant: str, state: str) -> StoredKey | None:
        matching = self._sorted(
            k for k in self._keys.values() if k.tenant == tenant and k.state == state
        )
        return matching[0] if matching else None

    @staticmethod
    def _sorted(keys: Iterable[StoredKey]) -> list[StoredKey]:
        return sorted(keys, key=lambda k: (k.created_at, k.kid))
