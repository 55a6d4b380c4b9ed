"""SQL implementation of the token service's key store (services.token.domain.keys.KeyStore).

Writes that read before they write (first key, rotation, promotion) serialise per tenant: on
PostgreSQL with a transaction-scoped advisory lock on the tenant, on SQLite with the
database's single writer (services.common.db). The partial unique index
``uq_signing_keys_current`` (one current key per tenant and algorithm) backs the first key's
insert, which is always of one algorithm, against replicas that race without the lock.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database, is_unique_violation
from services.token.domain.keys import KeyState, StoredKey
from services.token.storage.tables import signing_keys

_CURRENT = KeyState.CURRENT.value
_NEXT = KeyState.NEXT.value
_RETIRED = KeyState.RETIRED.value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _key(row: Row[Any]) -> StoredKey:
    m = row._mapping
    created = _utc(m["created_at"])
    assert created is not None
    return StoredKey(
        kid=m["kid"],
        tenant=m["tenant"],
        alg=m["alg"],
        state=m["state"],
        private_key_ciphertext=m["private_key"],
        public_jwk=dict(m["public_jwk"]),
        created_at=created,
        activated_at=_utc(m["activated_at"]),
        publish_until=_utc(m["publish_until"]),
        activates_at=_utc(m["activates_at"]),
    )


def _row(key: StoredKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "tenant": key.tenant,
        "alg": key.alg,
        "state": key.state,
        "private_key": key.private_key_ciphertext,
        "public_jwk": key.public_jwk,
        "created_at": key.created_at,
        "activated_at": key.activated_at,
        "publish_until": key.publish_until,
        "activates_at": key.activates_at,
    }


def _lock_id(tenant: str) -> int:
    """A stable signed 64-bit advisory lock id for the tenant's keys."""
    digest = hashlib.blake2b(f"tessera.signing_keys:{tenant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SqlKeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def signing_keys(self, tenant: str) -> list[StoredKey]:
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(signing_keys)
                    .where(
                        and_(
                            signing_keys.c.tenant == tenant,
                            signing_keys.c.state.in_((_CURRENT, _NEXT)),
                        )
                    )
                    .order_by(signing_keys.c.created_at, signing_keys.c.kid)
                )
            ).all()
        return [_key(r) for r in rows]

    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]:
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(signing_keys)
                    .where(
                        and_(
                            signing_keys.c.tenant == tenant,
                            or_(
                                signing_keys.c.state.in_((_NEXT, _CURRENT)),
                                and_(
                                    signing_keys.c.state == _RETIRED,
                                    signing_keys.c.publish_until > now,
                                ),
                            ),
                        )
                    )
                    .order_by(signing_keys.c.created_at, signing_keys.c.kid)
                )
            ).all()
        return [_key(r) for r in rows]

    async def insert_current_key(self, key: StoredKey) -> bool:
        try:
            async with self._db.transaction() as connection:
                await self._lock(connection, key.tenant)
                if await self._one(connection, key.tenant, _CURRENT) is not None:
                    return False
                await connection.execute(insert(signing_keys).values(**_row(key)))
        except IntegrityError as exc:
            if is_unique_violation(exc):
                return False
            raise
        return True

    async def insert_next_key(self, key: StoredKey) -> StoredKey | None:
        async with self._db.transaction() as connection:
            await self._lock(connection, key.tenant)
            pending = await self._one(connection, key.tenant, _NEXT)
            if pending is not None:
                return pending
            await connection.execute(insert(signing_keys).values(**_row(key)))
        return None

    async def promote(
        self, tenant: str, kid: str, activated_at: datetime, publish_until: datetime
    ) -> bool:
        async with self._db.transaction() as connection:
            await self._lock(connection, tenant)
            pending = await self._one(connection, tenant, _NEXT)
            if pending is None or pending.kid != kid:
                return False
            # Retire first: the promoted key may have the retired one's algorithm, and the
            # partial unique index allows one current key per tenant and algorithm.
            await connection.execute(
                update(signing_keys)
                .where(and_(signing_keys.c.tenant == tenant, signing_keys.c.state == _CURRENT))
                .values(state=_RETIRED, publish_until=publish_until)
            )
            await connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == kid)
                .values(state=_CURRENT, activated_at=activated_at)
            )
        return True

    async def forget_retired(self, tenant: str, now: datetime) -> int:
        async with self._db.transaction() as connection:
            result = await connection.execute(
                delete(signing_keys).where(
                    and_(
                        signing_keys.c.tenant == tenant,
                        signing_keys.c.state == _RETIRED,
                        signing_keys.c.publish_until <= now,
                    )
                )
            )
        return int(result.rowcount or 0)

    async def _lock(self, connection: AsyncConnection, tenant: str) -> None:
        """Serialise this transaction with the tenant's other key writes (PostgreSQL; SQLite
        transactions are serialised already)."""
        if self._db.dialect == "postgresql":
            await connection.execute(select(func.pg_advisory_xact_lock(_lock_id(tenant))))

    @staticmethod
    async def _one(connection: AsyncConnection, tenant: str, state: str) -> StoredKey | None:
        row = (
            await connection.execute(
                select(signing_keys)
                .where(and_(signing_keys.c.tenant == tenant, signing_keys.c.state == state))
                .order_by(signing_keys.c.created_at, signing_keys.c.kid)
                .limit(1)
            )
        ).first()
        return _key(row) if row else None
