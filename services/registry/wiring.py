"""Builds the registry component from settings (the only place that constructs it)."""

from __future__ import annotations

from functools import partial

import structlog
from tessera.token.v1 import token_pb2_grpc

from services.common.auth import Authenticator, accept_every_tenant
from services.common.db import Database
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.grpc_server import GrpcServer, LazyChannel
from services.common.hashing import PasswordHasher, PepperRing, SecretHasher
from services.common.jwks import GrpcJwksSource
from services.common.runtime import Runtime, utc_now
from services.registry.features import RegistryConfig, build_features
from services.registry.grpc_services import Register, registrations
from services.registry.kernel.scope import Publisher
from services.registry.resolution.revocation import RegistryRevocationCheck
from services.registry.stores import sql_unit_of_work
from tessera_sdk.verifier import BaseTokenVerifier

log = structlog.get_logger("tessera.registry")


class RegistryComponent:
    name = "registry"

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self.database = Database(settings, "registry")
        self._token_channel = LazyChannel(lambda: runtime.target("token"))
        uow = sql_unit_of_work(self.database)
        verifier = BaseTokenVerifier(
            settings.public_url,
            GrpcJwksSource(lambda: token_pb2_grpc.TokenServiceStub(self._token_channel.get())),
            accept_tenant=accept_every_tenant,
            revocation_check=RegistryRevocationCheck(uow),
        )
        self.features = build_features(
            uow,
            publisher=Publisher(runtime.changes, runtime.versions),
            now=utc_now,
            secret_hasher=SecretHasher(PepperRing.parse(runtime.keys.secret_peppers)),
            password_hasher=PasswordHasher(),
            cipher=EnvelopeCipher(Keyring.parse(runtime.keys.encryption_keys)),
            config=RegistryConfig(
                default_app_limit=settings.default_app_limit,
                production=settings.production,
                access_token_seconds=settings.access_token_seconds,
            ),
        )
        services = registrations(self.features, Authenticator(verifier))
        self._server = GrpcServer(
            "registry",
            settings.registry_listen,
            [partial(_register, add, servicer) for _, add, servicer in services],
            [name for name, _, _ in services],
        )

    @property
    def address(self) -> str:
        return self._server.address

    async def start(self) -> None:
        changed = await self.features.tenants.bootstrap(
            self._runtime.settings.bootstrap_admin_client_id,
            self._runtime.keys.bootstrap_admin_secret,
        )
        log.info("bootstrap checked", changed=changed)
        announced = await self.features.resolution.republish_versions()
        log.info("snapshot versions announced", versions=announced)
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self._token_channel.close()
        await self.database.dispose()


def _register(add: Register, servicer: object, server: object) -> None:
    add(servicer, server)


def build(runtime: Runtime) -> RegistryComponent:
    return RegistryComponent(runtime)
