"""``make bench``: the token path measured from outside, on the embedded default and on
PostgreSQL + Redis, in one run.

    .venv/bin/python tools/bench.py [all|token|scale] [--backend auto|embedded|postgres|both]
                                    [--quick] [--duration 8] ...

For each backend: start ``tessera serve`` in its own process tree on a fresh backend, provision
it over the REST API (tenant ``bench``, region, app ``billing``, 300 more clients of it),
stop it, seed the scale tenants straight into the registry's tables (benchmarks/seed.py),
start it again (pinned to one core, wrk and this process on another, when there are two or
more), then measure:

* token path: client_credentials at c=1/16/64 on one warm client (wrk), first mints of
  never-used clients (httpx, c=16), introspection, JWKS (wrk), the SDK verifier in process;
* scale: a 10-app tenant against one with 10,000 apps, 100,000 users and 10,000 permissions,
  warm and first mints of clients with a 50-permission role; the ratio of mean latencies.

Prints one table per backend and appends every measurement as a JSON line to the results file
(its path is printed). A run with more than 0.1 % failed requests is INVALID and makes the exit
status 1. Figures are comparable only within one run: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import httpx
import uvloop

from benchmarks.measure import (
    MAX_FAILURE_RATIO,
    Measurement,
    ProcessCpu,
    Request,
    Wrk,
    basic_authorization,
    first_mints,
    sdk_verifications,
)
from benchmarks.provision import Operator, mint
from benchmarks.seed import (
    MEASURED_APP,
    MEASURED_ROLE,
    Credentials,
    SeededTenant,
    Shape,
    seed_tenant,
)
from benchmarks.server import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    REPO,
    Backend,
    Server,
    postgres_and_redis_answer,
)
from services.common.hashing import PepperRing, SecretHasher
from tessera_sdk.verifier import HttpJwksSource, TokenVerifier

TENANT, REGION, DB_CODE, APP = "bench", "eu-west", "eu-west-db1", "billing"
SMALL, BIG = "scale-small", "scale-big"
ALTERNATION = (SMALL, BIG, BIG, SMALL, BIG, SMALL, SMALL, BIG)
CRITERION = 1.2  # issue 9: the big tenant mints within 1.2x the time of the small one
COLD = (
    "cold = each request is a client's first mint since the server started: the token service "
    "has no snapshot of it, so it reads the client from the registry (SQL), checks its secret, "
    "signs, and records the secret's first use; the tenant's keys are warm."
)


@dataclass
class Options:
    what: str
    backend: str
    duration: float
    warmup: float
    cold_clients: int
    sdk_seconds: float
    small: Shape
    big: Shape
    keep: bool
    results: Path


@dataclass
class Machine:
    """Who runs where: the server on ``server_cpus``, wrk and this process on ``load_cpus``
    (None: not pinned, fewer than two CPUs)."""

    server_cpus: str | None
    load_cpus: str | None
    wrk_threads: int

    @classmethod
    def detect(cls) -> Machine:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None, 1)
        return cls(str(cpus[1]), str(cpus[0]), 1)

    def describe(self) -> str:
        if self.server_cpus is None:
            return "one CPU: server, wrk and this process share it (figures are lower)"
        return (
            f"server pinned to CPU {self.server_cpus}; wrk and this process to CPU {self.load_cpus}"
        )


@dataclass
class Report:
    backend: str
    rows: list[Measurement] = field(default_factory=list)
    scale: list[Measurement] = field(default_factory=list)  # every run
    scale_summary: list[Measurement] = field(default_factory=list)  # the runs combined per row
    scale_header: str = ""
    scale_lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average, before and after

    @property
    def ok(self) -> bool:
        return not self.errors and all(m.valid for m in [*self.rows, *self.scale])


# -- one backend -----------------------------------------------------------------------------


class BackendRun:
    def __init__(
        self,
        backend: Backend,
        options: Options,
        machine: Machine,
        logs: Path,
        runner: asyncio.Runner,
        out: TextIO,
    ) -> None:
        self.backend = backend
        self.options = options
        self.machine = machine
        self.logs = logs
        self.runner = runner
        self.out = out
        self.report = Report(backend.name)
        self.wrk = Wrk(machine.load_cpus, machine.wrk_threads)
        self.app = Credentials("", "")
        self.cold: list[Credentials] = []
        self.seeded: dict[str, SeededTenant] = {}
        self.started = time.monotonic()

    @property
    def token_path(self) -> bool:
        return self.options.what in ("all", "token")

    @property
    def scale(self) -> bool:
        return self.options.what in ("all", "scale")

    def say(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{self.backend.name} {elapsed:5.0f} s] {line}", file=self.out, flush=True)

    def run(self) -> Report:
        try:
            self.backend.reset()
            self._provision()
            if self.scale:
                self._seed()
            server = Server(
                self.backend,
                self.logs / f"{self.backend.name}-measure.log",
                self.machine.server_cpus,
            )
            self.say("restarting tessera serve for the measurement")
            server.start()
            self.report.load.append(os.getloadavg()[0])
            try:
                cpu = ProcessCpu(server.pid)
                if self.token_path:
                    self._token_path(server, cpu)
                if self.scale:
                    self._scale(server, cpu)
            finally:
                self.report.load.append(os.getloadavg()[0])
                server.stop()
        except Exception as exc:  # reported in the table, the other backend still runs
            self.report.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if not self.options.keep:
                self.backend.remove()
        return self.report

    # -- provisioning and seeding ----------------------------------------------------------

    def _provision(self) -> None:
        server = Server(self.backend, self.logs / f"{self.backend.name}-provision.log", None)
        self.say(f"starting tessera serve on {self.backend.describe()}")
        started = time.perf_counter()
        server.start()
        self.say("started; provisioning over the REST API")
        try:
            self.runner.run(self._provision_over_api(server.url))
        finally:
            server.stop()
        self.say(f"provisioned over the REST API in {time.perf_counter() - started:.0f} s")

    async def _provision_over_api(self, url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            operator = await Operator.sign_in(http, self.backend.data_dir)
            await operator.create_region(REGION, DB_CODE)
            if self.token_path:
                await operator.create_tenant(TENANT)
                self.app = await operator.create_app(TENANT, APP, REGION)
                self.cold = await operator.create_clients(TENANT, APP, self.options.cold_clients)
            if self.scale:
                for slug, shape in ((SMALL, self.options.small), (BIG, self.options.big)):
                    await operator.create_tenant(slug, app_limit=shape.apps + 25)

    def _seed(self) -> None:
        peppers = json.loads((self.backend.data_dir / "dev-secrets.json").read_text())
        hasher = SecretHasher(PepperRing.parse(peppers["secret_peppers"]))
        settings = self.backend.settings()
        for slug, shape in ((SMALL, self.options.small), (BIG, self.options.big)):
            seeded = self.runner.run(seed_tenant(settings, hasher, slug, REGION, shape))
            self.seeded[slug] = seeded
            self.say(
                f"seeded {slug}: {shape.apps:,} apps, {shape.users:,} users, "
                f"{shape.permissions:,} permissions, {seeded.rows:,} rows in {seeded.seconds:.1f} s"
            )

    # -- token path ------------------------------------------------------------------------

    def _row(self, section: str, row: str, connections: int, seconds: float) -> Measurement:
        return Measurement(self.backend.name, section, row, connections, seconds)

    def _token_path(self, server: Server, cpu: ProcessCpu) -> None:
        o, rows = self.options, self.report.rows
        token_url = f"{server.url}/t/{TENANT}/oauth2/token"
        mint_request = Request.token(self.app)
        self.say(f"warm-up: {o.warmup:g} s of client_credentials at c=16")
        self.wrk.run(self._row("", "warm-up", 16, o.warmup), token_url, mint_request)
        for connections in (1, 16, 64):
            self.say(f"client_credentials, warm, c={connections}")
            rows.append(
                self.wrk.run(
                    self._row(
                        "token path",
                        f"client_credentials warm c={connections}",
                        connections,
                        o.duration,
                    ),
                    token_url,
                    mint_request,
                    cpu,
                )
            )
        self.say(f"client_credentials, cold: first mints of {len(self.cold)} clients, c=16")
        rows.append(
            self.runner.run(
                first_mints(
                    self._row("token path", "client_credentials cold c=16", 16, 0),
                    server.url,
                    TENANT,
                    self.cold,
                    cpu,
                )
            )
        )
        token = self.runner.run(self._mint(server.url, TENANT, self.app))
        rows.append(self._introspection(server, cpu, token))
        self.say("JWKS")
        rows.append(
            self.wrk.run(
                self._row("token path", "JWKS c=16", 16, o.duration),
                f"{server.url}/t/{TENANT}/.well-known/jwks.json",
                Request(expect='"keys"'),
                cpu,
            )
        )
        self.say("SDK verification, in process")
        rows.append(self.runner.run(self._sdk(server.url, token)))

    async def _mint(self, url: str, tenant: str, client: Credentials) -> str:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            return await mint(http, tenant, client)

    def _introspection(self, server: Server, cpu: ProcessCpu, token: str) -> Measurement:
        row = self._row("token path", "introspection c=16", 16, self.options.duration)
        url = f"{server.url}/t/{TENANT}/oauth2/introspect"
        request = Request(
            "POST", basic_authorization(self.app), f"token={quote(token, safe='')}", '"active":true'
        )
        probe = httpx.post(
            url,
            content=request.body,
            headers={
                "Authorization": request.authorization,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=30.0,
        )
        if probe.status_code == 404:
            row.available = False
            row.note = "not available (404: no introspection endpoint in this build)"
            self.say("introspection: not available (404)")
            return row
        self.say("introspection")
        self.wrk.run(self._row("", "warm-up", 16, 2), url, request)
        return self.wrk.run(row, url, request, cpu)

    async def _sdk(self, url: str, token: str) -> Measurement:
        async with httpx.AsyncClient(timeout=30.0) as http:
            verifier = TokenVerifier.for_app(url, HttpJwksSource(url, http), tenant=TENANT, app=APP)
            row = self._row(
                "token path", "SDK verification (TokenVerifier)", 1, self.options.sdk_seconds
            )
            return await sdk_verifications(row, verifier, token)

    # -- scale -----------------------------------------------------------------------------

    def _scale(self, server: Server, cpu: ProcessCpu) -> None:
        o = self.options
        for slug in (SMALL, BIG):
            self.runner.run(self._check_claims(server.url, self.seeded[slug]))
        self.say(f"scale: both tenants' warm clients carry {MEASURED_ROLE} and its 50 permissions")
        url = {slug: f"{server.url}/t/{slug}/oauth2/token" for slug in (SMALL, BIG)}
        request = {slug: Request.token(self.seeded[slug].warm) for slug in (SMALL, BIG)}
        for slug in (SMALL, BIG):
            self.wrk.run(
                self._row("", "warm-up", 16, max(2.0, o.warmup / 2)), url[slug], request[slug]
            )
        # The tenants take turns (A B B A B A A B): a drift of the machine, or a burst of other
        # work on it, weighs on both alike. Each turn: a quarter of the duration (warm) or of
        # the never-used clients (cold).
        turns = len(ALTERNATION) // 2
        warm: dict[str, list[Measurement]] = {SMALL: [], BIG: []}
        seconds = max(1.0, o.duration / turns)
        self.say(f"scale: warm mints at c=16, {len(ALTERNATION)} runs of {seconds:g} s, alternated")
        for slug in ALTERNATION:
            warm[slug].append(
                self.wrk.run(
                    self._row("scale", f"warm c=16 {slug}", 16, seconds),
                    url[slug],
                    request[slug],
                    cpu,
                )
            )
        cold: dict[str, list[Measurement]] = {SMALL: [], BIG: []}
        batches = {slug: _split(self.seeded[slug].cold, turns) for slug in (SMALL, BIG)}
        self.say(f"scale: first mints at c=16, {len(ALTERNATION)} batches, alternated")
        for slug in ALTERNATION:
            batch = batches[slug][len(cold[slug])]
            cold[slug].append(
                self.runner.run(
                    first_mints(
                        self._row("scale", f"cold c=16 {slug}", 16, 0), server.url, slug, batch, cpu
                    )
                )
            )
        self.report.scale += [m for runs in (*warm.values(), *cold.values()) for m in runs]
        summary = {
            (kind, slug): combine(runs[slug], self._label(kind, slug))
            for kind, runs in (("warm", warm), ("cold", cold))
            for slug in (SMALL, BIG)
        }
        self.report.scale_summary = list(summary.values())
        self.report.scale_header = self._sizes()
        self.report.scale_lines = self._scale_lines(summary)

    def _label(self, kind: str, slug: str) -> str:
        return f"{kind} {'mint' if kind == 'warm' else 'first mint'} c=16, {slug}"

    def _sizes(self) -> str:
        def size(slug: str) -> str:
            shape = self.seeded[slug].shape
            return (
                f"{slug} = {shape.apps:,} apps, {shape.users:,} users, "
                f"{shape.permissions:,} permissions"
            )

        return (
            f"{size(SMALL)}; {size(BIG)}; the same shape at both sizes, the measured clients "
            f"hold a role with {self.options.big.role_permissions} permissions"
        )

    def _scale_lines(self, summary: dict[tuple[str, str], Measurement]) -> list[str]:
        lines, met = [], True
        for kind in ("warm", "cold"):
            small, big = summary[(kind, SMALL)], summary[(kind, BIG)]
            ratio = big.mean_ms / small.mean_ms if small.mean_ms else float("inf")
            met = met and ratio <= CRITERION
            lines.append(
                f"{kind}: mean latency big/small = {big.mean_ms:.2f} / {small.mean_ms:.2f} ms = {ratio:.2f}x"
            )
            self._write_line(
                {
                    "backend": self.backend.name,
                    "section": "scale",
                    "row": f"ratio big/small {kind}",
                    "ratio": ratio,
                    "small_mean_ms": small.mean_ms,
                    "big_mean_ms": big.mean_ms,
                    "criterion": CRITERION,
                }
            )
        lines.append(
            f"criterion (each ratio <= {CRITERION}x): {'met' if met else 'NOT MET'}; "
            "warm means are connections / throughput, cold means are over every first mint"
        )
        return lines

    def _write_line(self, document: dict[str, Any]) -> None:
        with self.options.results.open("a") as results:
            results.write(json.dumps(document) + "\n")

    async def _check_claims(self, url: str, seeded: SeededTenant) -> None:
        """The seeded tenant's warm client really gets its role and permissions (verified with
        the SDK, as a resource server of ``orders`` would)."""
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            token = await mint(http, seeded.slug, seeded.warm)
            verifier = TokenVerifier.for_app(
                url, HttpJwksSource(url, http), tenant=seeded.slug, app=MEASURED_APP
            )
            claims = (await verifier.verify(token)).claims
        if (
            claims.get("roles") != [MEASURED_ROLE]
            or set(claims.get("permissions", ())) != seeded.permissions
        ):
            raise RuntimeError(
                f"the seeded client of {seeded.slug} got roles {claims.get('roles')} and "
                f"{len(claims.get('permissions', ()))} permissions; expected [{MEASURED_ROLE!r}] "
                f"and {len(seeded.permissions)}: the seed does not match the registry's tables"
            )


def _split(clients: Sequence[Credentials], parts: int) -> list[Sequence[Credentials]]:
    size = -(-len(clients) // parts)
    return [clients[n * size : (n + 1) * size] for n in range(parts)]


def combine(runs: Sequence[Measurement], row: str) -> Measurement:
    """Several runs of one thing as one row: totals, request-weighted means (p50 and p99 too,
    an approximation)."""
    total = sum(m.requests for m in runs) or 1

    def weighted(attribute: str) -> float:
        return sum(float(getattr(m, attribute)) * m.requests for m in runs) / total

    seconds = sum(m.seconds for m in runs)
    cpu = [m.server_cpu_pct for m in runs if m.server_cpu_pct is not None]
    return Measurement(
        backend=runs[0].backend,
        section="scale",
        row=row,
        connections=runs[0].connections,
        seconds=seconds,
        requests=sum(m.requests for m in runs),
        failures=sum(m.failures for m in runs),
        rps=sum(m.requests for m in runs) / seconds if seconds else 0.0,
        mean_ms=weighted("mean_ms"),
        p50_ms=weighted("p50_ms"),
        p99_ms=weighted("p99_ms"),
        server_cpu_pct=sum(cpu) / len(cpu) if cpu else None,
        note=f"{len(runs)} runs, taking turns",
    )


# -- output ----------------------------------------------------------------------------------

WIDTH = 34
HEADER = (
    f"{'':<{WIDTH}} {'req/s':>9} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} "
    f"{'failed':>7} {'srv CPU':>7}"
)


def table_line(m: Measurement) -> str:
    if not m.available:
        return f"{m.row:<{WIDTH}} {m.note}"
    cpu = f"{m.server_cpu_pct:.0f}%" if m.server_cpu_pct is not None else "-"
    status = "" if m.valid else f"  INVALID (> {100 * MAX_FAILURE_RATIO:g}% failed: {m.statuses})"
    line = (
        f"{m.row:<{WIDTH}} {m.rps:>9,.0f} {m.mean_ms:>8.2f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} "
        f"{m.requests:>9,} {m.failures:>7,} {cpu:>7}{status}"
    )
    return f"{line}   {m.note}" if m.note and m.valid else line


def print_report(report: Report, backend: Backend, out: TextIO) -> None:
    print(f"\n== {backend.name}: {backend.describe()}", file=out)
    if report.load:
        load = " -> ".join(f"{x:.1f}" for x in report.load)
        print(f"   load average (1 min) during the measurement: {load}", file=out)
    print(HEADER, file=out)
    for m in report.rows:
        print(table_line(m), file=out)
    if report.rows:
        print(textwrap.fill(COLD, 100, initial_indent="  ", subsequent_indent="  "), file=out)
    if report.scale_summary:
        header = f"scale: {report.scale_header}"
        print(textwrap.fill(header, 100, initial_indent="-- ", subsequent_indent="   "), file=out)
        for m in report.scale_summary:
            print(table_line(m), file=out)
        for line in report.scale_lines:
            print(f"  {line}", file=out)
    for error in report.errors:
        print(f"  ERROR: {error}", file=out)


# -- command line ----------------------------------------------------------------------------


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("what", nargs="?", choices=("all", "token", "scale"), default="all")
    parser.add_argument(
        "--backend",
        choices=("auto", "embedded", "postgres", "both"),
        default="auto",
        help="auto: both when PostgreSQL and Redis answer, else embedded",
    )
    parser.add_argument("--quick", action="store_true", help="token path only (no scale benchmark)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk measurement")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up before them")
    parser.add_argument("--cold-clients", type=int, default=300, help="first mints measured (cold)")
    parser.add_argument("--sdk-seconds", type=float, default=3.0)
    parser.add_argument("--scale-apps", type=int, default=10_000)
    parser.add_argument("--scale-users", type=int, default=100_000)
    parser.add_argument("--scale-permissions", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep data dirs, schemas and keys")
    parser.add_argument("--results", type=Path, help="JSON lines file (default .benchmarks/...)")
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Options(
        what="token" if args.quick and args.what == "all" else args.what,
        backend=args.backend,
        duration=args.duration,
        warmup=args.warmup,
        cold_clients=args.cold_clients,
        sdk_seconds=args.sdk_seconds,
        small=Shape(apps=10, users=100, permissions=100, cold_clients=args.cold_clients),
        big=Shape(
            apps=args.scale_apps,
            users=args.scale_users,
            permissions=args.scale_permissions,
            cold_clients=args.cold_clients,
        ),
        keep=args.keep,
        results=args.results or REPO / ".benchmarks" / f"bench-{stamp}.jsonl",
    )


def backends(choice: str, work: Path, out: TextIO) -> list[Backend]:
    database_url = os.environ.get("TESSERA_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("TESSERA_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    embedded = Backend.embedded(work / "embedded")
    postgres = Backend.postgres(work / "postgres", database_url, redis_url)
    if choice == "embedded":
        return [embedded]
    why_not = postgres_and_redis_answer(database_url, redis_url)
    if choice == "auto":
        if why_not is None:
            return [embedded, postgres]
        print(
            f"PostgreSQL + Redis skipped: {why_not}; measuring the embedded default only.", file=out
        )
        return [embedded]
    if why_not is not None:
        raise SystemExit(f"cannot measure on PostgreSQL + Redis: {why_not}")
    return [postgres] if choice == "postgres" else [embedded, postgres]


@contextlib.contextmanager
def single_run() -> Iterator[None]:
    """One ``make bench`` at a time on this machine: they would share CPUs, schemas and keys."""
    with open(Path(tempfile.gettempdir()) / "tessera-make-bench.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("another make bench is running on this machine") from None
        yield


def revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    machine = Machine.detect()
    if machine.load_cpus is not None:
        os.sched_setaffinity(0, {int(machine.load_cpus)})  # before any thread starts
    options.results.parent.mkdir(parents=True, exist_ok=True)
    logs = options.results.with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    with single_run(), tempfile.TemporaryDirectory(prefix="tessera-bench-") as scratch:
        # --keep: the data directories stay beside the logs (PostgreSQL schemas and Redis keys
        # stay too, until the next run).
        chosen = backends(options.backend, logs if options.keep else Path(scratch), out)
        header = {
            "section": "run",
            "revision": revision(),
            "what": options.what,
            "backends": [b.name for b in chosen],
            "machine": machine.describe(),
            "duration_s": options.duration,
        }
        with options.results.open("a") as results:
            results.write(json.dumps(header) + "\n")
        print(f"tessera make bench, revision {header['revision']}; {machine.describe()}", file=out)
        ok = True
        for backend in chosen:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                run = BackendRun(backend, options, machine, logs, runner, out)
                report = run.run()
            with options.results.open("a") as results:
                for m in [*report.rows, *report.scale]:
                    results.write(json.dumps(m.as_json()) + "\n")
                for error in report.errors:
                    results.write(json.dumps({"backend": backend.name, "error": error}) + "\n")
                results.write(
                    json.dumps(
                        {"backend": backend.name, "section": "load", "load_1min": report.load}
                    )
                    + "\n"
                )
            print_report(report, backend, out)
            ok = ok and report.ok
    print(
        f"\nresults: {options.results} (JSON lines); server logs: {logs}/\n"
        "Figures are comparable only within one run (shared, noisy machine).",
        file=out,
    )
    if not ok:
        print("make bench FAILED: an INVALID run or an error above.", file=out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
