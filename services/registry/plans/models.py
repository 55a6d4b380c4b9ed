"""Plans: limits in Document Units, active or retired (TrueParser seed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.vocabulary import PlanStatus


@dataclass(frozen=True)
class Plan:
    id: str
    code: str
    name: str
    status: PlanStatus
    limits: dict[str, int]
    version: int


@dataclass(frozen=True)
class PlanDraft:
    code: str
    name: str
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanPatch:
    name: str | None = None
    status: str | None = None
    limits: dict[str, int] | None = None  # replaces all limits when given
