"""The token endpoint's and the JWKS' RPCs of TokenService: translate, call the domain,
translate back."""

from __future__ import annotations

import json
from typing import Any

import grpc
from tessera.token.v1 import token_pb2

from services.common.errors import NotFound
from services.token.domain.grants import TokenRequest, TokenService
from services.token.domain.keys import KeyService
from tessera_sdk.verifier import TENANT_SLUG


class TokenServicer:
    """Exchange and GetJwks; the other RPCs of TokenService live in their own servicers
    (services.token.wiring composes them)."""

    def __init__(self, tokens: TokenService, keys: KeyService) -> None:
        self._tokens = tokens
        self._keys = keys

    async def Exchange(
        self, request: token_pb2.ExchangeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> token_pb2.TokenResponse:
        issued = await self._tokens.exchange(
            TokenRequest(
                tenant=request.tenant,
                grant_type=request.grant_type,
                client_id=request.client_id,
                client_secret=request.client_secret,
                scope=request.scope,
                app=request.app,
                resource=tuple(request.resource),
            )
        )
        return token_pb2.TokenResponse(
            access_token=issued.access_token,
            token_type=issued.token_type,
            expires_in=issued.expires_in,
            scope=issued.scope,
        )

    async def GetJwks(
        self, request: token_pb2.GetJwksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> token_pb2.Jwks:
        if not TENANT_SLUG.fullmatch(request.tenant):
            # Looks exactly like an unknown tenant: a malformed name is one that does not exist.
            raise NotFound("TENANT_NOT_FOUND", f"There is no tenant {request.tenant!r}.")
        return token_pb2.Jwks(json=json.dumps(await self._keys.jwks(request.tenant)))
