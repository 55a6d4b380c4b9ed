"""What every component of one process shares: settings, key material, peer addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from services.common.changes import ChangeBus
from services.common.dev_secrets import KeyMaterial
from services.common.settings import Settings


class Component(Protocol):
    name: str

    @property
    def address(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    keys: KeyMaterial
    changes: ChangeBus
    addresses: dict[str, str] = field(default_factory=dict)

    def target(self, service: str) -> str:
        """In-process peers are dialled at their bound address; others as configured."""
        return self.addresses.get(service) or self.settings.target(service)


def utc_now() -> datetime:
    return datetime.now(UTC)
