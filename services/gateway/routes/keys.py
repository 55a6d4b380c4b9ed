"""Admin REST API for a tenant's signing keys (``/api/v1/tenants/{tenant}/signing-keys``):
translates HTTP to the token service's ListSigningKeys / RotateSigningKey, nothing more.

The caller's bearer token is forwarded; the token service authenticates and authorises it
(``key:read`` / ``key:write``). Errors come back as RemoteError and are rendered once, as
problem+json, by the app.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from tessera.token.v1 import token_pb2 as pb

from services.gateway.access import GatedRoute
from services.gateway.clients import call
from services.gateway.routes.admin import Bearer, Clients

router = APIRouter(prefix="/api/v1", route_class=GatedRoute)

Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class SigningKeyView(BaseModel):
    kid: str = Field(description="The key id: its RFC 7638 thumbprint, as in the JWKS.")
    alg: str = Field(description="ES256 or EdDSA (Ed25519).")
    state: str = Field(description="next (published, not signing yet), current, retired.")
    created_at: str
    activates_at: str | None = Field(default=None, description="A next key starts signing then.")
    activated_at: str | None = None
    publish_until: str | None = Field(
        default=None, description="A retired key leaves the JWKS then (its last token has expired)."
    )


class SigningKeyList(BaseModel):
    items: list[SigningKeyView]


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alg: Literal["ES256", "EdDSA"] | None = Field(
        default=None, description="The new key's algorithm; null keeps the current key's."
    )
    lead_seconds: Int32 | None = Field(
        default=None,
        description="How long the new key is published before it signs; null = the "
        "configured default (TESSERA_KEY_ROTATION_LEAD_SECONDS). At least the JWKS max-age.",
    )


def _time(message: Any, name: str) -> str | None:
    return getattr(message, name).ToJsonString() if message.HasField(name) else None


def key_view(key: pb.SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created_at": key.created_at.ToJsonString(),
        "activates_at": _time(key, "activates_at"),
        "activated_at": _time(key, "activated_at"),
        "publish_until": _time(key, "publish_until"),
    }


@router.get(
    "/tenants/{tenant}/signing-keys",
    tags=["keys"],
    summary="The tenant's published signing keys and their windows",
    response_model=SigningKeyList,
)
async def list_signing_keys(tenant: str, c: Clients, token: Bearer) -> dict[str, Any]:
    result = await call(
        c.token.ListSigningKeys, pb.ListSigningKeysRequest(tenant=tenant), bearer=token
    )
    return {"items": [key_view(k) for k in result.keys]}


@router.post(
    "/tenants/{tenant}/signing-keys/rotate",
    status_code=201,
    tags=["keys"],
    summary="Start a key rotation: the new key is published now and signs after its lead time",
    response_model=SigningKeyView,
    description="The key it replaces is retired then and stays published until every token "
    "it signed has expired. One rotation at a time: 409 ROTATION_PENDING while the previous "
    "one's key has not started signing.",
)
async def rotate_signing_key(
    tenant: str, c: Clients, token: Bearer, response: Response, body: Rotation | None = None
) -> dict[str, Any]:
    body = body or Rotation()
    result = await call(
        c.token.RotateSigningKey,
        pb.RotateSigningKeyRequest(
            tenant=tenant, alg=body.alg or "", lead_seconds=body.lead_seconds or 0
        ),
        bearer=token,
    )
    response.headers["Cache-Control"] = "no-store"
    return key_view(result)
