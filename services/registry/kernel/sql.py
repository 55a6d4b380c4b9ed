"""The SQL side of the skeleton: a base for every feature's SQL store and the unit of work.

Stores execute through :meth:`SqlStore.execute`, which translates integrity errors once
(:mod:`services.registry.kernel.db_errors`); nothing else in a store catches database errors,
except where a store handles a race on purpose (and says so).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database
from services.registry.kernel.db_errors import translate_integrity_error
from services.registry.kernel.models import PageRequest

TxT = TypeVar("TxT")


def utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class SqlStore:
    """A store bound to one connection (one unit of work); never commits."""

    def __init__(self, connection: AsyncConnection, postgresql: bool) -> None:
        self._c = connection
        self._postgresql = postgresql

    async def execute(self, statement: Any, rows: Any = None) -> CursorResult[Any]:
        """Run a write whose unique violations become the store's AlreadyExists reasons
        (services.registry.kernel.db_errors); ``rows`` runs it once per row."""
        try:
            result: CursorResult[Any] = await self._c.execute(statement, rows)
            return result
        except IntegrityError as exc:
            translated = translate_integrity_error(exc)
            if translated is None:
                raise
            raise translated from exc

    def locked(self, statement: Select[Any], table: Any, for_update: bool) -> Select[Any]:
        """``statement`` locking ``table``'s row until the unit of work ends (PostgreSQL; SQLite
        serialises writers anyway). Only the entity's row, never a joined tenant row: that
        would serialise every write of the tenant."""
        if for_update and self._postgresql:
            return statement.with_for_update(of=table)
        return statement

    async def page(
        self, statement: Select[Any], page: PageRequest, order: Sequence[Any]
    ) -> tuple[list[Row[Any]], int]:
        """One page of ``statement`` in ``order``, and the total number of matching rows."""
        total = (
            await self._c.execute(
                select(func.count()).select_from(statement.order_by(None).subquery())
            )
        ).scalar_one()
        rows = (
            await self._c.execute(statement.order_by(*order).limit(page.size).offset(page.offset))
        ).all()
        return list(rows), int(total)


def like_pattern(query: str) -> str:
    """A LIKE pattern matching ``query`` as a literal, case-folded substring (``%``/``_``
    escaped; use with ``escape="\\"``)."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ordering(table: Any, order: str, default: str) -> list[Any]:
    """``name`` / ``-name`` (descending) as ORDER BY, the primary key breaking ties; the use
    case refuses unknown names before the store sees them."""
    descending = order.startswith("-")
    column = table.c[order.lstrip("-") or default]
    return [column.desc() if descending else column.asc(), table.c.id]


class SqlUnitOfWork(Generic[TxT]):
    """Units of work on ``database``; ``bind`` builds the store bundle on a connection (its
    second argument says whether the database is PostgreSQL)."""

    def __init__(self, database: Database, bind: Callable[[AsyncConnection, bool], TxT]) -> None:
        self._db = database
        self._bind = bind

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[TxT]:
        async with self._db.transaction() as connection:
            yield self._bind(connection, self._db.dialect == "postgresql")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[TxT]:
        async with self._db.read() as connection:
            yield self._bind(connection, self._db.dialect == "postgresql")
