"""The measurements of ``make bench``: wrk runs (benchmarks/wrk/request.lua) for repeated
requests, an asyncio httpx load generator for first mints (each request a different client),
and the SDK verifier in process. Each gives a :class:`Measurement`; a run whose failures
exceed :data:`MAX_FAILURE_RATIO` of its requests is invalid."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.seed import Credentials
from tessera_sdk.verifier import TokenVerifier

MAX_FAILURE_RATIO = 0.001  # more than 0.1 % failed requests: the run is INVALID
LUA = Path(__file__).resolve().parent / "wrk" / "request.lua"


@dataclass
class Measurement:
    """One row of a table. Latencies in milliseconds; ``available`` False: the endpoint does
    not exist on this build (a 404), nothing was measured.

    ``mean_ms`` of a wrk run is connections / throughput: wrk keeps every connection busy, so
    by Little's law that is the mean time a request took. wrk's own mean (``wrk_mean_ms``)
    should be the same, but on this machine it sometimes exceeds that bound by a factor of
    two while its p50 and throughput do not move (outliers of 120-190 ms that cannot all be
    real at that throughput); it is kept for reference, never used for a ratio."""

    backend: str
    section: str
    row: str
    connections: int = 0
    seconds: float = 0.0
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu_pct: float | None = None
    wrk_mean_ms: float | None = None
    available: bool = True
    note: str = ""
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        if not self.available:
            return True
        return self.requests > 0 and self.failures / self.requests <= MAX_FAILURE_RATIO

    def as_json(self) -> dict[str, Any]:
        document = {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }
        return {**document, "valid": self.valid, "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@dataclass(frozen=True)
class Request:
    """What wrk sends again and again, and what every 2xx answer must contain."""

    method: str = "GET"
    authorization: str = ""  # the whole header value, "" for none
    body: str = ""  # application/x-www-form-urlencoded
    expect: str = ""

    @classmethod
    def token(cls, client: Credentials) -> Request:
        return cls(
            "POST", basic_authorization(client), "grant_type=client_credentials", "access_token"
        )


def basic_authorization(client: Credentials) -> str:
    """RFC 6749 §2.3.1: client id and secret form-encoded, joined by ':', then base64."""
    pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class ProcessCpu:
    """CPU time used by a process and its descendants, from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks_per_second = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        return sum(self._ticks(pid) for pid in self._tree(self.pid)) / self._ticks_per_second

    def _tree(self, pid: int) -> list[int]:
        found = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                found += [p for c in task.read_text().split() for p in self._tree(int(c))]
            except OSError:
                continue
        return found

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


class Wrk:
    """wrk with benchmarks/wrk/request.lua, optionally pinned to ``cpus``."""

    def __init__(self, cpus: str | None, threads: int, timeout: str = "5s") -> None:
        self.cpus = cpus
        self.threads = threads
        self.timeout = timeout

    def run(
        self,
        measurement: Measurement,
        url: str,
        request: Request,
        server: ProcessCpu | None = None,
    ) -> Measurement:
        """Fill ``measurement`` (its ``connections`` and ``seconds`` say how) from one run.
        wrk takes whole seconds: ``seconds`` is rounded (at least 1)."""
        measurement.seconds = max(1, round(measurement.seconds))
        command = [
            "wrk",
            f"-t{max(1, min(self.threads, measurement.connections))}",
            f"-c{measurement.connections}",
            f"-d{measurement.seconds:.0f}s",
            "--timeout",
            self.timeout,
            "--latency",
            "-s",
            str(LUA),
            url,
            "--",
            request.method,
            request.authorization,
            request.body,
            request.expect,
        ]
        if self.cpus is not None:
            command = ["taskset", "-c", self.cpus, *command]
        cpu_before, wall_before = (server.seconds() if server else 0.0), time.monotonic()
        finished = subprocess.run(  # noqa: S603 - fixed command, no shell
            command, capture_output=True, text=True, check=False, timeout=measurement.seconds + 60
        )
        wall = time.monotonic() - wall_before
        lines = [ln for ln in finished.stdout.splitlines() if ln.startswith("BENCHRESULT ")]
        if finished.returncode != 0 or not lines:
            raise RuntimeError(
                f"wrk failed ({finished.returncode}): {finished.stdout}{finished.stderr}"
            )
        result = json.loads(lines[-1].removeprefix("BENCHRESULT "))
        socket_errors = sum(
            result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        )
        measurement.requests = result["requests"]
        measurement.failures = result["bad_status"] + result["bad_body"] + socket_errors
        measurement.rps = result["requests"] / (result["duration_us"] / 1e6)
        if measurement.rps:
            measurement.mean_ms = 1000 * measurement.connections / measurement.rps
        measurement.wrk_mean_ms = result["mean_us"] / 1000
        measurement.p50_ms = result["p50_us"] / 1000
        measurement.p99_ms = result["p99_us"] / 1000
        measurement.statuses = result["statuses"]
        if server is not None:
            measurement.server_cpu_pct = 100 * (server.seconds() - cpu_before) / wall
        return measurement


async def first_mints(
    measurement: Measurement,
    base_url: str,
    tenant: str,
    clients: Sequence[Credentials],
    server: ProcessCpu | None = None,
) -> Measurement:
    """One client_credentials request per client in ``clients``, ``measurement.connections``
    at a time over as many keep-alive connections (opened before the clock starts)."""
    concurrency = measurement.connections
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    failures = 0
    pending = list(reversed(clients))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as http:
        await asyncio.gather(
            *(http.get(f"/t/{tenant}/.well-known/jwks.json") for _ in range(concurrency))
        )

        async def worker() -> None:
            nonlocal failures
            while pending:
                client = pending.pop()
                started = time.perf_counter()
                try:
                    answer = await http.post(
                        f"/t/{tenant}/oauth2/token",
                        content=b"grant_type=client_credentials",
                        headers={
                            "Authorization": basic_authorization(client),
                            "Content-Type": "application/x-www-form-urlencoded",
                        },
                    )
                except httpx.HTTPError:
                    failures += 1
                    statuses["error"] = statuses.get("error", 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
                if answer.status_code != 200 or b"access_token" not in answer.content:
                    failures += 1

        cpu_before = server.seconds() if server else 0.0
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    measurement.seconds = round(wall, 2)
    measurement.requests = len(clients)
    measurement.failures = failures
    measurement.statuses = statuses
    measurement.rps = len(clients) / wall
    _latencies(measurement, latencies)
    if server is not None:
        measurement.server_cpu_pct = 100 * (server.seconds() - cpu_before) / wall
    return measurement


async def sdk_verifications(
    measurement: Measurement,
    verifier: TokenVerifier,
    token: str,
    warmup: int = 500,
) -> Measurement:
    """``verifier.verify(token)`` in a loop for ``measurement.seconds``, after ``warmup``
    verifications (the JWKS is fetched once, during the warm-up)."""
    for _ in range(warmup):
        await verifier.verify(token)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + measurement.seconds
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            await verifier.verify(token)
        except Exception:
            failures += 1
        latencies.append(time.perf_counter() - started)
    wall = time.perf_counter() - began
    measurement.requests = len(latencies)
    measurement.failures = failures
    measurement.rps = len(latencies) / wall
    _latencies(measurement, latencies)
    measurement.note = f"{1e3 * measurement.mean_ms:.0f} µs per verify, in process"
    return measurement


def _latencies(measurement: Measurement, seconds: list[float]) -> None:
    if not seconds:
        return
    ordered = sorted(seconds)
    measurement.mean_ms = 1000 * statistics.fmean(ordered)
    measurement.p50_ms = 1000 * ordered[len(ordered) // 2]
    measurement.p99_ms = 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
