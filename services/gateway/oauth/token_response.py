"""Successful token responses (RFC 6749 §5.1): a JSON object with ``access_token``,
``token_type`` and ``expires_in`` (and ``scope`` when granted, ``refresh_token``/``id_token``
when issued), never cached."""

from __future__ import annotations

import json
from typing import Any

from services.gateway.oauth.errors import JSON, NO_STORE, Rendered


def render_token(
    access_token: str,
    token_type: str,
    expires_in: int,
    *,
    scope: str = "",
    refresh_token: str = "",
    id_token: str = "",
) -> Rendered:
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": expires_in,
    }
    if scope:
        body["scope"] = scope
    if refresh_token:
        body["refresh_token"] = refresh_token
    if id_token:
        body["id_token"] = id_token
    return Rendered(200, (JSON, *NO_STORE), json.dumps(body).encode())
