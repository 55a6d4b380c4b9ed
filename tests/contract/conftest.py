"""One contract suite, three backends: every store test runs against the in-memory stores,
SQLite (the embedded default) and PostgreSQL, through the same store bundle the use cases
get. The SQL backends are migrated once per session; tests isolate themselves by creating
their own tenants, regions and plans with unique names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.common.db import Database
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.registry.kernel.ports import UnitOfWork
from services.registry.stores import memory_unit_of_work, sql_unit_of_work

BACKENDS = ("memory", "sqlite", "postgresql")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def sqlite_uow(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[UnitOfWork[Any]]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("contract-sqlite")))
    upgrade(settings, ("registry",))
    database = Database(settings, "registry")
    yield sql_unit_of_work(database)
    await database.dispose()


@pytest.fixture(scope="session")
async def postgresql_uow(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UnitOfWork[Any]]:
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("contract-pg")),
        database_url=database_url,
        db_schema_prefix=prefix,
    )
    upgrade(settings, ("registry",))
    database = Database(settings, "registry")
    try:
        yield sql_unit_of_work(database)
    finally:
        await database.dispose()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}registry" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def memory_uow() -> UnitOfWork[Any]:
    return memory_unit_of_work()


@pytest.fixture(params=BACKENDS)
def uow(request: pytest.FixtureRequest) -> UnitOfWork[Any]:
    """The store bundle's unit of work on each backend in turn."""
    return request.getfixturevalue(f"{request.param}_uow")
