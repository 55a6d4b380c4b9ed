"""One gRPC→HTTP table, total over every status code; domain kinds map onto gRPC codes."""

from __future__ import annotations

import json

import grpc
import pytest

from services.common.errors import ErrorKind, FieldViolation
from services.common.grpc_errors import KIND_TO_CODE, RemoteError
from services.gateway.oauth.errors import from_remote
from services.gateway.problems import GRPC_TO_HTTP, problem_from_remote

EXPECTED_HTTP = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 503,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 412,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_every_grpc_status_code_has_its_http_status(code: grpc.StatusCode) -> None:
    assert GRPC_TO_HTTP[code] == EXPECTED_HTTP[code.name]


@pytest.mark.parametrize(
    "code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK], ids=lambda c: c.name
)
def test_every_error_status_renders_as_problem_json(code: grpc.StatusCode) -> None:
    response = problem_from_remote(
        RemoteError(code, "what went wrong", "SOME_REASON"), instance="/x"
    )
    body = json.loads(bytes(response.body))
    assert response.status_code == EXPECTED_HTTP[code.name]
    assert response.media_type == "application/problem+json"
    assert body["status"] == response.status_code
    assert body["reason"] == "SOME_REASON"
    assert body["detail"] == "what went wrong"
    assert body["type"].endswith("/some-reason")


def test_every_domain_error_kind_has_a_grpc_code() -> None:
    assert set(KIND_TO_CODE) == set(ErrorKind)


def test_validation_problem_lists_fields() -> None:
    error = RemoteError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad",
        "VALIDATION_FAILED",
        violations=[FieldViolation("slug", "SLUG_INVALID", "use kebab-case")],
    )
    body = json.loads(bytes(problem_from_remote(error).body))
    assert body["errors"] == [
        {"field": "slug", "reason": "SLUG_INVALID", "message": "use kebab-case"}
    ]


def test_blockers_are_listed_in_conflict_problems() -> None:
    error = RemoteError(
        grpc.StatusCode.FAILED_PRECONDITION, "in use", "APP_IN_USE", blockers=["client:tc_1"]
    )
    response = problem_from_remote(error)
    assert response.status_code == 409
    assert json.loads(bytes(response.body))["blockers"] == ["client:tc_1"]


def test_oauth_invalid_client_is_401_with_basic_challenge() -> None:
    error = RemoteError(
        grpc.StatusCode.UNAUTHENTICATED,
        "Client authentication failed.",
        "INVALID_CLIENT",
        metadata={"oauth_error": "invalid_client"},
    )
    response = from_remote(error, basic_auth_used=True).render()
    assert response.status == 401
    assert dict(response.headers)[b"www-authenticate"] == b'Basic realm="tessera"'
    assert json.loads(response.body) == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }


def test_oauth_internal_errors_are_server_error_500() -> None:
    response = from_remote(
        RemoteError(grpc.StatusCode.INTERNAL, "ref abc"), basic_auth_used=False
    ).render()
    assert response.status == 500
    assert json.loads(response.body)["error"] == "server_error"


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED], ids=lambda c: c.name
)
def test_dependency_failures_are_503_with_retry_after_on_both_surfaces(
    code: grpc.StatusCode,
) -> None:
    error = RemoteError(code, "A Tessera service is unreachable; retry shortly.", "X")
    admin = problem_from_remote(error)
    oauth = from_remote(error, basic_auth_used=False).render()
    assert (admin.status_code, admin.headers["retry-after"]) == (503, "2")
    assert (oauth.status, dict(oauth.headers)[b"retry-after"]) == (503, b"2")
    assert json.loads(oauth.body)["error"] == "temporarily_unavailable"
