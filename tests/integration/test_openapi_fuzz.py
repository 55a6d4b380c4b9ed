"""Property-based fuzzing of the published OpenAPI document with schemathesis.

Every ``/api/v1`` operation and the per-tenant OAuth endpoints (token, JWKS, discovery) are
fuzzed against the running gateway, twice: without credentials, and as the platform operator.
Each response must satisfy four schemathesis checks:

* ``not_a_server_error`` — never a 5xx;
* ``status_code_conformance`` — the document declares every status the operation returns;
* ``response_schema_conformance`` — the body matches the declared schema for that status;
* ``content_type_conformance`` — the media type is the declared one.

Failures are collected across all operations (never stopping at the first) and reported
grouped by (pass, operation, check, status) with one reproducer each, plus the number of
requests made and of 5xx answers, so the figures can be quoted.

Generation is reproducible: one fixed seed per (pass, operation), only Hypothesis' generate
phase (no shrinking: failures are recorded, never raised into Hypothesis), no example
database. Requests go only to the gateway on loopback (proxies from the environment are
ignored). Path parameters sometimes name real resources created for the test so the fuzz
reaches past 404; the control-plane tenant is never targeted, because the session's other
tests depend on its bootstrap admin.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.platform import Platform
from tests.integration.conftest import Api, unique

pytestmark = pytest.mark.integration

# Tuned so both passes together stay well under two minutes on a 2-core machine; raise it
# locally (TESSERA_FUZZ_EXAMPLES=200) for a deeper run.
EXAMPLES_PER_OPERATION = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "25"))
SEED = 7_2025
REQUEST_TIMEOUT_SECONDS = 30
# A pass that takes longer than this stops and reports it instead of hitting pytest's timeout.
PASS_BUDGET_SECONDS = 150
EXCERPT = 300

OAUTH_OPERATIONS = frozenset(
    {
        "POST /t/{tenant}/oauth2/token",
        "POST /t/{tenant}/oauth2/introspect",
        "POST /t/{tenant}/oauth2/revoke",
        "GET /t/{tenant}/.well-known/jwks.json",
        "GET /t/{tenant}/.well-known/openid-configuration",
    }
)
CHECKS: tuple[Callable[..., Any], ...] = (
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
)
PROTECTED_TENANT = "control-plane"
_METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}


# -- what the fuzz targets -----------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """One fuzzing pass: the credentials sent with every request (generated ones are overridden)."""

    name: str
    api_headers: dict[str, str]
    oauth_headers: dict[str, str]
    # Whether schemathesis generates the security scheme's own (junk or missing) Authorization.
    generated_credentials: bool
    # Loopback address the pass sends from (when the gateway listens on 127.0.0.1). Failed
    # client authentications are counted per caller address by the token endpoint; a pass of
    # its own address keeps the fuzz's failures from getting 127.0.0.1 — the address of every
    # other test in the session — refused with 429.
    source_address: str

    def headers_for(self, path: str) -> dict[str, str]:
        return self.api_headers if path.startswith("/api/v1/") else self.oauth_headers


class _FromAddress(HTTPAdapter):
    """Opens connections from one local address."""

    def __init__(self, address: str) -> None:
        self._address = address  # set first: HTTPAdapter.__init__ builds the pool manager
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def selected(operation_label: str) -> bool:
    _method, _, path = operation_label.partition(" ")
    return path.startswith("/api/v1/") or operation_label in OAUTH_OPERATIONS


def _operation_seed(pass_name: str, label: str) -> int:
    return SEED ^ zlib.crc32(f"{pass_name} {label}".encode())


# -- what the fuzz found -------------------------------------------------------------------


@dataclass
class Finding:
    pass_name: str
    operation: str
    check: str
    status: int | None
    title: str
    detail: str
    request: str
    response_body: str
    count: int = 1

    def render(self) -> str:
        status = self.status if self.status is not None else "-"
        return "\n".join(
            [
                f"[{self.pass_name}] {self.operation} :: {self.check} :: status {status} "
                f"(x{self.count}) — {self.title}",
                _indent(self.detail),
                _indent(f"request:  {self.request}"),
                _indent(f"response: {self.response_body}"),
            ]
        )


@dataclass
class Report:
    pass_name: str
    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str, int | None, str], Finding] = field(default_factory=dict)
    stopped_early: str = ""
    seconds: Counter[str] = field(default_factory=Counter)
    operation_seconds: Counter[str] = field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        key = (finding.operation, finding.check, finding.status, finding.title)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = finding

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        timing = ", ".join(f"{part} {s:.1f}s" for part, s in sorted(self.seconds.items()))
        slowest = ", ".join(
            f"{label} {s:.1f}s" for label, s in self.operation_seconds.most_common(3)
        )
        return (
            f"openapi fuzz [{self.pass_name}]: {self.requests} requests over {self.operations} "
            f"operations, {self.server_errors} answered 5xx, {len(self.findings)} distinct "
            f"failures (statuses seen: {statuses}; time: {timing}; slowest: {slowest})"
        )

    def overview(self) -> list[str]:
        """Failures grouped by kind, each with the operations it affects."""
        kinds: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in self.findings.values():
            status = str(finding.status) if finding.status is not None else "-"
            kinds.setdefault((finding.check, status, finding.title), []).append(finding)
        lines = []
        for (check, status, title), findings in sorted(
            kinds.items(), key=lambda item: (item[0][0] != "not_a_server_error", item[0])
        ):
            operations = sorted(f.operation for f in findings)
            requests_seen = sum(f.count for f in findings)
            lines.append(
                f"- {check} / status {status} / {title}: {len(operations)} operations, "
                f"{requests_seen} requests"
            )
            lines.extend(f"    {operation}" for operation in operations)
        return lines

    def render(self) -> str:
        ordered = sorted(
            self.findings.values(),
            key=lambda f: (f.check != "not_a_server_error", f.check, f.operation, str(f.status)),
        )
        sections = [self.summary()]
        if self.stopped_early:
            sections.append(f"STOPPED EARLY: {self.stopped_early}")
        if ordered:
            sections.append("\n".join(["Failures by kind:", *self.overview()]))
            sections.append("Each failure with one reproducing request:")
        sections.extend(finding.render() for finding in ordered)
        return "\n\n".join(sections)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines() or [""])


def _excerpt(value: object) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\n", " ")
    return text if len(text) <= EXCERPT else f"{text[:EXCERPT]}… ({len(text)} chars)"


def _describe_request(response: Any) -> str:
    prepared = response.request
    auth = prepared.headers.get("Authorization")
    shown_auth = f" Authorization: {_excerpt(auth)[:40]}" if auth else " (no Authorization)"
    body = f" body={_excerpt(prepared.body)}" if prepared.body else ""
    return f"{prepared.method} {_excerpt(prepared.url)}{shown_auth}{body}"


def _describe_case(case: Any) -> str:
    return (
        f"{case.method} {case.formatted_path} query={_excerpt(case.query)} "
        f"headers={_excerpt(case.headers)} body={_excerpt(getattr(case, 'body', None))}"
    )


# -- the fuzz itself (synchronous; runs in a worker thread) ---------------------------------


def _strategy(operation: Any, real: dict[str, str]) -> st.SearchStrategy[Any]:
    """Generated path parameters, and also real resources so requests get past 404."""
    names = [parameter.name for parameter in operation.path_parameters]
    known = {name: real[name] for name in names if name in real}
    branches = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if known:
        branches.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))
        branches.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known))
        if "tenant" in known and len(names) > 1:
            only_tenant = {"tenant": known["tenant"]}
            branches.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters=only_tenant)
            )
    return st.one_of(branches)


def _protect_control_plane(case: Any, real_tenant: str) -> None:
    """Never let the fuzz change the control-plane tenant the rest of the session relies on."""
    tenant = case.path_parameters.get("tenant") if case.path_parameters else None
    if isinstance(tenant, str) and PROTECTED_TENANT in unquote(tenant).strip().lower():
        case.path_parameters["tenant"] = real_tenant


def _fuzz_operation(
    operation: Any,
    fuzz_pass: Pass,
    base_url: str,
    real: dict[str, str],
    session: requests.Session,
    report: Report,
) -> None:
    headers = fuzz_pass.headers_for(operation.path)
    label = operation.label

    def record_failure(check: str, failure: Failure, response: Any) -> None:
        report.add(
            Finding(
                pass_name=fuzz_pass.name,
                operation=label,
                check=check,
                status=response.status_code,
                title=failure.title,
                detail=_excerpt(failure.message),
                request=_describe_request(response),
                response_body=_excerpt(response.content),
            )
        )

    @seed(_operation_seed(fuzz_pass.name, label))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        deadline=None,
        derandomize=False,  # the explicit @seed makes the run reproducible per operation
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(case=_strategy(operation, real))
    def run(case: Any) -> None:
        _protect_control_plane(case, real["tenant"])
        sent = time.monotonic()
        try:
            response = case.call(
                base_url=base_url,
                session=session,
                headers=headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except Exception as error:
            report.add(
                Finding(
                    pass_name=fuzz_pass.name,
                    operation=label,
                    check="transport",
                    status=None,
                    title=type(error).__name__,
                    detail=_excerpt(error),
                    request=_describe_case(case),
                    response_body="<no response>",
                )
            )
            return
        finally:
            report.seconds["http"] += time.monotonic() - sent
            report.operation_seconds[label] += time.monotonic() - sent
        checked = time.monotonic()
        report.requests += 1
        report.statuses[response.status_code] += 1
        checks = CHECKS
        if response.status_code >= 500:
            report.server_errors += 1
            # Reported once, by not_a_server_error: no 5xx is ever documented or conformant.
            checks = (not_a_server_error,)
        for check in checks:
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    record_failure(check.__name__, failure, response)
            except Exception as error:  # a check that crashed is a finding too
                report.add(
                    Finding(
                        pass_name=fuzz_pass.name,
                        operation=label,
                        check=check.__name__,
                        status=response.status_code,
                        title=f"check crashed: {type(error).__name__}",
                        detail=_excerpt(error),
                        request=_describe_request(response),
                        response_body=_excerpt(response.content),
                    )
                )
        report.seconds["checks"] += time.monotonic() - checked

    try:
        run()
    except Exception as error:  # generation itself failed (e.g. an unusable schema)
        report.add(
            Finding(
                pass_name=fuzz_pass.name,
                operation=label,
                check="generation",
                status=None,
                title=type(error).__name__,
                detail=_excerpt(error),
                request="<none>",
                response_body="<none>",
            )
        )


def _operations(schema: Any, report: Report) -> Iterator[Any]:
    """Selected operations, reads first and deletes last so real resources live longest."""
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            report.add(
                Finding(
                    pass_name=report.pass_name,
                    operation="<schema>",
                    check="schema",
                    status=None,
                    title="operation could not be loaded",
                    detail=_excerpt(result.err()),
                    request="<none>",
                    response_body="<none>",
                )
            )
            continue
        operation = result.ok()
        if selected(operation.label):
            operations.append(operation)
    operations.sort(key=lambda op: (_METHOD_ORDER.get(op.method.lower(), 9), op.path))
    yield from operations


def fuzz(document: dict[str, Any], base_url: str, real: dict[str, str], fuzz_pass: Pass) -> Report:
    # An explicit Config: no schemathesis.toml is discovered from the working directory.
    config = schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": fuzz_pass.generated_credentials}}
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    report = Report(fuzz_pass.name)
    started = time.monotonic()
    with requests.Session() as session:
        session.trust_env = False  # loopback only: never a proxy from the environment
        if urlsplit(base_url).hostname == "127.0.0.1":
            session.mount("http://", _FromAddress(fuzz_pass.source_address))
        for operation in _operations(schema, report):
            if time.monotonic() - started > PASS_BUDGET_SECONDS:
                report.stopped_early = (
                    f"budget of {PASS_BUDGET_SECONDS}s spent before {operation.label}"
                )
                break
            report.operations += 1
            _fuzz_operation(operation, fuzz_pass, base_url, real, session, report)
    report.seconds["total"] = time.monotonic() - started
    return report


# -- real resources for path parameters ------------------------------------------------------


async def _created(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, body)
    assert response.status_code == 201, f"setup POST {path}: {response.status_code} {response.text}"
    return dict(response.json())


async def _real_resources(admin: Api) -> tuple[dict[str, str], tuple[str, str]]:
    """A tenant full of resources; returns path-parameter values and the tenant admin's Basic."""
    tenant = await admin.tenant()
    slug = tenant["slug"]
    base = f"/api/v1/tenants/{slug}"
    region = await admin.region()
    plan = await admin.plan()
    app = await admin.app(slug, region["code"])
    role = await _created(admin, f"{base}/roles", {"code": unique("role"), "name": "Fuzz role"})
    group = await _created(admin, f"{base}/groups", {"code": unique("group"), "name": "Fuzz"})
    user = await _created(admin, f"{base}/users", {"email": f"{unique('fuzz')}@example.com"})
    client = await _created(
        admin, f"{base}/clients", {"display_name": "Fuzz client", "apps": [app["slug"]]}
    )
    scope = await _created(admin, f"{base}/scopes", {"name": unique("fuzz.read")})
    server = await _created(
        admin,
        f"{base}/resource-servers",
        {"app": app["slug"], "audience": f"https://{unique('api')}.example.com", "name": "Fuzz"},
    )
    real = {
        "tenant": slug,
        "region": region["code"],
        "db_code": region["databases"][0]["db_code"],
        "plan": plan["code"],
        "app": app["slug"],
        "role": role["code"],
        "group": group["code"],
        "user": user["id"],
        "client_id": client["client_id"],
        "name": scope["name"],
        "resource_server": server["id"],
    }
    credentials = tenant["admin_client"]
    return real, (credentials["client_id"], credentials["client_secret"])


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture(scope="module")
async def fuzz_target(platform: Platform, admin: Api) -> dict[str, Any]:
    base_url = platform.gateway_url
    host = urlsplit(base_url).hostname
    assert host in ("127.0.0.1", "localhost", "::1"), f"fuzz must stay on loopback, not {host}"
    document = (await admin.get("/openapi.json")).json()
    real, basic = await _real_resources(admin)
    return {"base_url": base_url, "document": document, "real": real, "basic": basic}


def _passes(admin_token: str, basic: tuple[str, str]) -> dict[str, Pass]:
    return {
        # Authorization as generated from the security scheme: absent, malformed, random bearer.
        "unauthenticated": Pass(
            "unauthenticated", {}, {}, generated_credentials=True, source_address="127.0.0.2"
        ),
        # Always the operator's token (the tenant admin's Basic on the OAuth endpoints), so
        # requests get past authentication; nothing generates a competing Authorization.
        "operator": Pass(
            "operator",
            {"Authorization": f"Bearer {admin_token}"},
            {"Authorization": _basic(*basic)},
            generated_credentials=False,
            source_address="127.0.0.3",
        ),
    }


@pytest.mark.timeout(PASS_BUDGET_SECONDS + 90)
@pytest.mark.parametrize("pass_name", ["unauthenticated", "operator"])
async def test_every_operation_honours_its_openapi_contract_under_fuzzing(
    pass_name: str, fuzz_target: dict[str, Any], admin: Api
) -> None:
    fuzz_pass = _passes(admin.token, fuzz_target["basic"])[pass_name]
    # The gateway runs on this event loop; the fuzz blocks, so it runs in a worker thread.
    report = await asyncio.to_thread(
        fuzz, fuzz_target["document"], fuzz_target["base_url"], fuzz_target["real"], fuzz_pass
    )
    print(f"\n{report.summary()}")
    expected_operations = sum(
        1
        for path, methods in fuzz_target["document"]["paths"].items()
        for method in methods
        if selected(f"{method.upper()} {path}")
    )
    # Every assertion prints the whole report: the counts and every distinct failure.
    assert not report.stopped_early, report.render()
    assert report.operations == expected_operations, report.render()
    assert report.requests >= report.operations, report.render()
    if pass_name == "operator":
        # The operator's token works and real path parameters reach past 404 somewhere.
        assert any(200 <= status < 300 for status in report.statuses), report.render()
    assert report.server_errors == 0, report.render()
    assert not report.findings, report.render()
