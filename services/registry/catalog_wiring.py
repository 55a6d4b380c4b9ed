"""Registers the catalog gRPC service (permission catalogs, scopes, resource servers) on the
registry server; the only place that builds the feature."""

from __future__ import annotations

from typing import Any

from tessera.registry.v1 import catalog_pb2, catalog_pb2_grpc

from services.registry.catalog_servicer import CatalogServicer
from services.registry.deps import RegistryDeps
from services.registry.domain.catalog_service import CatalogService
from services.registry.storage.catalog_sql import SqlCatalogStorage

SERVICE_NAMES: list[str] = [catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name]


def register(server: Any, deps: RegistryDeps) -> None:
    """Add the catalog servicer to ``server``."""
    storage = SqlCatalogStorage(deps.database)
    service = CatalogService(storage.transaction, storage.read, now=deps.now, changes=deps.changes)
    # The generated registration function is untyped (grpcio ships no stubs).
    add_servicer: Any = catalog_pb2_grpc.add_CatalogServiceServicer_to_server
    add_servicer(CatalogServicer(service, deps.authenticator), server)
