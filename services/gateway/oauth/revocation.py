"""Token revocation requests and responses (RFC 7009).

§2.1: ``POST`` with an ``application/x-www-form-urlencoded`` body holding ``token``
(required) and ``token_type_hint`` (optional; the server searches every type it supports
when the hint does not find the token), each at most once; the client authenticates as at the
token endpoint (RFC 6749 §2.3.1, services.gateway.oauth.client_auth). §2.2: 200 whether the
token was revoked or was not a valid token at all ("the client cannot handle such an error in
a reasonable way"); the body is empty, all there is to say is in the status. §2.2.1: errors
as at the token endpoint (RFC 6749 §5.2): a missing ``token`` is ``invalid_request``, a failed
client authentication ``invalid_client`` (401); a 503 means "retry; the token may still be
valid".
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.oauth.client_auth import ClientCredentials, client_credentials
from services.gateway.oauth.errors import NO_STORE, Rendered, invalid_request
from services.gateway.oauth.token_request import form_parameters


@dataclass(frozen=True)
class RevocationRequest:
    token: str
    token_type_hint: str
    client: ClientCredentials


def parse_revocation_request(
    content_type: str, authorization: str, body: bytes
) -> RevocationRequest:
    """A revocation request, or OAuthError (invalid_request) saying what is wrong."""
    params, _ = form_parameters(content_type, body)
    client = client_credentials(authorization, params)
    token = params.get("token", "")
    if not token:
        raise invalid_request(
            "The token parameter is required: the token to revoke (RFC 7009 §2.1)."
        )
    return RevocationRequest(token, params.get("token_type_hint", ""), client)


def render_revoked() -> Rendered:
    """§2.2: revoked, or nothing to revoke; the same 200 either way."""
    return Rendered(200, NO_STORE, b"")
