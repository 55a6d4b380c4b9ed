"""The admin API's front door: who may even knock, decided before a body is read.

Every ``/api/v1`` operation authenticates the bearer token and checks a coarse access rule at
the gateway, before FastAPI parses or validates the request body: a caller without a token
gets 401, a caller of another tenant or without the operation's permission gets 403, whatever
the body holds (a validation answer would otherwise tell an anonymous caller which fields an
operation takes, and cost us a parse of whatever it sent).

The rule here is a necessary condition only. The registry stays the authority and applies
the full rule (escalation, plans, self-protection) to every call; :data:`ACCESS` must never be
stricter than the registry: the integration suites act with principals holding exactly what
each operation needs, and ``tests/unit/test_gateway_access.py`` checks that every operation has
a rule naming real permissions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.requests import Request

from services.common.access import Access, admit, any_of, needs, operator
from services.common.auth import Authenticator
from services.common.errors import DomainError
from services.gateway.problems import Problem, problem_from_domain

_TENANT = "/api/v1/tenants/{tenant}"

ACCESS: dict[tuple[str, str], Access] = {
    # Platform-wide resources: operators only, except what tenant admins need to create apps.
    ("POST", "/api/v1/tenants"): operator("tenant:write"),
    ("GET", "/api/v1/tenants"): operator("tenant:read"),
    ("GET", _TENANT): Access(all_of=("app:read",), operator_instead="tenant:read"),
    ("PATCH", _TENANT): operator("tenant:write"),
    ("POST", "/api/v1/regions"): operator("region:write"),
    ("GET", "/api/v1/regions"): any_of("app:read", "app:write", operator_instead="region:read"),
    ("GET", "/api/v1/regions/{region}"): any_of(
        "app:read", "app:write", operator_instead="region:read"
    ),
    ("PATCH", "/api/v1/regions/{region}"): operator("region:write"),
    ("DELETE", "/api/v1/regions/{region}"): operator("region:write"),
    ("POST", "/api/v1/regions/{region}/databases"): operator("region:write"),
    ("PATCH", "/api/v1/regions/{region}/databases/{db_code}"): operator("region:write"),
    ("POST", "/api/v1/plans"): operator("plan:write"),
    ("GET", "/api/v1/plans"): any_of("app:read", operator_instead="plan:read"),
    ("GET", "/api/v1/plans/{plan}"): any_of("app:read", operator_instead="plan:read"),
    ("PATCH", "/api/v1/plans/{plan}"): operator("plan:write"),
    ("DELETE", "/api/v1/plans/{plan}"): operator("plan:write"),
    # Apps and what hangs off them.
    ("POST", f"{_TENANT}/apps"): needs("app:write"),
    ("GET", f"{_TENANT}/apps"): needs("app:read"),
    ("GET", f"{_TENANT}/apps/{{app}}"): needs("app:read"),
    ("PATCH", f"{_TENANT}/apps/{{app}}"): needs("app:write"),
    ("DELETE", f"{_TENANT}/apps/{{app}}"): needs("app:write"),
    ("POST", f"{_TENANT}/apps/{{app}}/clone"): needs("app:write"),
    ("POST", f"{_TENANT}/permissions/register"): needs("permission:write"),
    ("GET", f"{_TENANT}/permissions"): any_of("permission:write", "app:read"),
    ("POST", f"{_TENANT}/scopes"): needs("app:write"),
    ("GET", f"{_TENANT}/scopes"): needs("app:read"),
    ("DELETE", f"{_TENANT}/scopes/{{name}}"): needs("app:write"),
    ("POST", f"{_TENANT}/resource-servers"): needs("app:write"),
    ("GET", f"{_TENANT}/resource-servers"): needs("app:read"),
    ("GET", f"{_TENANT}/resource-servers/{{resource_server}}"): needs("app:read"),
    ("PATCH", f"{_TENANT}/resource-servers/{{resource_server}}"): needs("app:write"),
    ("DELETE", f"{_TENANT}/resource-servers/{{resource_server}}"): needs("app:write"),
    ("GET", f"{_TENANT}/audit-events"): needs("audit:read"),
    ("GET", f"{_TENANT}/signing-keys"): needs("key:read"),
    ("POST", f"{_TENANT}/signing-keys/rotate"): needs("key:write"),
    # Clients.
    ("POST", f"{_TENANT}/clients"): needs("client:write"),
    ("GET", f"{_TENANT}/clients"): needs("client:read"),
    ("GET", f"{_TENANT}/clients/{{client_id}}"): needs("client:read"),
    ("PATCH", f"{_TENANT}/clients/{{client_id}}"): needs("client:write"),
    ("POST", f"{_TENANT}/clients/{{client_id}}/secret"): needs("client:write"),
    ("DELETE", f"{_TENANT}/clients/{{client_id}}"): needs("client:write"),
    # The directory.
    ("POST", f"{_TENANT}/users"): needs("user:write"),
    ("GET", f"{_TENANT}/users"): needs("user:read"),
    ("GET", f"{_TENANT}/users/{{user}}"): needs("user:read"),
    ("PATCH", f"{_TENANT}/users/{{user}}"): needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}"): needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/disable"): needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/enable"): needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/logout-everywhere"): needs("user:write"),
    ("PUT", f"{_TENANT}/users/{{user}}/password"): needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/password"): needs("user:write"),
    ("PUT", f"{_TENANT}/users/{{user}}/roles/{{role}}"): needs("user:write", "role:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/roles/{{role}}"): needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/apps/{{app}}"): needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/apps/{{app}}"): needs("user:write"),
    ("GET", f"{_TENANT}/users/{{user}}/apps"): needs("user:read"),
    ("GET", f"{_TENANT}/apps/{{app}}/members"): needs("user:read"),
    ("POST", f"{_TENANT}/roles"): needs("role:write"),
    ("GET", f"{_TENANT}/roles"): needs("role:read"),
    ("GET", f"{_TENANT}/roles/{{role}}"): needs("role:read"),
    ("PATCH", f"{_TENANT}/roles/{{role}}"): needs("role:write"),
    ("DELETE", f"{_TENANT}/roles/{{role}}"): needs("role:write"),
    ("PUT", f"{_TENANT}/roles/{{role}}/permissions"): needs("role:write"),
    ("POST", f"{_TENANT}/groups"): needs("user:write"),
    ("GET", f"{_TENANT}/groups"): needs("user:read"),
    ("GET", f"{_TENANT}/groups/{{group}}"): needs("user:read"),
    ("PATCH", f"{_TENANT}/groups/{{group}}"): needs("user:write"),
    ("DELETE", f"{_TENANT}/groups/{{group}}"): needs("user:write"),
    ("PUT", f"{_TENANT}/groups/{{group}}/roles"): needs("user:write", "role:write"),
    ("PUT", f"{_TENANT}/groups/{{group}}/members/{{user}}"): needs("user:write"),
    ("DELETE", f"{_TENANT}/groups/{{group}}/members/{{user}}"): needs("user:write"),
}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class AdminGate:
    """Authenticates the bearer token (signature, issuer, expiry: the registry also checks
    revocation) and applies :data:`ACCESS`; answers the refusal itself."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def refusal(self, request: Request, access: Access) -> Response | None:
        try:
            principal = await self._authenticator.principal_from_bearer(bearer_token(request))
            admit(principal, access, request.path_params.get("tenant"))
        except DomainError as error:
            return problem_from_domain(error, instance=request.url.path)
        return None


Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_ERRORS: dict[int, str] = {
    400: "Invalid request: the `errors` list names each bad field and how to fix it.",
    401: "No bearer token, or one that is invalid, expired or revoked.",
    403: "The token may not do this (another tenant, a missing permission, an escalation).",
    404: "No such tenant or object.",
    409: "Conflicts with the current state (taken, in use, limits); `blockers` lists why.",
    412: "If-Match names a version that is no longer current.",
    413: "The request body is larger than the admin API accepts (1 MiB).",
    414: "The request target is too long.",
    431: "The Authorization header or all headers together are too large.",
    503: "A service Tessera depends on is unavailable; retry after `Retry-After` seconds.",
}


def error_responses(method: str, conditional: bool) -> dict[int | str, dict[str, Any]]:
    """The error statuses an admin operation can answer, for its OpenAPI document."""
    statuses = [400, 401, 403, 404, 413, 414, 431, 503]
    if method != "GET":
        statuses.append(409)
    if conditional:
        statuses.append(412)
    return {status: {"model": Problem, "description": _ERRORS[status]} for status in statuses}


class GatedRoute(APIRoute):
    """An admin API route that passes :class:`AdminGate` before FastAPI reads its body.

    Construction fails for a route missing from :data:`ACCESS`, so no operation can ship
    ungated; its access rule is also written into the OpenAPI description.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        method = next(iter(kwargs.get("methods") or ["GET"])).upper()
        self.access = ACCESS[(method, path)]
        description = kwargs.get("description") or ""
        kwargs["description"] = f"{description}\n\n{self.access.describe()}".strip()
        kwargs["responses"] = {
            **error_responses(method, "if_match" in inspect.signature(endpoint).parameters),
            **(kwargs.get("responses") or {}),
        }
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        access = self.access

        async def gated(request: Request) -> Response:
            gate: AdminGate = request.app.state.gate
            refused = await gate.refusal(request, access)
            if refused is not None:
                return refused
            return await handler(request)

        return gated
