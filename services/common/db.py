"""Database engines per bounded context.

Each context (registry, token, invites) owns its own tables: in PostgreSQL a schema named
``{prefix}{context}``, in the embedded default a SQLite file ``{data_dir}/{context}.db``.
Table definitions are schema-less; ``schema_translate_map`` places them, so one metadata
serves both backends and the tests can give every run its own schemas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from services.common.settings import Settings


def schema_name(settings: Settings, context: str) -> str | None:
    """The PostgreSQL schema that holds ``context``'s tables (None for SQLite)."""
    if settings.database_url is None:
        return None
    return f"{settings.db_schema_prefix}{context}"


def database_url(settings: Settings, context: str, *, asynchronous: bool) -> str:
    if settings.database_url is not None:
        return settings.database_url
    path = (settings.data_dir / f"{context}.db").resolve()
    driver = "sqlite+aiosqlite" if asynchronous else "sqlite"
    return f"{driver}:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; busy_timeout turns lock contention between
    # the in-process services into a short wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _translate_map(settings: Settings, context: str) -> dict[str | None, str | None]:
    return {None: schema_name(settings, context)}


class Database:
    """One context's async engine; ``transaction()`` is the unit of work."""

    def __init__(self, settings: Settings, context: str) -> None:
        self.context = context
        self.dialect = "postgresql" if settings.database_url else "sqlite"
        url = database_url(settings, context, asynchronous=True)
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        else:
            # Bounded waits: with the database gone a request fails within seconds (503),
            # instead of holding its caller for the driver's and the pool's default minutes.
            kwargs.update(
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                pool_timeout=5,
                connect_args={"connect_timeout": 3},
            )
        # hide_parameters: bound values (hashes, ciphertexts) never reach error logs.
        self.engine: AsyncEngine = create_async_engine(
            url, hide_parameters=True, **kwargs
        ).execution_options(schema_translate_map=_translate_map(settings, context))
        self._write_lock: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        if self._write_lock is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        # SQLite (embedded mode, one process per context) has one writer at a time anyway;
        # serialising here keeps read-then-write sequences (limits, uniqueness) atomic and
        # avoids "database is locked" retries.
        async with self._write_lock, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()


def sync_engine(settings: Settings, context: str) -> Engine:
    """A synchronous engine for migrations (Alembic runs synchronously)."""
    url = database_url(settings, context, asynchronous=False)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    if settings.database_url is None:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def ensure_schema(engine: Engine, schema: str | None) -> None:
    if schema is None:
        return
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def constraint_name(exc: IntegrityError) -> str:
    """Best-effort name of the violated constraint, for both psycopg and sqlite3.

    PostgreSQL reports the constraint name; SQLite reports the columns
    ("UNIQUE constraint failed: apps.tenant_id, apps.slug"), so callers match on either.
    """
    original = exc.orig
    diag = getattr(original, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    return str(original)


def is_unique_violation(exc: IntegrityError) -> bool:
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(original)
