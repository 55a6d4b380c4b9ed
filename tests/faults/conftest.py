"""The platform as four separate processes, on PostgreSQL and Redis reached through proxies.

The machine's PostgreSQL and Redis are shared with other tests, so they are never stopped:
each sits behind a loopback TCP proxy (``TcpProxy``) and "PostgreSQL stops" means that
proxy drops every open connection and refuses new ones; "PostgreSQL starts" means it
accepts again. The services run exactly as the README's "Running services separately"
describes (``tessera migrate`` first, then ``python -m services.<name>`` each) on fixed
loopback ports, so a killed process can be restarted where its peers expect it. Each
session gets its own schemas (``flt<hex>_registry`` ...), dropped at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
TESSERA = ROOT / ".venv" / "bin" / "tessera"
SERVICES = ("registry", "token", "invites", "gateway")  # start order
CONTEXTS = ("registry", "token", "invites")
FIRST_START_SECONDS = 90.0
READY_SECONDS = 30.0


class TcpProxy:
    """A loopback TCP relay to one upstream server, run on its own thread and event loop
    (so it keeps relaying while a test blocks). ``stop()`` aborts every open connection and
    closes the listening socket (new connections are refused); ``start()`` listens again
    on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0  # connections relayed since creation (proves traffic goes through)
        self.cut = 0  # open connections aborted by stop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        self._run(self._listen())

    def stop(self) -> None:
        self._run(self._cut())

    def close(self) -> None:
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay, "127.0.0.1", self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.cut += len(self._writers) // 2
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _shutdown(self) -> None:
        await self._cut()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # stopped while we dialled upstream
            up_writer.transport.abort()
            writer.transport.abort()
            return
        self.accepted += 1
        pair = {writer, up_writer}
        self._writers |= pair

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= pair


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@dataclass
class Service:
    name: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    sink: IO[bytes] | None = None
    starts: int = 0


class SeparatePlatform:
    """registry, token, invites and gateway as four OS processes (production mode)."""

    def __init__(self, env: dict[str, str], ports: dict[str, int], logs: Path) -> None:
        self.env = env
        self.ports = ports
        self.logs = logs
        self.services = {name: Service(name, logs / f"{name}.log") for name in SERVICES}
        # Extra replicas: name -> (module it runs, environment overrides).
        self.replicas: dict[str, tuple[str, dict[str, str]]] = {}
        self.gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        self.admin_client_id = env["TESSERA_BOOTSTRAP_ADMIN_CLIENT_ID"]
        self.admin_secret = env["TESSERA_BOOTSTRAP_ADMIN_SECRET"]

    # -- processes ------------------------------------------------------------------------

    def spawn(self, name: str) -> None:
        """Start ``name`` (again); returns at once, without waiting for it to listen."""
        service = self.services[name]
        assert service.process is None or service.process.poll() is not None
        if service.sink is None:
            service.sink = service.log.open("ab")
        service.starts += 1
        service.sink.write(f"\n===== start #{service.starts} of {name} =====\n".encode())
        service.sink.flush()
        module, overrides = self.replicas.get(name, (name, {}))
        service.process = subprocess.Popen(
            [str(PYTHON), "-m", f"services.{module}"],
            cwd=ROOT,
            env={**self.env, **overrides},
            stdin=subprocess.DEVNULL,
            stdout=service.sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def add_replica(self, name: str, module: str, port: int, overrides: dict[str, str]) -> None:
        """Another process of ``module`` (e.g. a second token service) on ``port``."""
        self.replicas[name] = (module, overrides)
        self.ports[name] = port
        self.services[name] = Service(name, self.logs / f"{name}.log")

    def alive(self, name: str) -> bool:
        process = self.services[name].process
        return process is not None and process.poll() is None

    def wait_listening(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive(name):
                pytest.fail(f"{name} exited while starting.\n{self.diagnostics()}", pytrace=False)
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.ports[name]), timeout=0.5).close()
                return
            time.sleep(0.1)
        pytest.fail(
            f"{name} did not listen on 127.0.0.1:{self.ports[name]} within {timeout:.0f} s.\n"
            + self.diagnostics(),
            pytrace=False,
        )

    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, no health flip, in-flight calls are lost."""
        process = self.services[name].process
        assert process is not None, f"{name} was never started"
        assert process.poll() is None, f"{name} is not running"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def terminate_all(self) -> None:
        for name in [*reversed(self.replicas), *reversed(SERVICES)]:
            process = self.services[name].process
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        for service in self.services.values():
            if service.sink is not None:
                service.sink.close()
                service.sink = None

    def tail(self, name: str, lines: int = 25) -> str:
        service = self.services[name]
        if service.sink is not None:
            service.sink.flush()
        if not service.log.exists():
            return "(no output)"
        text_lines = service.log.read_text(errors="replace").splitlines()
        return "\n".join(text_lines[-lines:]) or "(no output)"

    def diagnostics(self) -> str:
        parts = []
        for name, service in self.services.items():
            process = service.process
            state = (
                "never started"
                if process is None
                else ("running" if process.poll() is None else f"exited {process.returncode}")
            )
            parts.append(f"--- {name} ({state}, log {service.log}) ---\n{self.tail(name)}")
        return "\n".join(parts)

    # -- readiness ------------------------------------------------------------------------

    def operator_token(self, http: httpx.Client) -> httpx.Response:
        return http.post(
            f"{self.gateway_url}/t/control-plane/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(self.admin_client_id, self.admin_secret),
        )

    def wait_ready(self, timeout: float) -> str:
        """Poll /healthz, an operator token and an admin read until all answer 200; returns
        the operator's access token."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=5) as http:
            while time.monotonic() < deadline:
                for name in SERVICES:
                    if not self.alive(name):
                        pytest.fail(
                            f"{name} exited before the platform was ready.\n{self.diagnostics()}",
                            pytrace=False,
                        )
                try:
                    health = http.get(f"{self.gateway_url}/healthz")
                    last = f"/healthz {health.status_code} {health.text[:200]}"
                    if health.status_code == 200:
                        token = self.operator_token(http)
                        last = f"operator token {token.status_code} {token.text[:300]}"
                        if token.status_code == 200:
                            bearer = token.json()["access_token"]
                            read = http.get(
                                f"{self.gateway_url}/api/v1/tenants/control-plane",
                                headers={"Authorization": f"Bearer {bearer}"},
                            )
                            last = f"admin read {read.status_code} {read.text[:300]}"
                            if read.status_code == 200:
                                return str(bearer)
                except httpx.HTTPError as error:
                    last = f"{type(error).__name__}: {error}"
                time.sleep(0.25)
        pytest.fail(
            f"the platform was not ready within {timeout:.0f} s (last: {last}).\n"
            + self.diagnostics(),
            pytrace=False,
        )


@dataclass
class Faults:
    platform: SeparatePlatform
    postgres: TcpProxy
    redis: TcpProxy


def _proxy_for(host: str | None, port: int | None, what: str) -> TcpProxy:
    if not host or not port:
        pytest.fail(
            f"the fault suite proxies {what} over TCP and needs a host:port URL for it "
            "(set TESSERA_TEST_DATABASE_URL / TESSERA_TEST_REDIS_URL, see tests/conftest.py)",
            pytrace=False,
        )
    proxy = TcpProxy(host, port)
    proxy.start()
    return proxy


@pytest.fixture(scope="session")
def faults(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faults]:
    for path in (PYTHON, TESSERA):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `make setup` first.", pytrace=False)
    real_db = make_url(database_url)
    postgres = _proxy_for(real_db.host, real_db.port or 5432, "PostgreSQL")
    real_redis = urlsplit(redis_url)
    redis = _proxy_for(real_redis.hostname, real_redis.port or 6379, "Redis")
    prefix = f"flt{uuid.uuid4().hex[:8]}_"
    proxied_db = real_db.set(host="127.0.0.1", port=postgres.port)
    auth = real_redis.netloc.rpartition("@")[0]
    proxied_redis = urlunsplit(
        real_redis._replace(netloc=f"{auth + '@' if auth else ''}127.0.0.1:{redis.port}")
    )
    ports = {name: free_port() for name in SERVICES}
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        PYTHONUNBUFFERED="1",
        TESSERA_MODE="production",
        TESSERA_PUBLIC_URL=gateway_url,
        TESSERA_DATA_DIR=str(tmp_path_factory.mktemp("faults-data")),
        TESSERA_DATABASE_URL=proxied_db.render_as_string(hide_password=False),
        TESSERA_DB_SCHEMA_PREFIX=prefix,
        TESSERA_REDIS_URL=proxied_redis,
        TESSERA_HTTP_HOST="127.0.0.1",
        TESSERA_HTTP_PORT=str(ports["gateway"]),
        TESSERA_ENCRYPTION_KEYS=_key("flt1"),
        TESSERA_SECRET_PEPPERS=_key("p1"),
        TESSERA_BOOTSTRAP_ADMIN_CLIENT_ID="tessera-admin",
        TESSERA_BOOTSTRAP_ADMIN_SECRET="tsk_" + secrets.token_urlsafe(32),
        TESSERA_SHUTDOWN_GRACE_SECONDS="1",
        TESSERA_LOG_LEVEL="INFO",
    )
    for name in CONTEXTS:
        address = f"127.0.0.1:{ports[name]}"
        env[f"TESSERA_{name.upper()}_LISTEN"] = address
        env[f"TESSERA_{name.upper()}_TARGET"] = address
    platform = SeparatePlatform(env, ports, tmp_path_factory.mktemp("faults-logs"))
    try:
        migrated = subprocess.run(
            [str(TESSERA), "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if migrated.returncode != 0:
            pytest.fail(
                f"`tessera migrate` failed ({migrated.returncode}):\n"
                f"{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}",
                pytrace=False,
            )
        # All four boot at once (imports dominate); gRPC channels dial on first use.
        for name in SERVICES:
            platform.spawn(name)
        for name in SERVICES:
            platform.wait_listening(name, FIRST_START_SECONDS)
        platform.wait_ready(FIRST_START_SECONDS)
        if postgres.accepted == 0:
            pytest.fail(
                "the platform answered without a single connection through the PostgreSQL "
                "proxy: TESSERA_DATABASE_URL is not honoured, faults cannot be injected.",
                pytrace=False,
            )
        yield Faults(platform, postgres, redis)
    finally:
        platform.terminate_all()
        postgres.close()
        redis.close()
        engine = create_engine(database_url)
        try:
            with engine.begin() as connection:
                for context in CONTEXTS:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{context}" CASCADE'))
        finally:
            engine.dispose()


@pytest.fixture
def healthy(faults: Faults) -> Faults:
    """Every dependency up and every process running before a test; a previous test that
    left something down is repaired here (or the test fails saying what is broken)."""
    for proxy in (faults.postgres, faults.redis):
        if not proxy.running:
            proxy.start()
    platform = faults.platform
    for name in SERVICES:
        if not platform.alive(name):
            platform.spawn(name)
            platform.wait_listening(name, READY_SECONDS)
    platform.wait_ready(READY_SECONDS)
    return faults
