"""Outages of Tessera's own dependencies are 503s, never the caller's fault (ARCHITECTURE §7)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import redis.exceptions
import sqlalchemy.exc

from services.common.auth import Authenticator, accept_every_tenant
from services.common.dependency_failures import is_dependency_failure
from services.common.errors import ErrorKind, Unavailable
from services.common.grpc_errors import RemoteError, UpstreamFailure
from services.token.registry_client import _registry_failure
from tessera_sdk.verifier import BaseTokenVerifier
from tests.unit.test_verifier import BASE, _key, _token


@pytest.mark.parametrize(
    "error",
    [
        sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()),
        sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("connection closed")),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        redis.exceptions.ConnectionError("refused"),
        ConnectionResetError(),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_outages_of_databases_caches_and_sockets_are_dependency_failures(
    error: Exception,
) -> None:
    assert is_dependency_failure(error)


def test_an_outage_wrapped_by_our_own_code_is_still_found() -> None:
    outer = RuntimeError("while loading the tenant")
    outer.__cause__ = ConnectionRefusedError("refused")
    assert is_dependency_failure(outer)


@pytest.mark.parametrize(
    "error", [ValueError("bug"), KeyError("x"), sqlalchemy.exc.IntegrityError("", {}, None)]
)
def test_bugs_and_constraint_violations_are_not_dependency_failures(error: Exception) -> None:
    assert not is_dependency_failure(error)


async def test_unreachable_keys_make_the_platform_unavailable_not_the_token_invalid() -> None:
    private, _ = _key("k1")

    class Down:
        async def fetch(self, tenant: str) -> dict[str, Any]:
            raise ConnectionRefusedError("token service down")

    authenticator = Authenticator(
        BaseTokenVerifier(BASE, Down(), accept_tenant=accept_every_tenant)
    )
    with pytest.raises(Unavailable) as caught:
        await authenticator.principal_from_bearer(_token(private))
    assert caught.value.reason == "KEYS_UNAVAILABLE"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "SERVICE_TIMEOUT"),
        # The registry refused the token service's own service token: not the end client's
        # credentials, so never invalid_client.
        (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED"),
        (grpc.StatusCode.UNAUTHENTICATED, "BEARER_MISSING"),
    ],
)
def test_registry_failures_reach_the_token_endpoint_as_unavailable(
    code: grpc.StatusCode, reason: str
) -> None:
    error = _registry_failure(RemoteError(code, "x", reason))
    assert error.kind is ErrorKind.UNAVAILABLE


def test_an_end_clients_bad_credentials_stay_invalid_client() -> None:
    error = _registry_failure(
        RemoteError(
            grpc.StatusCode.UNAUTHENTICATED,
            "Client authentication failed.",
            "INVALID_CLIENT",
            metadata={"oauth_error": "invalid_client"},
        )
    )
    assert error.kind is ErrorKind.UNAUTHENTICATED
    assert error.metadata["oauth_error"] == "invalid_client"


def test_an_upstream_bug_is_masked_as_ours_never_as_invalid_grant() -> None:
    with pytest.raises(UpstreamFailure):
        _registry_failure(
            RemoteError(grpc.StatusCode.INTERNAL, "Internal error; ref 1", "INTERNAL")
        )
