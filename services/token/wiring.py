"""Builds the token component."""

from __future__ import annotations

from tessera.token.v1 import token_pb2, token_pb2_grpc

from services.common.auth import Authenticator, accept_every_tenant
from services.common.db import Database
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.grpc_compose import compose
from services.common.grpc_server import GrpcServer, LazyChannel
from services.common.hashing import PepperRing, SecretHasher
from services.common.runtime import Runtime, utc_now
from services.common.versions import UNREADABLE_BOARD, VersionBoard
from services.common.vocabulary import CONTROL_PLANE_TENANT
from services.token.domain.admin_tokens import ClientTokenStands
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.grants import TokenService, mint_service_token
from services.token.domain.keys import (
    FirstKeyProvisioner,
    KeyService,
    LocalJwksSource,
    RotationPolicy,
    SigningKeyAdmin,
)
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.introspection_servicer import IntrospectionServicer
from services.token.keys_servicer import KeysServicer
from services.token.registry_client import GrpcRegistry, ServiceCredentials
from services.token.servicer import TokenServicer
from services.token.storage.sql import SqlKeyStore
from tessera_sdk.verifier import BaseTokenVerifier


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
            policy=RotationPolicy(
                lead_seconds=settings.rotation_lead_seconds,
                min_lead_seconds=settings.jwks_cache_seconds,
                retire_margin_seconds=settings.key_retire_margin_seconds,
            ),
        )
        # The tenant's first key, made when the registry announces the tenant.
        self.first_keys = FirstKeyProvisioner(self.keys, runtime.changes)
        self.snapshots = SnapshotCache(registry, self._board(runtime))
        self.upkeep = SecretUpkeepReporter(registry, utc_now)
        self.tokens = TokenService(
            self.keys,
            self.snapshots,
            ClientAuthenticator(SecretHasher(PepperRing.parse(runtime.keys.secret_peppers))),
            self.upkeep,
            settings.issuer,
            max_token_bytes=settings.max_access_token_bytes,
        )
        descriptor = token_pb2.DESCRIPTOR.services_by_name["TokenService"]
        servicer = compose(
            descriptor,
            [
                TokenServicer(self.tokens, self.keys),
                IntrospectionServicer.assemble(
                    runtime, self.database, self.keys, self.snapshots, self.upkeep
                ),
                KeysServicer(SigningKeyAdmin(self.keys), self._own_authenticator(runtime)),
            ],
        )
        runtime.local["token"] = servicer
        self._server = GrpcServer(
            "token",
            settings.token_listen,
            [lambda server: token_pb2_grpc.add_TokenServiceServicer_to_server(servicer, server)],
            [descriptor.full_name],
        )

    @property
    def address(self) -> str:
        return self._server.address

    def _own_authenticator(self, runtime: Runtime) -> Authenticator:
        """Admin callers' bearer tokens, verified against this service's own keys (no call
        to itself)."""
        return Authenticator(
            BaseTokenVerifier(
                runtime.settings.public_url,
                LocalJwksSource(self.keys),
                accept_tenant=accept_every_tenant,
                revocation_check=ClientTokenStands(self.snapshots),
            )
        )

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
        await self.first_keys.start()
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self.first_keys.stop()
        await self.upkeep.stop()
        await self._registry_channel.close()
        await self.database.dispose()


def build(runtime: Runtime) -> TokenComponent:
    return TokenComponent(runtime)
