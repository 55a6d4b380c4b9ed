"""Pieces every registry SQL module shares: paging, UTC times, unique-violation mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import Database, constraint_name, is_unique_violation
from services.common.errors import AlreadyExists
from services.registry.domain.models import PageOf, PageRequest

T = TypeVar("T")

# (fragment of the PostgreSQL constraint name or of SQLite's column list, reason, message)
UniqueReasons = Sequence[tuple[str, str, str]]


def utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def offset_page(items: list[T], total: int, page: PageRequest) -> PageOf[T]:
    next_offset = page.offset + len(items)
    return PageOf(
        items=items, total=total, next_offset=next_offset if next_offset < total else None
    )


async def fetch_page(
    connection: AsyncConnection, statement: Select[Any], page: PageRequest, order: Sequence[Any]
) -> tuple[list[Row[Any]], int]:
    """One page of ``statement`` in ``order`` and the total number of matching rows."""
    total = (
        await connection.execute(
            select(func.count()).select_from(statement.order_by(None).subquery())
        )
    ).scalar_one()
    rows = (
        await connection.execute(statement.order_by(*order).limit(page.size).offset(page.offset))
    ).all()
    return list(rows), int(total)


async def execute_unique(
    connection: AsyncConnection, statement: Any, reasons: UniqueReasons
) -> Any:
    """Execute; a unique violation becomes AlreadyExists with the reason of the constraint
    it broke (translated here, once, so no IntegrityError escapes the storage layer)."""
    try:
        return await connection.execute(statement)
    except IntegrityError as exc:
        if is_unique_violation(exc):
            name = constraint_name(exc)
            for fragment, reason, message in reasons:
                if fragment in name:
                    raise AlreadyExists(reason, message) from exc
            raise AlreadyExists("ALREADY_EXISTS", "That value is already taken.") from exc
        raise


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


TxT = TypeVar("TxT")


class SqlStorage(Generic[TxT]):
    """Unit-of-work factory: ``transaction()`` commits when its block ends normally and rolls
    back otherwise; ``read()`` only reads. ``bind`` wraps a connection in the feature's ports
    (its second argument says whether the database is PostgreSQL)."""

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
