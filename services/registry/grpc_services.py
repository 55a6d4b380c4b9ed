"""The registry's three gRPC services, each answered by the feature servicers that define its
RPCs (RegistryService: tenants, regions, plans, apps, clients, audit, resolution;
CatalogService: catalog, scopes, resource servers; DirectoryService: users, roles, groups,
memberships)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tessera.registry.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)

from services.common.auth import Authenticator
from services.common.grpc_compose import compose
from services.registry.apps.servicer import AppServicer
from services.registry.audit.servicer import AuditServicer
from services.registry.catalog.servicer import CatalogServicer
from services.registry.clients.servicer import ClientServicer
from services.registry.features import Features
from services.registry.groups.servicer import GroupServicer
from services.registry.memberships.servicer import MembershipServicer
from services.registry.plans.servicer import PlanServicer
from services.registry.regions.servicer import RegionServicer
from services.registry.resolution.servicer import ResolutionServicer
from services.registry.resource_servers.servicer import ResourceServerServicer
from services.registry.roles.servicer import RoleServicer
from services.registry.scopes.servicer import ScopeServicer
from services.registry.tenants.servicer import TenantServicer
from services.registry.users.servicer import UserServicer

# A generated add_<Service>Servicer_to_server function (grpcio ships no type hints).
Register = Callable[[Any, Any], None]


def registrations(features: Features, auth: Authenticator) -> list[tuple[str, Register, object]]:
    """(full service name, registration function, servicer) for each of the three services."""
    f = features
    registry = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"]
    catalog = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
    directory = directory_pb2.DESCRIPTOR.services_by_name["DirectoryService"]
    return [
        (
            registry.full_name,
            registry_pb2_grpc.add_RegistryServiceServicer_to_server,
            compose(
                registry,
                [
                    TenantServicer(auth, f.tenants),
                    RegionServicer(auth, f.regions),
                    PlanServicer(auth, f.plans),
                    AppServicer(auth, f.apps),
                    ClientServicer(auth, f.clients),
                    AuditServicer(auth, f.audit),
                    ResolutionServicer(auth, f.resolution),
                ],
            ),
        ),
        (
            catalog.full_name,
            catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
            compose(
                catalog,
                [
                    CatalogServicer(auth, f.catalog),
                    ScopeServicer(auth, f.scopes),
                    ResourceServerServicer(auth, f.resource_servers),
                ],
            ),
        ),
        (
            directory.full_name,
            directory_pb2_grpc.add_DirectoryServiceServicer_to_server,
            compose(
                directory,
                [
                    UserServicer(auth, f.users),
                    RoleServicer(auth, f.roles),
                    GroupServicer(auth, f.groups),
                    MembershipServicer(auth, f.memberships),
                ],
            ),
        ),
    ]
