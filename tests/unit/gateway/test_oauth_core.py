"""The framework-free OAuth core: token requests parsed (RFC 6749 §2.3.1, §3.2; RFC 8707) and
responses rendered (§5.1, §5.2)."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from services.common.grpc_errors import RemoteError
from services.gateway.oauth.client_auth import BASIC, NONE, POST
from services.gateway.oauth.errors import OAuthError, from_remote
from services.gateway.oauth.token_request import parse_token_request
from services.gateway.oauth.token_response import render_token

FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_basic_credentials_are_form_urldecoded() -> None:
    request = parse_token_request(
        FORM, basic("tc%3Aa", "s%2Bb"), b"grant_type=client_credentials&scope=a+b"
    )
    assert (request.client.client_id, request.client.secret) == ("tc:a", "s+b")
    assert request.client.method == BASIC
    assert (request.grant_type, request.scope) == ("client_credentials", "a b")


def test_form_credentials_are_client_secret_post_and_an_id_alone_is_none() -> None:
    posted = parse_token_request(FORM, "", b"grant_type=x&client_id=tc_1&client_secret=s")
    public = parse_token_request(FORM, "", b"grant_type=x&client_id=tc_1")
    assert (posted.client.method, public.client.method) == (POST, NONE)


def test_resource_may_repeat_and_keeps_its_order() -> None:
    request = parse_token_request(FORM, "", b"resource=https%3A%2F%2Fa&resource=urn%3Ab")
    assert request.resources == ("https://a", "urn:b")


@pytest.mark.parametrize(
    ("content_type", "authorization", "body", "message"),
    [
        ("application/json", "", b"{}", "application/x-www-form-urlencoded"),
        (FORM, "", b"grant_type=a&grant_type=b", "'grant_type' is repeated"),
        (FORM, "Basic !!!", b"grant_type=a", "not base64"),
        (FORM, "Basic " + base64.b64encode(b"no-colon").decode(), b"", "client_id:client_secret"),
        (FORM, basic("tc_1", "s"), b"client_secret=s", "one client authentication method"),
        (FORM, basic("tc_1", "s"), b"client_id=tc_2", "differs from the Basic"),
    ],
)
def test_malformed_requests_are_invalid_request_saying_what_is_wrong(
    content_type: str, authorization: str, body: bytes, message: str
) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_token_request(content_type, authorization, body)
    assert caught.value.error == "invalid_request"
    assert message in caught.value.description


def test_an_authorization_header_of_another_scheme_is_not_client_authentication() -> None:
    request = parse_token_request(FORM, "Bearer abc", b"client_id=tc_1&client_secret=s")
    assert (request.client.client_id, request.client.method) == ("tc_1", POST)


def test_errors_render_as_rfc6749_json_never_cached() -> None:
    rendered = OAuthError("invalid_scope", "no such scope").render()
    headers = dict(rendered.headers)
    assert rendered.status == 400
    assert json.loads(rendered.body) == {
        "error": "invalid_scope",
        "error_description": "no such scope",
    }
    assert (headers[b"cache-control"], headers[b"pragma"]) == (b"no-store", b"no-cache")


@pytest.mark.parametrize(
    ("code", "basic_used", "status", "error", "challenge"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, True, 401, "invalid_client", b'Basic realm="tessera"'),
        (grpc.StatusCode.UNAUTHENTICATED, False, 401, "invalid_client", b"Bearer"),
        (grpc.StatusCode.PERMISSION_DENIED, False, 400, "unauthorized_client", None),
        (grpc.StatusCode.UNAVAILABLE, False, 503, "temporarily_unavailable", None),
        (grpc.StatusCode.INTERNAL, False, 500, "server_error", None),
    ],
)
def test_service_failures_map_to_oauth_errors(
    code: grpc.StatusCode, basic_used: bool, status: int, error: str, challenge: bytes | None
) -> None:
    rendered = from_remote(RemoteError(code, "why"), basic_auth_used=basic_used).render()
    headers = dict(rendered.headers)
    assert (rendered.status, json.loads(rendered.body)["error"]) == (status, error)
    assert headers.get(b"www-authenticate") == challenge
    assert (b"retry-after" in headers) == (status == 503)


def test_a_service_may_name_the_oauth_error_itself() -> None:
    named = RemoteError(
        grpc.StatusCode.INVALID_ARGUMENT, "bad", metadata={"oauth_error": "invalid_target"}
    )
    assert from_remote(named, basic_auth_used=False).error == "invalid_target"


def test_a_token_response_carries_only_what_was_issued() -> None:
    bare = json.loads(render_token("t", "Bearer", 900).body)
    full = json.loads(render_token("t", "Bearer", 900, scope="a b", refresh_token="r").body)
    assert bare == {"access_token": "t", "token_type": "Bearer", "expires_in": 900}
    assert full["scope"] == "a b"
    assert full["refresh_token"] == "r"
    assert "id_token" not in full
