"""What every component of one process shares: settings, key material, peer addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from services.common.changes import ChangeBus
from services.common.dev_secrets import KeyMaterial
from services.common.settings import Settings
from services.common.versions import VersionBoard


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
    versions: VersionBoard
    addresses: dict[str, str] = field(default_factory=dict)
    # Servicers of services running in this process, for peers that call them without the
    # wire (the gateway's token endpoint: services.gateway.token_port).
    local: dict[str, Any] = field(default_factory=dict)

    def target(self, service: str) -> str:
        """In-process peers are dialled at their bound address; others as configured."""
        return self.addresses.get(service) or self.settings.target(service)


def utc_now() -> datetime:
    return datetime.now(UTC)
