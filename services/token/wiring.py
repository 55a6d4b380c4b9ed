"""Builds the token component."""

from __future__ import annotations

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.auth import CONTROL_PLANE_TENANT
from services.common.db import Database
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.grpc_server import GrpcServer, LazyChannel
from services.common.runtime import Runtime, utc_now
from services.token.domain.grants import TokenService, mint_service_token
from services.token.domain.keys import KeyService
from services.token.registry_client import GrpcClientResolver, ServiceCredentials
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

        resolver = GrpcClientResolver(self._registry_channel, ServiceCredentials(mint))
        self.keys = KeyService(
            SqlKeyStore(self.database),
            EnvelopeCipher(Keyring.parse(runtime.keys.encryption_keys)),
            resolver,
            now=utc_now,
        )
        self.tokens = TokenService(self.keys, resolver, settings.issuer)
        servicer = TokenServicer(self.tokens, self.keys)
        self._server = GrpcServer(
            "token",
            settings.token_listen,
            [lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)],
            [token_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name],
        )

    @property
    def address(self) -> str:
        return self._server.address

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self._registry_channel.close()
        await self.database.dispose()


def build(runtime: Runtime) -> TokenComponent:
    return TokenComponent(runtime)
