"""The OAuth core's introspection (RFC 7662 §2.1, §2.2) and revocation (RFC 7009 §2.1, §2.2)
requests and responses."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from services.gateway.oauth.client_auth import BASIC, NONE, POST
from services.gateway.oauth.errors import OAuthError
from services.gateway.oauth.introspection import (
    parse_introspection_request,
    render_introspection,
)
from services.gateway.oauth.revocation import parse_revocation_request, render_revoked

FORM = "application/x-www-form-urlencoded"
PARSERS: dict[str, Callable[[str, str, bytes], Any]] = {
    "introspection": parse_introspection_request,
    "revocation": parse_revocation_request,
}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_a_token_with_its_hint_and_the_clients_credentials_are_read(kind: str) -> None:
    parse = PARSERS[kind]
    request = parse(FORM, basic("tc_1", "s%2B1"), b"token=a.b.c&token_type_hint=access_token")
    assert (request.token, request.token_type_hint) == ("a.b.c", "access_token")
    assert (request.client.client_id, request.client.secret, request.client.method) == (
        "tc_1",
        "s+1",
        BASIC,
    )
    posted = parse(FORM, "", b"token=t&client_id=tc_1&client_secret=s")
    assert (posted.client.method, posted.token_type_hint) == (POST, "")
    public = parse(FORM, "", b"token=t&client_id=tc_1")
    assert public.client.method == NONE


@pytest.mark.parametrize("kind", sorted(PARSERS))
@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (FORM, b"token_type_hint=access_token", "The token parameter is required"),
        (FORM, b"token=", "The token parameter is required"),
        (FORM, b"token=a&token=b", "'token' is repeated"),
        ("application/json", b'{"token": "a"}', "application/x-www-form-urlencoded"),
    ],
)
def test_a_malformed_request_is_invalid_request_saying_what_is_wrong(
    kind: str, content_type: str, body: bytes, message: str
) -> None:
    with pytest.raises(OAuthError) as caught:
        PARSERS[kind](content_type, basic("tc_1", "s"), body)
    assert (caught.value.error, caught.value.status) == ("invalid_request", 400)
    assert message in caught.value.description
    rfc = "RFC 7662 §2.1" if kind == "introspection" else "RFC 7009 §2.1"
    if "required" in message:
        assert rfc in caught.value.description


def test_an_introspection_answer_is_sent_as_json_never_cached() -> None:
    rendered = render_introspection(b'{"active":false}')
    headers = dict(rendered.headers)
    assert (rendered.status, json.loads(rendered.body)) == (200, {"active": False})
    assert headers[b"content-type"] == b"application/json"
    assert (headers[b"cache-control"], headers[b"pragma"]) == (b"no-store", b"no-cache")


def test_a_revocation_answer_is_an_empty_200_never_cached() -> None:
    rendered = render_revoked()
    assert (rendered.status, rendered.body) == (200, b"")
    assert dict(rendered.headers)[b"cache-control"] == b"no-store"
