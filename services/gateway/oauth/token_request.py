"""Token requests (RFC 6749 §3.2: POST, ``application/x-www-form-urlencoded``, each parameter
at most once; §4.4.2 the client credentials grant; RFC 8707 §2: ``resource`` may repeat)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from services.gateway.oauth.client_auth import ClientCredentials, client_credentials
from services.gateway.oauth.errors import invalid_request

FORM = "application/x-www-form-urlencoded"
REPEATABLE = frozenset({"resource"})


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    client: ClientCredentials
    scope: str = ""
    app: str = ""  # Tessera: which of the client's apps, when it serves several
    resources: tuple[str, ...] = ()


def form_parameters(content_type: str, body: bytes) -> tuple[dict[str, str], list[str]]:
    """The single-valued parameters and the ``resource`` values of a form body."""
    if content_type.split(";")[0].strip().lower() != FORM:
        raise invalid_request(f"Send the parameters as {FORM}.")
    params: dict[str, str] = {}
    resources: list[str] = []
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key in REPEATABLE:
            resources.append(value)
        elif key in params:
            raise invalid_request(f"The parameter {key!r} is repeated.")
        else:
            params[key] = value
    return params, resources


def parse_token_request(content_type: str, authorization: str, body: bytes) -> TokenRequest:
    """A token request, or OAuthError (invalid_request) saying what is wrong with it. Which
    grant types exist and what each needs is the token service's to decide."""
    params, resources = form_parameters(content_type, body)
    return TokenRequest(
        grant_type=params.get("grant_type", ""),
        client=client_credentials(authorization, params),
        scope=params.get("scope", ""),
        app=params.get("app", ""),
        resources=tuple(resources),
    )
