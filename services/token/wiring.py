"""Builds the token component."""

from __future__ import annotations

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.auth import CONTROL_PLANE_TENANT
from services.common.db import Database
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.grpc_server import GrpcServer, LazyChannel
from services.common.hashing import PepperRing, SecretHasher
from services.common.runtime import Runtime, utc_now
from services.common.versions import UNREADABLE_BOARD, VersionBoard
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.grants import TokenService, mint_service_token
from services.token.domain.keys import KeyService
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.registry_client import GrpcRegistry, ServiceCredentials
from services.token.servicer import TokenServicer
from services.token.storage.sql import SqlKeyStore


class TokenComponent:
    name = "token"

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.database = Database(settings, "token")
        self._registry_channel = LazyChannel(lambda: runtime.target("registry"))

        async def mint() -> tuple[str, float]:
            return await mint_service_token(
                self.keys, settings.issuer, CONTROL_PLANE_TENANT, "token"
            )

        registry = GrpcRegistry(self._registry_channel, ServiceCredentials(mint))
        self.keys = KeyService(
            SqlKeyStore(self.database),
            EnvelopeCipher(Keyring.parse(runtime.keys.encryption_keys)),
            registry,
            now=utc_now,
        )
        self.snapshots = SnapshotCache(registry, self._board(runtime))
        self.upkeep = SecretUpkeepReporter(registry, utc_now)
        self.tokens = TokenService(
            self.keys,
            self.snapshots,
            ClientAuthenticator(SecretHasher(PepperRing.parse(runtime.keys.secret_peppers))),
            self.upkeep,
            settings.issuer,
        )
        servicer = TokenServicer(self.tokens, self.keys)
        runtime.local["token"] = servicer
        self._server = GrpcServer(
            "token",
            settings.token_listen,
            [lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)],
            [token_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name],
        )

    @property
    def address(self) -> str:
        return self._server.address

    @staticmethod
    def _board(runtime: Runtime) -> VersionBoard:
        """The board the registry announces on. Without Redis it is the process's own, which
        only a registry in this same process writes to: a registry elsewhere cannot tell this
        process its versions, so every request then reads from it."""
        if runtime.settings.redis_url or "registry" in runtime.addresses:
            return runtime.versions
        return UNREADABLE_BOARD

    async def start(self) -> None:
        self.upkeep.start()
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self.upkeep.stop()
        await self._registry_channel.close()
        await self.database.dispose()


def build(runtime: Runtime) -> TokenComponent:
    return TokenComponent(runtime)
