"""SQL implementation of the token service's key store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from services.common.db import Database, is_unique_violation
from services.token.domain.keys import StoredKey
from services.token.storage.tables import signing_keys


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
    )


class SqlKeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def current_key(self, tenant: str, alg: str) -> StoredKey | None:
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(signing_keys).where(
                        and_(
                            signing_keys.c.tenant == tenant,
                            signing_keys.c.alg == alg,
                            signing_keys.c.state == "current",
                        )
                    )
                )
            ).first()
        return _key(row) if row else None

    async def published_keys(self, tenant: str, now: datetime) -> list[StoredKey]:
        async with self._db.read() as connection:
            rows = (
                await connection.execute(
                    select(signing_keys)
                    .where(
                        and_(
                            signing_keys.c.tenant == tenant,
                            or_(
                                signing_keys.c.state.in_(("next", "current")),
                                and_(
                                    signing_keys.c.state == "retired",
                                    signing_keys.c.publish_until > now,
                                ),
                            ),
                        )
                    )
                    .order_by(signing_keys.c.created_at)
                )
            ).all()
        return [_key(r) for r in rows]

    async def insert_current_key(self, key: StoredKey) -> bool:
        try:
            async with self._db.transaction() as connection:
                await connection.execute(
                    insert(signing_keys).values(
                        kid=key.kid,
                        tenant=key.tenant,
                        alg=key.alg,
                        state=key.state,
                        private_key=key.private_key_ciphertext,
                        public_jwk=key.public_jwk,
                        created_at=key.created_at,
                        activated_at=key.activated_at,
                        publish_until=key.publish_until,
                    )
                )
        except IntegrityError as exc:
            if is_unique_violation(exc):
                return False
            raise
        return True
