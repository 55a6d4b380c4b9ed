"""Tenant isolation, operation by operation, generated from the gateway's OpenAPI document.

Every ``/api/v1`` operation (method + path) is called by three callers that must not get
through: another tenant's admin, a client of the same tenant whose token carries only
``app:read``, and a caller without a token. Path parameters are real identifiers of tenant A's
objects (and real platform region/plan codes), and a plausible valid body is sent (derived from
the requestBody schema's required properties) as well as an empty ``{}`` body, so that a missing
check would really succeed and a check made only after body validation shows up.

A control runs the same matrix as an operator first: every operation answers 2xx with those
identifiers and bodies, so the refusals are the checks at work, not a 404 or 400 of a bad request.

The parameters are generated at collection time from the OpenAPI document of the same gateway
application (``create_app(...).openapi()``); each caller kind ends with a test comparing what the
matrix tried with the document the running gateway serves at ``/openapi.json``, so an operation
added to the API cannot escape the matrix.

Expected outcomes (SPEC "Authentication before validation; tenant scope at the edge"):
- another tenant's admin: 403 TENANT_FORBIDDEN on ``/tenants/{tenant}/...``, 403 OPERATOR_ONLY on
  platform operations; only the shared platform reference data that every app:read holder reads
  to pick a region or plan (GET regions/plans) answers 200;
- the app:read-only client: 200 on the operations that need only app:read (apps, its own tenant,
  permission catalog, scopes, resource servers, regions, plans), 403 PERMISSION_MISSING (or
  OPERATOR_ONLY on platform operations) everywhere else;
- no token: 401 BEARER_MISSING with ``WWW-Authenticate: Bearer ...``, whatever the body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration.conftest import PUBLIC_URL, Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration

PASSWORD = "Tr0ub4dor&3-horse-battery"
API_PREFIX = "/api/v1"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

CROSS_TENANT = "another tenant's admin"
APP_READER = "app:read-only client"
ANONYMOUS = "no token"
OPERATOR = "operator (control)"

# Platform reference data every app:read holder reads (tenant admins pick a region and a plan
# when they create an app); not tenant A's objects, so another tenant's admin may read them too.
SHARED_REFERENCE_READS = frozenset(
    {
        "GET /api/v1/regions",
        "GET /api/v1/regions/{region}",
        "GET /api/v1/plans",
        "GET /api/v1/plans/{plan}",
    }
)
# Operations that need nothing but app:read on the caller's own tenant.
APP_READ_OPERATIONS = SHARED_REFERENCE_READS | {
    "GET /api/v1/tenants/{tenant}",
    "GET /api/v1/tenants/{tenant}/apps",
    "GET /api/v1/tenants/{tenant}/apps/{app}",
    "GET /api/v1/tenants/{tenant}/permissions",
    "GET /api/v1/tenants/{tenant}/scopes",
    "GET /api/v1/tenants/{tenant}/resource-servers",
    "GET /api/v1/tenants/{tenant}/resource-servers/{resource_server}",
}


def _declared_document() -> dict[str, Any]:
    """The OpenAPI document of the gateway application, built without starting anything."""
    from services.common.settings import Settings
    from services.gateway.app import create_app

    return dict(create_app(Settings(public_url=PUBLIC_URL), None, None).openapi())  # type: ignore[arg-type]


def operations_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path) of every /api/v1 operation; deletions last (sub-resources before their
    parents) so that a missing check on a DELETE cannot take away what the other cases aim at."""
    found = [
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        if path.startswith(API_PREFIX + "/")
        for method in item
        if method in HTTP_METHODS
    ]
    return sorted(
        found, key=lambda op: (op[0] == "DELETE", -op[1].count("/") * (op[0] == "DELETE"))
    )


OPERATIONS = operations_of(_declared_document())
OPERATION_IDS = [f"{method} {path}" for method, path in OPERATIONS]


# -- tenant A's world ---------------------------------------------------------------------------


@dataclass
class World:
    """Tenant A with one real object of every kind, and the callers that must not get in."""

    tenant: str
    region: str  # the region tenant A's apps live in
    free_region: str  # a region nothing uses: deleting it would succeed
    free_db: str
    plan: str  # a plan nothing uses
    app: str  # id of tenant A's app (referenced by the objects below)
    app_slug: str
    spare_app: str  # an unreferenced app: deleting it would succeed
    client_id: str
    user: str  # id; member of the app and of the group, has a password and a role
    role: str  # code
    spare_role: str  # an unassigned role: deleting it would succeed
    group: str  # code
    scope: str
    resource_server: str  # id
    permission: str  # a catalog entry of the app
    caller: Api | None  # None = no token

    def path_values(self, method: str, path: str) -> dict[str, str]:
        values = {
            "tenant": self.tenant,
            "app": self.app,
            "client_id": self.client_id,
            "user": self.user,
            "role": self.role,
            "group": self.group,
            "name": self.scope,
            "resource_server": self.resource_server,
            "region": self.free_region,
            "db_code": self.free_db,
            "plan": self.plan,
        }
        if method == "DELETE" and path == "/api/v1/tenants/{tenant}/apps/{app}":
            values["app"] = self.spare_app
        if method == "DELETE" and path == "/api/v1/tenants/{tenant}/roles/{role}":
            values["role"] = self.spare_role
        return values


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def build_world(admin: Api, kind: str) -> World:
    region = await admin.region()
    free_region = await admin.region()
    plan = await admin.plan()
    tenant_record = await admin.tenant()
    tenant = tenant_record["slug"]
    base = f"{API_PREFIX}/tenants/{tenant}"
    app = await admin.app(tenant, region["code"])
    spare_app = await admin.app(tenant, region["code"])
    # An app's own client references it (409 APP_IN_USE); without it the app is deletable.
    spare_client = await admin.delete(f"{base}/clients/{spare_app['client_id']}")
    assert spare_client.status_code == 204, spare_client.text
    permission = "orders:read"
    ok(
        await admin.post(
            f"{base}/permissions/register",
            {
                "service": app["slug"],
                "permissions": [{"code": permission}, {"code": "orders:write"}],
            },
        )
    )
    role = unique("role")
    ok(await admin.post(f"{base}/roles", {"code": role, "name": "Matrix role"}))
    ok(
        await admin.put(
            f"{base}/roles/{role}/permissions",
            {"permissions": [{"service": app["slug"], "code": permission}]},
        )
    )
    spare_role = unique("role")
    ok(await admin.post(f"{base}/roles", {"code": spare_role, "name": "Spare role"}))
    client = ok(
        await admin.post(
            f"{base}/clients", {"display_name": "Matrix client", "apps": [app["slug"]]}
        )
    )
    user = ok(
        await admin.post(
            f"{base}/users", {"email": f"{unique('user')}@example.com", "password": PASSWORD}
        )
    )
    ok(await admin.put(f"{base}/users/{user['id']}/roles/{role}", None))
    ok(await admin.post(f"{base}/users/{user['id']}/apps/{app['slug']}"))
    group = unique("group")
    ok(
        await admin.post(
            f"{base}/groups", {"code": group, "name": "Matrix group", "bound_to": ["*"]}
        )
    )
    ok(await admin.put(f"{base}/groups/{group}/members/{user['id']}", None))
    scope = unique("scope")
    ok(await admin.post(f"{base}/scopes", {"name": scope, "app": app["slug"]}))
    resource_server = ok(
        await admin.post(
            f"{base}/resource-servers",
            {"app": app["slug"], "audience": f"https://{unique('api')}.example.com", "name": "API"},
        )
    )

    caller: Api | None = None
    if kind == OPERATOR:
        caller = admin
    elif kind == CROSS_TENANT:
        caller = await tenant_admin(admin.http, await admin.tenant())
    elif kind == APP_READER:
        reader_role = unique("app-reader")
        ok(await admin.post(f"{base}/roles", {"code": reader_role, "name": "App reader"}))
        ok(
            await admin.put(
                f"{base}/roles/{reader_role}/permissions",
                {"permissions": [{"service": "tessera", "code": "app:read"}]},
            )
        )
        reader = ok(
            await admin.post(
                f"{base}/clients",
                {"display_name": "App reader", "apps": ["tessera"], "roles": [reader_role]},
            )
        )
        token = ok(
            await client_credentials(
                admin.http, tenant, reader["client_id"], reader["client_secret"]
            )
        )
        caller = Api(admin.http, token["access_token"])
        assert (await caller.get(f"{base}/apps")).status_code == 200  # it is a real app reader

    return World(
        tenant=tenant,
        region=region["code"],
        free_region=free_region["code"],
        free_db=free_region["databases"][0]["db_code"],
        plan=plan["code"],
        app=app["id"],
        app_slug=app["slug"],
        spare_app=spare_app["id"],
        client_id=client["client_id"],
        user=user["id"],
        role=role,
        spare_role=spare_role,
        group=group,
        scope=scope,
        resource_server=resource_server["id"],
        permission=permission,
        caller=caller,
    )


# -- request bodies derived from the requestBody schemas ---------------------------------------

# Values for required properties, by "Schema.property" first, then by property name.
FIELD_VALUES: dict[str, Callable[[World], Any]] = {
    "RegisterPermissions.permissions": lambda w: [{"code": w.permission}, {"code": "orders:write"}],
    "RolePermissions.permissions": lambda w: [{"service": w.app_slug, "code": w.permission}],
    "slug": lambda w: unique("mx"),
    "code": lambda w: unique("mx"),
    "name": lambda w: unique("mx"),
    "display_name": lambda w: unique("Matrix"),
    "first_name": lambda w: "Mallory",
    "region": lambda w: w.region,
    "db_code": lambda w: unique("db"),
    "active": lambda w: True,
    "email": lambda w: f"{unique('mx')}@example.com",
    "password": lambda w: PASSWORD,
    "apps": lambda w: [w.app_slug],
    "app": lambda w: w.app_slug,
    "service": lambda w: w.app_slug,
    "audience": lambda w: f"https://{unique('api')}.example.com",
    "roles": lambda w: [w.role],
    "grace_period_seconds": lambda w: 0,
}
# Schemas without required properties get one real change (the first of these they have).
OPTIONAL_CHANGES = ("display_name", "name", "first_name", "grace_period_seconds")
TYPE_DEFAULTS: dict[str, Callable[[], Any]] = {
    "string": lambda: unique("mx"),
    "boolean": lambda: True,
    "integer": lambda: 1,
    "number": lambda: 1,
    "array": list,
    "object": dict,
}
NO_BODY = object()


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    for choice in schema.get("anyOf", []):
        if "$ref" in choice:
            schema = choice
            break
    name = schema.get("$ref", "").rpartition("/")[2]
    if name:
        schema = document["components"]["schemas"][name]
    return name, schema


def valid_body(document: dict[str, Any], operation: dict[str, Any], world: World) -> Any:
    name, schema = body_schema(document, operation)
    properties: dict[str, Any] = schema.get("properties", {})
    wanted = list(schema.get("required", [])) or [
        next((p for p in OPTIONAL_CHANGES if p in properties), "")
    ]
    body: dict[str, Any] = {}
    for prop in filter(None, wanted):
        make = FIELD_VALUES.get(f"{name}.{prop}") or FIELD_VALUES.get(prop)
        if make is None:
            kind = properties.get(prop, {}).get("type", "string")
            body[prop] = TYPE_DEFAULTS.get(kind, TYPE_DEFAULTS["string"])()
        else:
            body[prop] = make(world)
    return body


# -- expectations -------------------------------------------------------------------------------


def expected(kind: str, method: str, path: str) -> tuple[int, frozenset[str]]:
    """(status, acceptable reasons) for ``kind`` calling ``method path``; reasons empty = 2xx."""
    key = f"{method} {path}"
    if kind == ANONYMOUS:
        return 401, frozenset({"BEARER_MISSING"})
    if kind == CROSS_TENANT:
        if key in SHARED_REFERENCE_READS:
            return 200, frozenset()
        if path.startswith(f"{API_PREFIX}/tenants/{{tenant}}/"):
            return 403, frozenset({"TENANT_FORBIDDEN"})
        if path == f"{API_PREFIX}/tenants/{{tenant}}":
            return 403, frozenset({"TENANT_FORBIDDEN", "OPERATOR_ONLY"})
        return 403, frozenset({"OPERATOR_ONLY"})
    if key in APP_READ_OPERATIONS:
        return 200, frozenset()
    if path.startswith(f"{API_PREFIX}/tenants/{{tenant}}/"):
        return 403, frozenset({"PERMISSION_MISSING"})
    return 403, frozenset({"OPERATOR_ONLY"})


def judge(kind: str, method: str, path: str, response: httpx.Response) -> str | None:
    """None when the response is what ``kind`` must get, else a one-line description."""
    if kind == OPERATOR:
        return None if response.is_success else f"expected 2xx, got {_seen(response)}"
    status, reasons = expected(kind, method, path)
    if response.status_code != status:
        return (
            f"expected {status} {'/'.join(sorted(reasons))}".rstrip() + f", got {_seen(response)}"
        )
    if not reasons:
        return None
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"expected problem+json, got {response.headers.get('content-type')!r}"
    reason = response.json().get("reason")
    if reason not in reasons:
        return f"expected reason {'/'.join(sorted(reasons))}, got {_seen(response)}"
    if status == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
        return (
            f"401 without 'WWW-Authenticate: Bearer': {response.headers.get('www-authenticate')!r}"
        )
    return None


def _seen(response: httpx.Response) -> str:
    try:
        reason = response.json().get("reason", "")
    except ValueError:
        reason = response.text[:80]
    return f"{response.status_code} {reason}".strip()


# -- the matrix ---------------------------------------------------------------------------------


@dataclass
class Tally:
    tried: set[str] = field(default_factory=set)
    held: set[str] = field(default_factory=set)
    requests: int = 0


class Matrix:
    def __init__(self, admin: Api, document: dict[str, Any]) -> None:
        self.admin = admin
        self.document = document
        self.worlds: dict[str, World] = {}
        self.tallies: dict[str, Tally] = {
            kind: Tally() for kind in (OPERATOR, CROSS_TENANT, APP_READER, ANONYMOUS)
        }

    @property
    def running_operations(self) -> set[str]:
        return {f"{m} {p}" for m, p in operations_of(self.document)}

    async def world(self, kind: str) -> World:
        if kind not in self.worlds:
            self.worlds[kind] = await build_world(self.admin, kind)
        return self.worlds[kind]

    async def check(self, kind: str, method: str, path: str) -> None:
        key = f"{method} {path}"
        tally = self.tallies[kind]
        tally.tried.add(key)
        operation = self.document["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{key} is not in the running gateway's /openapi.json"
        world = await self.world(kind)
        values = world.path_values(method, path)
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        unknown = [name for name in names if name not in values]
        assert not unknown, f"no real identifier of tenant A for path parameters {unknown}"
        url = path.format(**values)
        variants: list[tuple[str, Any]] = [("no body", NO_BODY)]
        if "requestBody" in operation:
            variants = [("valid body", valid_body(self.document, operation, world))]
            if kind != OPERATOR:
                variants.append(("empty body", {}))
        headers = world.caller.headers if world.caller is not None else {}
        failures = []
        for label, body in variants:
            extra = {} if body is NO_BODY else {"json": body}
            response = await self.admin.http.request(method, url, headers=headers, **extra)
            tally.requests += 1
            verdict = judge(kind, method, path, response)
            if verdict is not None:
                shown = "" if body is NO_BODY or not body else f" {body}"
                failures.append(f"{label}{shown}: {verdict}")
        assert not failures, f"{kind} on {method} {url}: " + "; ".join(failures)
        tally.held.add(key)

    def assert_covered(self, kind: str) -> None:
        tally = self.tallies[kind]
        documented = self.running_operations
        print(
            f"\n{kind}: {len(documented)} operations documented, {len(tally.tried)} tried "
            f"({tally.requests} requests), {len(tally.held)} held, "
            f"{len(tally.tried) - len(tally.held)} let through or answered wrongly"
        )
        assert len(documented) > 60
        assert tally.tried == documented, {
            "documented, never tried": sorted(documented - tally.tried),
            "tried, not documented": sorted(tally.tried - documented),
        }


@pytest.fixture(scope="module")
async def matrix(admin: Api, http: httpx.AsyncClient) -> Matrix:
    response = await http.get("/openapi.json")
    assert response.status_code == 200, response.text
    return Matrix(admin, response.json())


def test_the_matrix_is_generated_from_the_whole_api() -> None:
    assert len(OPERATIONS) > 60
    assert len(set(OPERATIONS)) == len(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=OPERATION_IDS)
async def test_an_operator_succeeds_with_the_same_identifiers_and_bodies(
    matrix: Matrix, method: str, path: str
) -> None:
    """The control: the matrix's identifiers and bodies are real, so the refusals below are
    the checks at work and not a 404 or a 400 of a bad request."""
    await matrix.check(OPERATOR, method, path)


def test_the_operator_control_covered_every_documented_operation(matrix: Matrix) -> None:
    matrix.assert_covered(OPERATOR)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=OPERATION_IDS)
async def test_another_tenants_admin_gets_nothing_of_tenant_a(
    matrix: Matrix, method: str, path: str
) -> None:
    await matrix.check(CROSS_TENANT, method, path)


def test_the_cross_tenant_matrix_covered_every_documented_operation(matrix: Matrix) -> None:
    matrix.assert_covered(CROSS_TENANT)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=OPERATION_IDS)
async def test_an_app_read_only_client_reads_apps_and_nothing_more(
    matrix: Matrix, method: str, path: str
) -> None:
    await matrix.check(APP_READER, method, path)


def test_the_app_reader_matrix_covered_every_documented_operation(matrix: Matrix) -> None:
    matrix.assert_covered(APP_READER)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=OPERATION_IDS)
async def test_a_caller_without_a_token_is_401_before_anything_else(
    matrix: Matrix, method: str, path: str
) -> None:
    await matrix.check(ANONYMOUS, method, path)


def test_the_anonymous_matrix_covered_every_documented_operation(matrix: Matrix) -> None:
    matrix.assert_covered(ANONYMOUS)
