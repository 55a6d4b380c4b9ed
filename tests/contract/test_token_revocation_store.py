"""RevocationStore contract (services.token.storage.revocations), on the in-memory twin, SQLite
and PostgreSQL alike: a revoked jti is found in its tenant only, recording it again changes
nothing, and each write prunes a bounded number of records that expired before it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text

from services.common.db import Database
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.token.domain.revocation import RevokedToken
from services.token.storage.revocations import (
    PRUNED_PER_WRITE,
    MemoryRevocationStore,
    SqlRevocationStore,
)
from services.token.storage.tables import revoked_tokens
from tests.contract.conftest import BACKENDS, NOW, unique


@pytest.fixture(scope="session")
async def sqlite_token_db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("contract-token-sqlite")))
    upgrade(settings, ("token",))
    database = Database(settings, "token")
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def postgresql_token_db(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("contract-token-pg")),
        database_url=database_url,
        db_schema_prefix=prefix,
    )
    upgrade(settings, ("token",))
    database = Database(settings, "token")
    try:
        yield database
    finally:
        await database.dispose()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}token" CASCADE'))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> Database | None:
    """The token database of each backend in turn (None: the in-memory twin)."""
    if request.param == "memory":
        return None
    found: Database = request.getfixturevalue(f"{request.param}_token_db")
    return found


@pytest.fixture
async def store(database: Database | None) -> Any:
    """A revocation store that starts empty: the SQL table lives for the session, so the rows
    earlier tests wrote are deleted first (pruning counts depend on them)."""
    if database is None:
        return MemoryRevocationStore()
    async with database.transaction() as connection:
        await connection.execute(delete(revoked_tokens))
    return SqlRevocationStore(database)


def _revoked(tenant: str = "acme", *, at: Any = NOW, lives: float = 900) -> RevokedToken:
    return RevokedToken(
        tenant=tenant,
        jti=unique("jti"),
        revoked_at=at,
        expires_at=at + timedelta(seconds=lives),
    )


async def test_a_recorded_jti_is_revoked_in_its_tenant_only(store: Any) -> None:
    token = _revoked()
    assert await store.is_revoked("acme", token.jti) is False
    await store.record(token)
    assert await store.is_revoked("acme", token.jti) is True
    assert await store.is_revoked("globex", token.jti) is False
    assert await store.is_revoked("acme", unique("jti")) is False


async def test_recording_a_jti_again_changes_nothing(store: Any) -> None:
    token = _revoked()
    await store.record(token)
    await store.record(token)
    # Even when another tenant claims the same jti: the first record stands.
    await store.record(RevokedToken("globex", token.jti, NOW, NOW + timedelta(hours=1)))
    assert await store.is_revoked("acme", token.jti) is True
    assert await store.is_revoked("globex", token.jti) is False


async def test_a_write_prunes_records_that_expired_before_it_and_keeps_live_ones(
    store: Any,
) -> None:
    expired = _revoked(lives=60)
    live = _revoked(lives=900)
    just_expiring = _revoked(lives=120)
    for token in (expired, live, just_expiring):
        await store.record(token)
    # Revoked two minutes later: expired (at +60) and just_expiring (at +120, not after) go.
    await store.record(_revoked(at=NOW + timedelta(seconds=120)))
    assert await store.is_revoked("acme", expired.jti) is False
    assert await store.is_revoked("acme", just_expiring.jti) is False
    assert await store.is_revoked("acme", live.jti) is True


async def test_each_write_prunes_at_most_a_bounded_number_of_expired_records(store: Any) -> None:
    backlog = [_revoked(f"t{i % 3}", lives=1) for i in range(PRUNED_PER_WRITE + 20)]
    for token in backlog:
        await store.record(token)
    later = NOW + timedelta(hours=1)
    await store.record(_revoked(at=later))

    async def remaining() -> int:
        return sum([await store.is_revoked(t.tenant, t.jti) for t in backlog])

    assert await remaining() == 20
    await store.record(_revoked(at=later))
    assert await remaining() == 0
