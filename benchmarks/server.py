"""``tessera serve`` as the benchmark runs it: one process tree of its own, on a backend of its
own (a fresh data directory; on PostgreSQL its own schemas, on Redis its own database number
and key namespace), optionally pinned to CPUs, stopped and cleaned up afterwards."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis
from sqlalchemy import create_engine, text

from services.common.settings import CONTEXTS, Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
TESSERA = REPO / ".venv" / "bin" / "tessera"
SCHEMA_PREFIX = "tbench_"  # PostgreSQL schemas tbench_registry, ...; Redis keys tessera:tbench_*
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"


@dataclass(frozen=True)
class Backend:
    """Where ``tessera serve`` keeps its state. ``database_url`` None: the embedded default
    (SQLite files in the data directory, in-process cache and change bus)."""

    name: str
    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None

    @classmethod
    def embedded(cls, data_dir: Path) -> Backend:
        return cls("embedded", data_dir)

    @classmethod
    def postgres(cls, data_dir: Path, database_url: str, redis_url: str) -> Backend:
        return cls("postgres", data_dir, database_url, redis_url)

    def describe(self) -> str:
        if self.database_url is None:
            return f"embedded (SQLite in {self.data_dir}, in-process cache)"
        return (
            f"PostgreSQL {_safe(self.database_url)} schemas {SCHEMA_PREFIX}*, "
            f"Redis {_safe(self.redis_url or '')} keys tessera:{SCHEMA_PREFIX}*"
        )

    def settings(self) -> Settings:
        """The settings ``tessera serve`` gets from :meth:`environment` (for direct access to
        its databases)."""
        return load_settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            redis_url=self.redis_url,
            db_schema_prefix=SCHEMA_PREFIX if self.database_url else "",
        )

    def environment(self, http_port: int) -> dict[str, str]:
        """The server's environment: the caller's minus every TESSERA_ variable, plus these."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        env.update(
            TESSERA_MODE="development",
            TESSERA_DATA_DIR=str(self.data_dir),
            TESSERA_HTTP_HOST="127.0.0.1",
            TESSERA_HTTP_PORT=str(http_port),
            TESSERA_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
            TESSERA_REGISTRY_LISTEN="127.0.0.1:0",
            TESSERA_TOKEN_LISTEN="127.0.0.1:0",
            TESSERA_INVITES_LISTEN="127.0.0.1:0",
            TESSERA_LOG_LEVEL="WARNING",
        )
        if self.database_url is not None:
            env.update(
                TESSERA_DATABASE_URL=self.database_url,
                TESSERA_REDIS_URL=self.redis_url or "",
                TESSERA_DB_SCHEMA_PREFIX=SCHEMA_PREFIX,
            )
        return env

    def reset(self) -> None:
        """Remove everything a previous run left: the data directory, the schemas, the keys."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        if self.database_url is None:
            return
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                for context in CONTEXTS:
                    connection.execute(
                        text(f'DROP SCHEMA IF EXISTS "{SCHEMA_PREFIX}{context}" CASCADE')
                    )
        finally:
            engine.dispose()
        client = redis.Redis.from_url(self.redis_url or DEFAULT_REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"tessera:{SCHEMA_PREFIX}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def remove(self) -> None:
        self.reset()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def postgres_and_redis_answer(database_url: str, redis_url: str) -> str | None:
    """None when both answer; otherwise why not."""
    engine = create_engine(database_url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        return f"PostgreSQL at {_safe(database_url)} does not answer ({type(exc).__name__})"
    finally:
        engine.dispose()
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {_safe(redis_url)} does not answer ({type(exc).__name__})"
    finally:
        client.close()
    return None


def _safe(url: str) -> str:
    """A URL without its password, for printing."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def free_port() -> int:
    """A free port below the usual ephemeral range (32768-60999), so that no outgoing
    connection of this machine takes it between this check and the server's bind."""
    for _ in range(100):
        port = random.randrange(20_000, 32_000)  # noqa: S311 - not a secret
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerFailed("no free TCP port in 20000-32000 on 127.0.0.1")


class ServerFailed(RuntimeError):
    pass


class Server:
    """One ``tessera serve`` (all four services in one process), in its own session so that
    stopping it stops everything it started."""

    def __init__(self, backend: Backend, log_path: Path, cpus: str | None) -> None:
        self.backend = backend
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.cpus = cpus
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, timeout: float = 90.0, attempts: int = 3) -> None:
        """Start and wait until the gateway answers; on another port when the chosen one was
        taken meanwhile (by anything else on this machine)."""
        for attempt in range(attempts):
            try:
                self._start(timeout)
                return
            except ServerFailed as failure:
                if "address already in use" not in str(failure) or attempt == attempts - 1:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"

    def _start(self, timeout: float) -> None:
        command = [str(TESSERA), "serve"]
        if self.cpus is not None:
            command = ["taskset", "-c", self.cpus, *command]  # taskset execs: same pid
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
                command,
                cwd=REPO,
                env=self.backend.environment(self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        ready = f"{self.url}/t/control-plane/.well-known/jwks.json"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerFailed(
                    f"tessera serve exited ({self._process.returncode}):\n{self._tail()}"
                )
            try:
                if httpx.get(ready, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerFailed(f"tessera serve did not answer within {timeout:.0f} s:\n{self._tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the server's session (graceful stop), SIGKILL if it outlives ``timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
