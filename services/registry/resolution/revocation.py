"""Revocation check for tokens presented to the registry's admin API.

A signature proves who was given the token, not that they still may act: a deleted or
disabled client, a disabled user or a user whose token version moved on (membership revoked,
"log out everywhere") is refused at the next request (ARCHITECTURE §2), without waiting for the
token to expire. Service tokens are short-lived and checked by signature.
"""

from __future__ import annotations

from typing import Protocol

from services.registry.clients.store import ClientLookup
from services.registry.kernel.ports import BaseTx, UnitOfWork
from services.registry.resolution.store import ResolutionStore
from tessera_sdk.verifier import TokenRejected, VerifiedToken


class RevocationTx(BaseTx, Protocol):
    @property
    def resolution(self) -> ResolutionStore: ...
    @property
    def clients(self) -> ClientLookup: ...


class RegistryRevocationCheck:
    def __init__(self, uow: UnitOfWork[RevocationTx]) -> None:
        self._uow = uow

    async def __call__(self, token: VerifiedToken) -> None:
        claims = token.claims
        if claims.get("svc"):
            return
        async with self._uow.read() as tx:
            tenant = await tx.tenants.get(token.tenant)
            if tenant is None:
                raise TokenRejected("REVOKED", "The token's tenant no longer exists.")
            user_id = claims.get("uid")
            if user_id:
                user = await tx.resolution.user(tenant.id, str(user_id))
                if (
                    user is None
                    or user.status != "active"
                    or claims.get("tv") != user.token_version
                ):
                    raise TokenRejected("REVOKED", "The token was revoked; sign in again.")
                return
            client = await tx.clients.get(str(claims.get("client_id", "")))
            if client is None or client.tenant_id != tenant.id or not client.enabled:
                raise TokenRejected("REVOKED", "The client of this token was deleted or disabled.")
