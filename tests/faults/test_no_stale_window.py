"""No stale window across token-service replicas (ARCHITECTURE §5; issue 9).

Two token-service processes, each behind its own gateway, cache client snapshots on PostgreSQL
and Redis. An admin write goes through the first gateway; the moment it has returned, a token
is minted through the second one, whose cache was warm with the facts before the write. It
must reflect the write: a role's new permissions, a disabled app, a retired plan, a
regenerated secret. Then the failure modes: with Redis gone the second replica still mints
(from the registry), with the registry gone it keeps minting from its cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tests.faults.conftest import Faults, free_port

pytestmark = pytest.mark.integration

ROUNDS = 3  # each change is made and checked this many times: a race rarely shows once


@dataclass
class Replicas:
    first: str  # gateway URL of the first token replica
    second: str  # gateway URL of the second


@pytest.fixture
def replicas(healthy: Faults) -> Replicas:
    platform = healthy.platform
    if "token-2" not in platform.replicas:
        token_port, gateway_port = free_port(), free_port()
        platform.add_replica(
            "token-2", "token", token_port, {"TESSERA_TOKEN_LISTEN": f"127.0.0.1:{token_port}"}
        )
        platform.add_replica(
            "gateway-2",
            "gateway",
            gateway_port,
            {
                "TESSERA_HTTP_PORT": str(gateway_port),
                "TESSERA_TOKEN_TARGET": f"127.0.0.1:{token_port}",
            },
        )
    for name in ("token-2", "gateway-2"):
        if not platform.alive(name):
            platform.spawn(name)
            platform.wait_listening(name, 60)
    return Replicas(platform.gateway_url, f"http://127.0.0.1:{platform.ports['gateway-2']}")


@dataclass
class Client:
    tenant: str
    client_id: str
    secret: str


class Admin:
    """The operator and a tenant admin, through the first gateway."""

    def __init__(self, http: httpx.Client, faults: Faults) -> None:
        self.http = http
        operator = faults.platform.operator_token(http)
        assert operator.status_code == 200, operator.text
        self.operator = {"Authorization": f"Bearer {operator.json()['access_token']}"}
        self.tenant = f"nsw-{uuid.uuid4().hex[:8]}"
        created = self.post("/api/v1/tenants", {"slug": self.tenant, "display_name": "NSW"}, True)
        admin = created["admin_client"]
        token = mint(http, Client(self.tenant, admin["client_id"], admin["client_secret"]))
        assert token.status_code == 200, token.text
        self.admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.region = f"r-{uuid.uuid4().hex[:8]}"
        region = {"code": self.region, "name": "R", "databases": [{"db_code": "db-1"}]}
        self.post("/api/v1/regions", region, True)

    def post(self, path: str, body: object, operator: bool = False) -> dict[str, object]:
        answer = self.http.post(path, json=body, headers=self.operator if operator else self.admin)
        assert answer.status_code in (200, 201), f"{path}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    def send(self, method: str, path: str, body: object, operator: bool = False) -> None:
        answer = self.http.request(
            method, path, json=body, headers=self.operator if operator else self.admin
        )
        assert answer.status_code in (200, 204), f"{path}: {answer.status_code} {answer.text}"

    def app(self, **fields: object) -> tuple[str, Client]:
        slug = f"a-{uuid.uuid4().hex[:8]}"
        body = {"slug": slug, "display_name": slug, "region": self.region, **fields}
        created = self.post(f"/api/v1/tenants/{self.tenant}/apps", body, "plan" in fields)
        return slug, Client(self.tenant, str(created["client_id"]), str(created["client_secret"]))


def mint(http: httpx.Client, client: Client, gateway: str = "") -> httpx.Response:
    return http.post(
        f"{gateway}/t/{client.tenant}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.secret),
    )


def claims(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    return dict(jwt.decode(response.json()["access_token"], options={"verify_signature": False}))


@pytest.fixture
def admin(healthy: Faults, replicas: Replicas) -> Iterator[Admin]:
    with httpx.Client(base_url=replicas.first, timeout=10) as http:
        yield Admin(http, healthy)


def test_a_roles_new_permissions_are_in_the_next_token_of_another_replica(
    admin: Admin, replicas: Replicas
) -> None:
    slug, client = admin.app()
    codes = [f"thing:op{i}" for i in range(ROUNDS + 1)]
    admin.post(
        f"/api/v1/tenants/{admin.tenant}/permissions/register",
        {"service": slug, "permissions": [{"code": c} for c in codes]},
    )
    admin.post(f"/api/v1/tenants/{admin.tenant}/roles", {"code": "worker", "name": "Worker"})
    admin.send(
        "PATCH", f"/api/v1/tenants/{admin.tenant}/clients/{client.client_id}", {"roles": ["worker"]}
    )
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        assert claims(mint(second, client))["permissions"] == []  # the second replica is warm
        for round_ in range(1, ROUNDS + 1):
            granted = [{"service": slug, "code": c} for c in codes[:round_]]
            admin.send(
                "PUT",
                f"/api/v1/tenants/{admin.tenant}/roles/worker/permissions",
                {"permissions": granted},
            )
            assert claims(mint(second, client))["permissions"] == sorted(codes[:round_])


def test_a_disabled_app_gets_no_token_from_another_replica_the_moment_the_write_returns(
    admin: Admin, replicas: Replicas
) -> None:
    slug, client = admin.app()
    path = f"/api/v1/tenants/{admin.tenant}/apps/{slug}"
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        for _ in range(ROUNDS):
            assert mint(second, client).status_code == 200
            admin.send("PATCH", path, {"enabled": False})
            refused = mint(second, client)
            assert refused.status_code == 400, refused.text
            assert "disabled" in refused.json()["error_description"]
            admin.send("PATCH", path, {"enabled": True})


def test_a_retired_plan_blocks_issuance_on_another_replica_at_once(
    admin: Admin, replicas: Replicas
) -> None:
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        for _ in range(ROUNDS):
            plan = f"p-{uuid.uuid4().hex[:8]}"
            admin.post("/api/v1/plans", {"code": plan, "name": "P", "limits": {"pages": 5}}, True)
            _, client = admin.app(plan=plan)
            assert claims(mint(second, client))["entitlements"] == {"pages": 5}
            admin.send("PATCH", f"/api/v1/plans/{plan}", {"status": "retired"}, True)
            refused = mint(second, client)
            assert refused.status_code == 400, refused.text
            assert "retired plan" in refused.json()["error_description"]


def test_a_regenerated_secret_is_refused_on_another_replica_at_once(
    admin: Admin, replicas: Replicas
) -> None:
    _, client = admin.app()
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        for _ in range(ROUNDS):
            assert mint(second, client).status_code == 200
            fresh = admin.post(
                f"/api/v1/tenants/{admin.tenant}/clients/{client.client_id}/secret", {}
            )
            assert mint(second, client).status_code == 401
            client = Client(client.tenant, client.client_id, str(fresh["client_secret"]))
            assert mint(second, client).status_code == 200


def test_with_redis_gone_the_other_replica_still_mints_from_the_registry(
    healthy: Faults, admin: Admin, replicas: Replicas
) -> None:
    _, client = admin.app()
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        assert mint(second, client).status_code == 200
        healthy.redis.stop()
        try:
            for _ in range(5):
                assert mint(second, client).status_code == 200
        finally:
            healthy.redis.start()


def test_with_the_registry_gone_a_warm_replica_keeps_minting_from_its_cache(
    healthy: Faults, admin: Admin, replicas: Replicas
) -> None:
    _, client = admin.app()
    platform = healthy.platform
    with httpx.Client(base_url=replicas.second, timeout=10) as second:
        assert mint(second, client).status_code == 200
        platform.kill("registry")
        try:
            for _ in range(5):
                assert mint(second, client).status_code == 200
        finally:
            platform.spawn("registry")
            platform.wait_listening("registry", 60)
