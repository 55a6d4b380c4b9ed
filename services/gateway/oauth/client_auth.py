"""Client authentication at the token endpoint (RFC 6749 §2.3.1): HTTP Basic with the
form-urlencoded client id and secret, or both in the request body (``client_secret_post``),
never both at once (§2.3: "The client MUST NOT use more than one authentication method in
each request"); a public client sends only its ``client_id`` (§2.3.1, §3.2.1)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from services.gateway.oauth.errors import invalid_request

BASIC = "client_secret_basic"
POST = "client_secret_post"
NONE = "none"


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str
    method: str  # client_secret_basic | client_secret_post | none

    @property
    def basic(self) -> bool:
        return self.method == BASIC


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        problem = "its value is not base64 of UTF-8 text"
    else:
        client_id, sep, secret = decoded.partition(":")
        if sep and client_id:
            return unquote_plus(client_id), unquote_plus(secret)
        problem = "the decoded value is not 'client_id:client_secret'"
    raise invalid_request(
        f"The Authorization header is not valid HTTP Basic: {problem}. Send "
        "'Basic base64(urlencode(client_id) + \":\" + urlencode(client_secret))' "
        "(RFC 6749 §2.3.1), or client_id and client_secret as form fields."
    )


def client_credentials(authorization: str, params: Mapping[str, str]) -> ClientCredentials:
    """The client's credentials from the Authorization header or the body; OAuthError
    (invalid_request) for a malformed header or two methods at once."""
    basic = _basic(authorization) if authorization else None
    if basic is None:
        secret = params.get("client_secret", "")
        return ClientCredentials(params.get("client_id", ""), secret, POST if secret else NONE)
    if "client_secret" in params:
        raise invalid_request("Use one client authentication method, not Basic and form both.")
    if params.get("client_id") not in (None, basic[0]):
        raise invalid_request("client_id in the body differs from the Basic credentials.")
    return ClientCredentials(basic[0], basic[1], BASIC)
