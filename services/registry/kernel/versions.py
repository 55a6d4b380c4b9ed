"""Snapshot versions in the registry's own storage (services.common.versions explains why).
One row per scope (a tenant slug, or ``"*"`` for the platform), bumped by the write scope in
the unit of work of the change it stands for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.registry import schema as t
from services.registry.kernel.memory import MemoryStore
from services.registry.kernel.sql import SqlStore


class VersionStore(Protocol):
    async def bump(self, scope: str) -> int:
        """Add one to ``scope``'s version (1 when it had none) and return it; the row stays
        locked until the unit of work ends, so bumps of one scope are serialised."""
        ...

    async def read(self, scopes: Sequence[str]) -> dict[str, int]:
        """The versions of ``scopes``; 0 for a scope never bumped."""
        ...

    async def hold(self, scopes: Sequence[str]) -> dict[str, int]:
        """The versions of ``scopes``, their rows created (at 0) when missing and locked until
        the unit of work ends: no bump of them can be in flight meanwhile."""
        ...

    async def hold_all(self) -> dict[str, int]:
        """Every version there is, all rows locked until the unit of work ends."""
        ...


class SqlVersionStore(SqlStore):
    async def bump(self, scope: str) -> int:
        insert = pg_insert if self._postgresql else sqlite_insert
        table = t.snapshot_versions
        statement = (
            insert(table)
            .values(scope=scope, version=1)
            .on_conflict_do_update(
                index_elements=[table.c.scope], set_={"version": table.c.version + 1}
            )
            .returning(table.c.version)
        )
        return int((await self._c.execute(statement)).scalar_one())

    async def read(self, scopes: Sequence[str]) -> dict[str, int]:
        table = t.snapshot_versions
        rows = await self._c.execute(
            select(table.c.scope, table.c.version).where(table.c.scope.in_(list(scopes)))
        )
        found = {scope: int(version) for scope, version in rows.all()}
        return {scope: found.get(scope, 0) for scope in scopes}

    async def hold(self, scopes: Sequence[str]) -> dict[str, int]:
        insert = pg_insert if self._postgresql else sqlite_insert
        table = t.snapshot_versions
        # Creating the missing rows is a write: it also takes SQLite's single writer lock.
        await self._c.execute(
            insert(table)
            .values([{"scope": scope, "version": 0} for scope in scopes])
            .on_conflict_do_nothing(index_elements=[table.c.scope])
        )
        statement = select(table.c.scope, table.c.version).where(table.c.scope.in_(list(scopes)))
        if self._postgresql:
            statement = statement.with_for_update()
        found = {scope: int(version) for scope, version in (await self._c.execute(statement)).all()}
        return {scope: found[scope] for scope in scopes}

    async def hold_all(self) -> dict[str, int]:
        table = t.snapshot_versions
        if not self._postgresql:
            # Takes SQLite's single writer lock before reading: no bump can be in flight.
            await self._c.execute(table.update().where(table.c.scope == "").values(version=0))
        statement = select(table.c.scope, table.c.version)
        if self._postgresql:
            statement = statement.with_for_update()
        return {scope: int(version) for scope, version in (await self._c.execute(statement)).all()}


class MemoryVersionStore(MemoryStore):
    async def bump(self, scope: str) -> int:
        row = self._table("snapshot_versions").setdefault(scope, {"scope": scope, "version": 0})
        row["version"] += 1
        return int(row["version"])

    async def read(self, scopes: Sequence[str]) -> dict[str, int]:
        table = self._table("snapshot_versions")
        return {s: int(table[s]["version"]) if s in table else 0 for s in scopes}

    async def hold(self, scopes: Sequence[str]) -> dict[str, int]:
        # Writers are serialised by the memory database: holding needs no lock of its own.
        table = self._table("snapshot_versions")
        for scope in scopes:
            table.setdefault(scope, {"scope": scope, "version": 0})
        return {s: int(table[s]["version"]) for s in scopes}

    async def hold_all(self) -> dict[str, int]:
        return {s: int(row["version"]) for s, row in self._table("snapshot_versions").items()}
