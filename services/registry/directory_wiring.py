"""Registers the directory gRPC service on the registry server (called by registry wiring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tessera.registry.v1 import directory_pb2, directory_pb2_grpc

from services.registry.deps import RegistryDeps
from services.registry.directory_servicer import DirectoryServicer
from services.registry.domain.directory_service import DirectoryService
from services.registry.storage.directory_sql import SqlDirectoryStorage

SERVICE_NAMES: list[str] = [
    directory_pb2.DESCRIPTOR.services_by_name["DirectoryService"].full_name,
]


def build_service(deps: RegistryDeps) -> DirectoryService:
    """The directory use cases over the registry's database (also used by tests)."""
    storage = SqlDirectoryStorage(deps.database)
    return DirectoryService(
        storage.transaction,
        storage.read,
        deps.password_hasher,
        now=deps.now,
        changes=deps.changes,
    )


def register(server: Any, deps: RegistryDeps) -> None:
    """Add the directory servicer to ``server``."""
    servicer = DirectoryServicer(build_service(deps), deps.authenticator)
    # The generated *_pb2_grpc module is untyped; name the one function we use with its type.
    add: Callable[[Any, Any], None] = directory_pb2_grpc.add_DirectoryServiceServicer_to_server
    add(servicer, server)
