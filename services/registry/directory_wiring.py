"""Registers the directory gRPC service on the registry server (filled in by the directory feature)."""

from __future__ import annotations

from typing import Any

from services.registry.deps import RegistryDeps

SERVICE_NAMES: list[str] = []


def register(server: Any, deps: RegistryDeps) -> None:
    """Add the directory servicer(s) to server."""
