"""Revoked access tokens (RFC 7009): one row per ``jti``, kept only until the token would have
expired anyway (services.token.domain.revocation). SQL and an in-memory twin with the same
behaviour, both held to tests/contract/test_token_revocation_store.py.

Expired rows are pruned by the writes themselves, at most :data:`PRUNED_PER_WRITE` per write:
every revocation adds one row and may take up to that many expired ones away, so the table
stays close to the number of revoked tokens still alive without a sweeper process and without
any write paying for a large backlog at once.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from services.common.db import Database, is_unique_violation
from services.token.domain.revocation import RevokedToken
from services.token.storage.tables import revoked_tokens

PRUNED_PER_WRITE = 100


class SqlRevocationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, token: RevokedToken) -> None:
        """Record ``token`` as revoked (a ``jti`` recorded already stays as it is) and delete
        at most :data:`PRUNED_PER_WRITE` rows that expired before ``token.revoked_at``."""
        expired = (
            select(revoked_tokens.c.jti)
            .where(revoked_tokens.c.expires_at <= token.revoked_at)
            .limit(PRUNED_PER_WRITE)
        )
        try:
            async with self._db.transaction() as connection:
                await connection.execute(
                    delete(revoked_tokens).where(revoked_tokens.c.jti.in_(expired))
                )
                await connection.execute(
                    insert(revoked_tokens).values(
                        jti=token.jti,
                        tenant=token.tenant,
                        revoked_at=token.revoked_at,
                        expires_at=token.expires_at,
                    )
                )
        except IntegrityError as exc:
            # Revoked twice (a retry, two replicas): the first record stands. The prune of
            # this write is rolled back with it; the next write does it.
            if not is_unique_violation(exc):
                raise

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        async with self._db.read() as connection:
            row = (
                await connection.execute(
                    select(revoked_tokens.c.jti).where(
                        and_(revoked_tokens.c.jti == jti, revoked_tokens.c.tenant == tenant)
                    )
                )
            ).first()
        return row is not None


class MemoryRevocationStore:
    def __init__(self) -> None:
        self._rows: dict[str, RevokedToken] = {}

    async def record(self, token: RevokedToken) -> None:
        expired = [jti for jti, row in self._rows.items() if row.expires_at <= token.revoked_at][
            :PRUNED_PER_WRITE
        ]
        for jti in expired:
            del self._rows[jti]
        self._rows.setdefault(token.jti, token)

    async def is_revoked(self, tenant: str, jti: str) -> bool:
        row = self._rows.get(jti)
        return row is not None and row.tenant == tenant
