"""Start the platform exactly as the README's first command does (``make run``), as a
subprocess, paste the quickstart it prints into bash, and verify the token it yields."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    def __init__(self, process: subprocess.Popen[str], log: Path, url: str) -> None:
        self.process = process
        self.log = log
        self.url = url

    @property
    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        TESSERA_DATA_DIR=str(tmp_path_factory.mktemp("data")),
        TESSERA_HTTP_PORT=str(port),
        TESSERA_PUBLIC_URL=url,
        TESSERA_REGISTRY_LISTEN="127.0.0.1:0",
        TESSERA_TOKEN_LISTEN="127.0.0.1:0",
        TESSERA_INVITES_LISTEN="127.0.0.1:0",
    )
    log = tmp_path_factory.mktemp("log") / "run.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            text = log.read_text()
            if "Quickstart" in text and text.rstrip().endswith("jwks.json; echo"):
                break
            if process.poll() is not None:
                pytest.fail(f"make run exited early:\n{text}")
            time.sleep(0.2)
        else:
            pytest.fail(f"make run printed no quickstart within 120 s:\n{log.read_text()}")
        yield Running(process, log, url)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _quickstart(text: str) -> str:
    block = text.split("Quickstart (paste into a shell):", 1)[1]
    return textwrap.dedent(block).strip() + "\n"


def test_quickstart_pasted_into_bash_mints_a_verifiable_token(running: Running) -> None:
    script = _quickstart(running.text)
    assert running.url in script
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    tenant, region, app, token, discovery, jwks = documents
    assert tenant["slug"] == "acme"
    assert region["databases"] == [{"db_code": "eu-west-db1", "active": True}]
    assert app["client_secret"].startswith("tsk_")
    assert discovery["issuer"] == f"{running.url}/t/acme"

    header = jwt.get_unverified_header(token["access_token"])
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        token["access_token"],
        key.key,
        algorithms=["ES256"],
        audience=f"{running.url}/t/acme/apps/billing",
        issuer=f"{running.url}/t/acme",
    )
    assert header["typ"] == "at+jwt"
    assert claims["client_id"] == app["client_id"]
    assert claims["db_code"] == "eu-west-db1"


def test_every_grpc_server_answers_health_and_the_gateway_serves_openapi(running: Running) -> None:
    addresses = re.findall(r"address=(\S+) service=(registry|token|invites)", running.text)
    assert {service for _, service in addresses} == {"registry", "token", "invites"}
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for address, _service in addresses:
        with grpc.insecure_channel(address) as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
    spec = httpx.get(f"{running.url}/openapi.json", timeout=10).json()
    assert "/api/v1/tenants/{tenant}/apps" in spec["paths"]


def test_sigterm_stops_services_in_reverse_start_order(running: Running) -> None:
    """Runs last: stopping is graceful and ordered gateway → invites → token → registry."""
    os.killpg(running.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while (
        not re.search(r"service stopped\s+service=registry", running.text)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    tail = running.text.split("shutting down", 1)[1]
    stopped = re.findall(r"service stopped\s+service=(\w+)", tail)
    assert stopped == ["gateway", "invites", "token", "registry"]
