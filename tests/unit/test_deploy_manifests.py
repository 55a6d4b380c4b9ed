"""The Kubernetes manifests keep the operational contract of ARCHITECTURE §6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import SERVICES, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GRPC_PORTS = {"registry": 50051, "token": 50052, "invites": 50053}


def _documents() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((DEPLOY / "base").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in (DEPLOY / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_every_service_has_a_deployment_running_it_alone() -> None:
    deployments = _by_kind("Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", name]


@pytest.mark.parametrize("name", sorted(GRPC_PORTS))
def test_grpc_services_are_probed_with_the_standard_health_service(name: str) -> None:
    pod = _by_kind("Deployment")[name]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == GRPC_PORTS[name]
    assert container["livenessProbe"]["grpc"]["port"] == GRPC_PORTS[name]
    assert _by_kind("Service")[name]["spec"]["ports"][0]["port"] == GRPC_PORTS[name]


def test_pods_get_longer_to_stop_than_the_services_grace_period() -> None:
    grace = float(_by_kind("ConfigMap")["tessera-config"]["data"]["TESSERA_SHUTDOWN_GRACE_SECONDS"])
    for deployment in _by_kind("Deployment").values():
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace + 5


def test_configuration_is_production_valid_and_secrets_stay_out_of_the_repository() -> None:
    data = _by_kind("ConfigMap")["tessera-config"]["data"]
    assert data["TESSERA_MODE"] == "production"
    assert not {
        "TESSERA_DATABASE_URL",
        "TESSERA_REDIS_URL",
        "TESSERA_ENCRYPTION_KEYS",
        "TESSERA_SECRET_PEPPERS",
        "TESSERA_BOOTSTRAP_ADMIN_SECRET",
    } & set(data)
    assert not list(DEPLOY.rglob("*secret*.yaml"))
    fields = set(Settings.model_fields)
    assert {key.removeprefix("TESSERA_").lower() for key in data} <= fields
    for deployment in _by_kind("Deployment").values():
        sources = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"configMapRef": {"name": "tessera-config"}} in sources
        assert {"secretRef": {"name": "tessera-secrets"}} in sources


def test_migrations_run_as_a_job() -> None:
    job = _by_kind("Job")["tessera-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
