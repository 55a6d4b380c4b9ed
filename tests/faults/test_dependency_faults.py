"""Dependency faults under a light load: PostgreSQL, Redis, a killed registry or token process.

What a client may see while a dependency is down: a success, or a 503 that carries
``Retry-After`` (problem+json on the admin API, ``temporarily_unavailable`` on the token
endpoint) and no internal address, host:port or gRPC text. Never a 500, never a 4xx.
What was acknowledged (2xx) is never lost, and the platform recovers by itself within
seconds once the dependency is back.

Each test drives four workers mixing client_credentials token requests, admin reads and
admin writes (creating users with unique emails) through five phases: before (all must
succeed), fault, recovery (until every kind of request has succeeded again, at most
``RECOVERY_SECONDS``), after (all must succeed) and a read-back of every acknowledged user.
Every answer is classified as ``2xx``, ``503+Retry-After`` or something else (named by its
status and defects, e.g. ``500``, ``400``, ``503 without Retry-After, leaking internals``,
``timeout``); the per-phase counts are printed and attached to every assertion message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Faults

pytestmark = pytest.mark.integration

WORKERS = 4
PAUSE_SECONDS = 0.1  # per worker between requests: a light load (at most ~40 requests/s)
REQUEST_TIMEOUT_SECONDS = 5.0
BEFORE_REQUESTS = 24
FAULT_SECONDS = 3.0
FAULT_MAX_REQUESTS = 160
BOOT_SECONDS = 30.0  # a restarted process must listen again within this
BOOT_MAX_REQUESTS = 400
RECOVERY_SECONDS = 15.0
RECOVERY_MAX_REQUESTS = 600
AFTER_REQUESTS = 24
OPERATIONS = ("token", "read", "write")

OK = "2xx"
HELD_503 = "503+Retry-After"
# Internal addresses, host:port pairs and gRPC/Python internals must never reach a client.
LEAK = re.compile(
    r"127\.0\.0\.1|localhost:|\[::1?\]|\b\d{1,3}(?:\.\d{1,3}){3}:\d+|grpc|statuscode|traceback"
    r"|ipv4:|ipv6:|errno|psycopg|sqlalchemy|redis\.|connection refused",
    re.IGNORECASE,
)


@dataclass
class Outcome:
    op: str
    kind: str
    status: int | None
    excerpt: str


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def others(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind not in (OK, HELD_503)]

    def summary(self) -> dict[str, Any]:
        kinds = Counter(o.kind for o in self.outcomes)
        examples: dict[str, str] = {}
        for o in self.others():
            examples.setdefault(f"{o.op} {o.kind}", o.excerpt)
        return {
            "tried": len(self.outcomes),
            "held": kinds[OK] + kinds[HELD_503],
            OK: kinds[OK],
            HELD_503: kinds[HELD_503],
            "other": len(self.others()),
            "other_kinds": dict(Counter(o.kind for o in self.others())),
            "by_op": {
                op: dict(Counter(o.kind for o in self.outcomes if o.op == op)) for op in OPERATIONS
            },
            "examples": examples,
        }


def _retry_after_is_valid(value: str) -> bool:
    if value.strip().isdigit():
        return True
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True


def classify(op: str, response: httpx.Response) -> Outcome:
    status = response.status_code
    excerpt = f"{status} {dict(response.headers)!r} {response.text[:300]}"
    if 200 <= status < 300:
        return Outcome(op, OK, status, excerpt)
    if status != 503:
        return Outcome(op, str(status), status, excerpt)
    defects = []
    retry_after = response.headers.get("retry-after")
    if retry_after is None:
        defects.append("without Retry-After")
    elif not _retry_after_is_valid(retry_after):
        defects.append("with an invalid Retry-After")
    if LEAK.search(response.text):
        defects.append("leaking internals")
    try:
        body = response.json()
    except ValueError:
        body = None
    if op == "token":
        shaped = isinstance(body, dict) and body.get("error") == "temporarily_unavailable"
    else:
        shaped = (
            response.headers.get("content-type", "").startswith("application/problem+json")
            and isinstance(body, dict)
            and body.get("status") == 503
        )
    if not shaped:
        defects.append("with the wrong body")
    if defects:
        return Outcome(op, "503 " + ", ".join(defects), status, excerpt)
    return Outcome(op, HELD_503, status, excerpt)


class Workload:
    """One tenant, its admin client, and the users it managed to create (acknowledged)."""

    def __init__(self, tenant: str, client_id: str, client_secret: str, bearer: str) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.bearer = bearer
        self.acknowledged: dict[str, str] = {}  # user id -> email
        self._serial = itertools.count()

    async def attempt(self, http: httpx.AsyncClient, op: str) -> Outcome:
        headers = {"Authorization": f"Bearer {self.bearer}"}
        email = f"load-{next(self._serial)}-{uuid.uuid4().hex[:6]}@faults.example"
        try:
            if op == "token":
                response = await http.post(
                    f"/t/{self.tenant}/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.client_secret),
                )
            elif op == "read":
                response = await http.get(
                    f"/api/v1/tenants/{self.tenant}/users",
                    params={"page_size": 5},
                    headers=headers,
                )
            else:
                response = await http.post(
                    f"/api/v1/tenants/{self.tenant}/users", json={"email": email}, headers=headers
                )
        except httpx.TimeoutException as error:
            return Outcome(op, "timeout", None, f"{type(error).__name__} after 5 s")
        except httpx.TransportError as error:
            return Outcome(op, "gateway unreachable", None, f"{type(error).__name__}: {error}")
        outcome = classify(op, response)
        if op == "write" and outcome.kind == OK:
            created = response.json()
            self.acknowledged[str(created["id"])] = email
        return outcome


async def drive(
    http: httpx.AsyncClient,
    workload: Workload,
    tally: Tally,
    *,
    seconds: float,
    max_requests: int,
    until: Callable[[], bool] = lambda: False,
) -> None:
    """``WORKERS`` concurrent loops cycling token/read/write, bounded by time and count."""
    deadline = time.monotonic() + seconds
    operations = itertools.cycle(OPERATIONS)
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < max_requests and not until():
            sent += 1
            tally.add(await workload.attempt(http, next(operations)))
            await asyncio.sleep(PAUSE_SECONDS)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


def new_workload(faults: Faults, operator_bearer: str) -> Workload:
    """A fresh tenant (created by the operator) whose own admin client drives the load."""
    url = faults.platform.gateway_url
    slug = f"flt-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, timeout=10) as http:
        created = http.post(
            "/api/v1/tenants",
            json={"slug": slug, "display_name": f"Faults {slug}"},
            headers={"Authorization": f"Bearer {operator_bearer}"},
        )
        assert created.status_code == 201, created.text
        credentials = created.json()["admin_client"]
        token = http.post(
            f"/t/{slug}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        assert token.status_code == 200, token.text
    return Workload(
        slug, credentials["client_id"], credentials["client_secret"], token.json()["access_token"]
    )


@pytest.fixture
def workload(healthy: Faults) -> Workload:
    with httpx.Client(timeout=10) as http:
        operator = healthy.platform.operator_token(http)
    assert operator.status_code == 200, operator.text
    return new_workload(healthy, operator.json()["access_token"])


@dataclass
class Report:
    name: str
    phases: dict[str, Tally]
    recovered_after: float | None
    lost: dict[str, str]
    extra: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        total = Counter[str]()
        for tally in self.phases.values():
            for outcome in tally.outcomes:
                total[outcome.kind if outcome.kind in (OK, HELD_503) else "other"] += 1
        return {
            "scenario": self.name,
            "overall": {
                "tried": sum(total.values()),
                "held": total[OK] + total[HELD_503],
                **dict(total),
            },
            **{phase: tally.summary() for phase, tally in self.phases.items()},
            "recovered_after_s": None
            if self.recovered_after is None
            else round(self.recovered_after, 2),
            "acknowledged_writes": self.extra["acknowledged"],
            "lost_writes": len(self.lost),
            "lost_examples": dict(list(self.lost.items())[:5]),
            **{k: v for k, v in self.extra.items() if k != "acknowledged"},
        }

    def text(self) -> str:
        return json.dumps(self.summary(), indent=2, default=str)


async def read_back(http: httpx.AsyncClient, workload: Workload) -> dict[str, str]:
    """Every acknowledged user, read by id; returns the ones that are not there as written."""
    lost: dict[str, str] = {}
    gate = asyncio.Semaphore(WORKERS)
    headers = {"Authorization": f"Bearer {workload.bearer}"}

    async def check(user_id: str, email: str) -> None:
        async with gate:
            seen = "no answer"
            for _attempt in range(3):
                try:
                    response = await http.get(
                        f"/api/v1/tenants/{workload.tenant}/users/{user_id}", headers=headers
                    )
                except httpx.HTTPError as error:
                    seen = type(error).__name__
                else:
                    if response.status_code == 200 and response.json().get("email") == email:
                        return
                    seen = f"{response.status_code} {response.text[:200]}"
                    if response.status_code == 404:
                        break
                await asyncio.sleep(1)
            lost[f"{user_id} {email}"] = seen

    await asyncio.gather(*(check(i, e) for i, e in list(workload.acknowledged.items())))
    return lost


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def exercise(
    faults: Faults,
    workload: Workload,
    name: str,
    inject: Callable[[], None],
    restore: Callable[[], None],
    *,
    restarted: str | None = None,
) -> Report:
    """before → fault → recovery → after → read-back. The dependency is always restored.

    The fault window lasts ``FAULT_SECONDS`` and, for a restarted process, until that
    process listens again (its boot is part of the outage); recovery is timed from the
    moment the dependency is back."""
    phases = {phase: Tally() for phase in ("before", "fault", "recovery", "after")}
    recovered_after: float | None = None
    platform = faults.platform
    async with httpx.AsyncClient(
        base_url=platform.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS
    ) as http:
        await drive(http, workload, phases["before"], seconds=30, max_requests=BEFORE_REQUESTS)
        before = phases["before"].summary()
        assert before[OK] == BEFORE_REQUESTS, (
            f"{name}: the platform was not healthy before the fault "
            f"(so nothing below would mean anything): {json.dumps(before, indent=2)}\n"
            + platform.diagnostics()
        )
        connections = (faults.postgres.accepted, faults.redis.accepted)
        cut_before = (faults.postgres.cut, faults.redis.cut)
        inject()
        try:
            await drive(
                http,
                workload,
                phases["fault"],
                seconds=FAULT_SECONDS,
                max_requests=FAULT_MAX_REQUESTS,
            )
        finally:
            restore()
        restored_at = time.monotonic()
        if restarted is not None:
            back = asyncio.Event()

            async def watch() -> None:
                deadline = time.monotonic() + BOOT_SECONDS
                while time.monotonic() < deadline and platform.alive(restarted):
                    if await _listening(platform.ports[restarted]):
                        back.set()
                        return
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch())
            await drive(
                http,
                workload,
                phases["fault"],
                seconds=BOOT_SECONDS,
                max_requests=BOOT_MAX_REQUESTS,
                until=lambda: back.is_set() or watcher.done(),
            )
            await watcher
            assert back.is_set(), (
                f"{name}: the restarted {restarted} process did not listen on "
                f"127.0.0.1:{platform.ports[restarted]} within {BOOT_SECONDS:.0f} s\n"
                + platform.diagnostics()
            )
        back_at = time.monotonic()
        succeeded: set[str] = set()
        recovery = phases["recovery"]
        seen = 0

        def everything_succeeded_again() -> bool:
            nonlocal recovered_after, seen
            for outcome in recovery.outcomes[seen:]:
                if outcome.kind == OK:
                    succeeded.add(outcome.op)
            seen = len(recovery.outcomes)
            if recovered_after is None and succeeded == set(OPERATIONS):
                recovered_after = time.monotonic() - back_at
            return recovered_after is not None

        await drive(
            http,
            workload,
            recovery,
            seconds=RECOVERY_SECONDS,
            max_requests=RECOVERY_MAX_REQUESTS,
            until=everything_succeeded_again,
        )
        everything_succeeded_again()
        if recovered_after is not None:
            await drive(http, workload, phases["after"], seconds=30, max_requests=AFTER_REQUESTS)
        lost = await read_back(http, workload)
    extra = {
        "acknowledged": len(workload.acknowledged),
        "dependency_back_after_restore_s": round(back_at - restored_at, 2),
        "postgres_connections_relayed_before_fault": connections[0],
        "redis_connections_relayed_before_fault": connections[1],
        "postgres_connections_cut": faults.postgres.cut - cut_before[0],
        "redis_connections_cut": faults.redis.cut - cut_before[1],
    }
    report = Report(name, phases, recovered_after, lost, extra)
    print(f"\n[faults] {name}:\n{report.text()}")
    return report


def assert_held(report: Report, *, must_succeed: tuple[str, ...] = ()) -> None:
    """The promises every scenario pins, in order of importance; each message carries the
    whole summary."""
    text = report.text()
    fault = report.phases["fault"]
    fault_others = Counter(o.kind for o in fault.others())
    assert fault_others == Counter(), (
        f"{report.name}: while the dependency was down, clients saw answers other than 2xx "
        f"or 503+Retry-After: {dict(fault_others)}\n{text}"
    )
    for op in must_succeed:
        failed = Counter(o.kind for o in fault.outcomes if o.op == op and o.kind != OK)
        assert failed == Counter(), (
            f"{report.name}: {op} requests must keep succeeding during this fault, "
            f"got {dict(failed)}\n{text}"
        )
    assert report.recovered_after is not None, (
        f"{report.name}: token requests, admin reads and admin writes did not all succeed "
        f"again within {RECOVERY_SECONDS:.0f} s of the dependency coming back\n{text}"
    )
    recovery_others = Counter(o.kind for o in report.phases["recovery"].others())
    assert recovery_others == Counter(), (
        f"{report.name}: while recovering, clients saw answers other than 2xx or "
        f"503+Retry-After: {dict(recovery_others)}\n{text}"
    )
    after = Counter(o.kind for o in report.phases["after"].outcomes)
    assert after == Counter({OK: AFTER_REQUESTS}), (
        f"{report.name}: once recovered, every request must succeed: {dict(after)}\n{text}"
    )
    assert report.lost == {}, (
        f"{report.name}: {len(report.lost)} of {report.extra['acknowledged']} "
        f"acknowledged writes are gone after recovery\n{text}"
    )


async def test_postgres_outage_answers_503_with_retry_after_and_recovers_without_losing_writes(
    healthy: Faults, workload: Workload
) -> None:
    report = await exercise(
        healthy,
        workload,
        "PostgreSQL stops, then returns",
        healthy.postgres.stop,
        healthy.postgres.start,
    )
    # Harness checks: the platform talked to PostgreSQL through the proxy, and cutting it had
    # a visible effect (a database outage that nobody notices was not an outage).
    assert report.extra["postgres_connections_relayed_before_fault"] > 0, report.text()
    assert report.phases["fault"].summary()[OK] < len(report.phases["fault"].outcomes), (
        "every request succeeded while the PostgreSQL proxy refused connections: the fault "
        "injected nothing\n" + report.text()
    )
    assert_held(report)


async def test_redis_outage_keeps_minting_tokens_and_admin_calls_never_answer_500_or_4xx(
    healthy: Faults, workload: Workload
) -> None:
    report = await exercise(
        healthy, workload, "Redis stops, then returns", healthy.redis.stop, healthy.redis.start
    )
    # Harness check: the registry reached Redis through the proxy (change notifications of
    # the writes before the fault), so stopping the proxy really took Redis away.
    assert report.extra["redis_connections_relayed_before_fault"] > 0, (
        "no connection ever went through the Redis proxy: the registry does not publish "
        "change notifications on TESSERA_REDIS_URL, the fault would inject nothing\n"
        + report.text()
    )
    assert_held(report, must_succeed=("token",))


async def test_killed_registry_process_answers_503_with_retry_after_until_restarted(
    healthy: Faults, workload: Workload
) -> None:
    platform = healthy.platform
    report = await exercise(
        healthy,
        workload,
        "registry process SIGKILLed, then restarted",
        lambda: platform.kill("registry"),
        lambda: platform.spawn("registry"),
        restarted="registry",
    )
    assert_held(report)


async def test_killed_token_process_answers_503_with_retry_after_until_restarted(
    healthy: Faults, workload: Workload
) -> None:
    platform = healthy.platform
    report = await exercise(
        healthy,
        workload,
        "token process SIGKILLed, then restarted",
        lambda: platform.kill("token"),
        lambda: platform.spawn("token"),
        restarted="token",
    )
    assert_held(report)
