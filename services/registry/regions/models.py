"""License regions and their databases (TrueParser seed, "Choose A Region")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegionDatabase:
    db_code: str
    active: bool


@dataclass(frozen=True)
class Region:
    id: str
    code: str
    name: str
    active: bool
    databases: tuple[RegionDatabase, ...]  # in the operator's listing order
    version: int

    def first_active_database(self) -> RegionDatabase | None:
        return next((d for d in self.databases if d.active), None)


@dataclass(frozen=True)
class RegionDraft:
    code: str
    name: str
    active: bool = True
    databases: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class RegionPatch:
    name: str | None = None
    active: bool | None = None
