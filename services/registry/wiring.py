"""Builds the registry component from settings (the only place that constructs it)."""

from __future__ import annotations

import structlog
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc
from tessera.token.v1 import token_pb2_grpc

from services.common.auth import Authenticator, accept_every_tenant
from services.common.db import Database
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.grpc_server import GrpcServer, LazyChannel
from services.common.jwks import GrpcJwksSource
from services.common.runtime import Runtime, utc_now
from services.common.secrets import PasswordHasher, PepperRing, SecretHasher
from services.registry import catalog_wiring, directory_wiring
from services.registry.deps import RegistryDeps
from services.registry.domain.clients import ClientService
from services.registry.domain.resolution import ResolutionService
from services.registry.domain.service import RegistryConfig, RegistryService
from services.registry.revocation import RegistryRevocationCheck
from services.registry.servicer import RegistryServicer
from services.registry.storage.sql import SqlRegistryStorage
from tessera_sdk.verifier import BaseTokenVerifier

log = structlog.get_logger("tessera.registry")


class RegistryComponent:
    name = "registry"

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self.database = Database(settings, "registry")
        self._token_channel = LazyChannel(lambda: runtime.target("token"))
        storage = SqlRegistryStorage(self.database)
        verifier = BaseTokenVerifier(
            settings.public_url,
            GrpcJwksSource(lambda: token_pb2_grpc.TokenServiceStub(self._token_channel.get())),
            accept_tenant=accept_every_tenant,
            revocation_check=RegistryRevocationCheck(storage),
        )
        deps = RegistryDeps(
            database=self.database,
            storage=storage,
            secret_hasher=SecretHasher(PepperRing.parse(runtime.keys.secret_peppers)),
            password_hasher=PasswordHasher(),
            cipher=EnvelopeCipher(Keyring.parse(runtime.keys.encryption_keys)),
            changes=runtime.changes,
            authenticator=Authenticator(verifier),
            config=RegistryConfig(
                default_app_limit=settings.default_app_limit,
                production=settings.production,
                access_token_seconds=settings.access_token_seconds,
            ),
            now=utc_now,
        )
        self.service = RegistryService(
            deps.storage.transaction,
            deps.storage.read,
            deps.secret_hasher,
            deps.cipher,
            deps.config,
            now=deps.now,
            changes=deps.changes,
        )
        clients = ClientService(
            deps.storage.transaction,
            deps.storage.read,
            deps.secret_hasher,
            deps.changes,
            deps.now,
        )
        resolution = ResolutionService(
            deps.storage.transaction,
            deps.storage.read,
            deps.secret_hasher,
            deps.config.access_token_seconds,
            deps.now,
        )
        servicer = RegistryServicer(self.service, clients, resolution, deps.authenticator)
        self._server = GrpcServer(
            "registry",
            settings.registry_listen,
            [
                lambda server: registry_pb2_grpc.add_RegistryServiceServicer_to_server(
                    servicer, server
                ),
                lambda server: catalog_wiring.register(server, deps),
                lambda server: directory_wiring.register(server, deps),
            ],
            [
                registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
                *catalog_wiring.SERVICE_NAMES,
                *directory_wiring.SERVICE_NAMES,
            ],
        )

    @property
    def address(self) -> str:
        return self._server.address

    async def start(self) -> None:
        changed = await self.service.bootstrap(
            self._runtime.settings.bootstrap_admin_client_id,
            self._runtime.keys.bootstrap_admin_secret,
        )
        log.info("bootstrap checked", changed=changed)
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self._token_channel.close()
        await self.database.dispose()


def build(runtime: Runtime) -> RegistryComponent:
    return RegistryComponent(runtime)
