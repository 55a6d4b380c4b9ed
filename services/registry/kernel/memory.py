"""The in-memory side of the skeleton: one state, serialised writers, all-or-nothing commits.

A write unit of work works on a deep copy of the state and replaces the state with it when
the block ends normally, so a failed use case leaves nothing half-written, exactly as a
rolled-back SQL transaction. Writers are serialised (like SQLite's single writer); readers see
the last committed state. For tests and tools: it keeps nothing across processes.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

StateT = TypeVar("StateT")
TxT = TypeVar("TxT")


class MemoryDatabase(Generic[StateT]):
    def __init__(self, state: StateT) -> None:
        self.state = state
        self._writer = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StateT]:
        async with self._writer:
            working = copy.deepcopy(self.state)
            yield working
            self.state = working

    @asynccontextmanager
    async def read(self) -> AsyncIterator[StateT]:
        yield self.state


class MemoryUnitOfWork(Generic[StateT, TxT]):
    def __init__(self, database: MemoryDatabase[StateT], bind: Callable[[StateT], TxT]) -> None:
        self._db = database
        self._bind = bind

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[TxT]:
        async with self._db.transaction() as state:
            yield self._bind(state)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[TxT]:
        async with self._db.read() as state:
            yield self._bind(state)


Row = dict[str, Any]


@dataclass
class MemoryTables:
    """The in-memory registry: one dict per table of :mod:`services.registry.schema`, keyed by
    the table's primary key (a tuple for composite keys), each row a dict of the table's column
    values. Stores read other features' tables as freely as the SQL stores join them."""

    rows: dict[str, dict[Any, Row]] = field(default_factory=dict)

    def table(self, name: str) -> dict[Any, Row]:
        return self.rows.setdefault(name, {})


class MemoryStore:
    """Base of every memory store: the tables of one unit of work (a working copy inside a
    transaction, the committed state in a read)."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def _table(self, name: str) -> dict[Any, Row]:
        return self._tables.table(name)
