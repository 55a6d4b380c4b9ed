"""Token introspection requests and responses (RFC 7662).

§2.1: ``POST`` with an ``application/x-www-form-urlencoded`` body holding ``token``
(required) and ``token_type_hint`` (optional, a hint the server may ignore), each at most once;
the protected resource authenticates as a client (RFC 6749 §2.3.1: HTTP Basic or the body,
services.gateway.oauth.client_auth). §2.2: the answer is a JSON object whose ``active`` says
whether the token is active, with the token's members when it is. §2.3: a missing ``token`` is
``invalid_request``; a failed client authentication ``invalid_client`` (401). Answers are
never cached (§4: they reflect the token's state at the moment it was asked).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.oauth.client_auth import ClientCredentials, client_credentials
from services.gateway.oauth.errors import JSON, NO_STORE, Rendered, invalid_request
from services.gateway.oauth.token_request import form_parameters


@dataclass(frozen=True)
class IntrospectionRequest:
    token: str
    token_type_hint: str
    client: ClientCredentials


def parse_introspection_request(
    content_type: str, authorization: str, body: bytes
) -> IntrospectionRequest:
    """An introspection request, or OAuthError (invalid_request) saying what is wrong."""
    params, _ = form_parameters(content_type, body)
    client = client_credentials(authorization, params)
    token = params.get("token", "")
    if not token:
        raise invalid_request(
            "The token parameter is required: the token to introspect (RFC 7662 §2.1)."
        )
    return IntrospectionRequest(token, params.get("token_type_hint", ""), client)


def render_introspection(answer: bytes) -> Rendered:
    """The §2.2 answer, serialised by the token service, as it is sent."""
    return Rendered(200, (JSON, *NO_STORE), answer)
