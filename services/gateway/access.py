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
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.requests import Request

from services.common.auth import Authenticator, Principal, require_operator
from services.common.errors import DomainError
from services.gateway.problems import Problem, problem_from_domain


@dataclass(frozen=True)
class Access:
    """What a caller's token must carry for one operation.

    ``all_of``: every one of these; ``any_of``: at least one (when given); ``operator``: the
    caller must belong to the control plane (platform-wide resources);
    ``operator_elsewhere``: on another tenant than its own, the caller must be an operator
    holding this permission instead.
    """

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    operator: bool = False
    operator_elsewhere: str = ""

    def describe(self) -> str:
        parts = []
        if self.operator:
            parts.append("a platform operator (control-plane tenant)")
        if self.all_of:
            parts.append(" and ".join(f"`{p}`" for p in self.all_of))
        if self.any_of:
            parts.append("one of " + ", ".join(f"`{p}`" for p in self.any_of))
        text = "Requires " + " with ".join(parts) + "."
        if self.operator_elsewhere:
            text += f" On another tenant: an operator with `{self.operator_elsewhere}`."
        return text


def _operator(permission: str) -> Access:
    return Access(all_of=(permission,), operator=True)


def _needs(*permissions: str) -> Access:
    return Access(all_of=permissions)


def _any(*permissions: str) -> Access:
    return Access(any_of=permissions)


_TENANT = "/api/v1/tenants/{tenant}"

ACCESS: dict[tuple[str, str], Access] = {
    # Platform-wide resources: operators only, except what tenant admins need to create apps.
    ("POST", "/api/v1/tenants"): _operator("tenant:write"),
    ("GET", "/api/v1/tenants"): _operator("tenant:read"),
    ("GET", _TENANT): Access(all_of=("app:read",), operator_elsewhere="tenant:read"),
    ("PATCH", _TENANT): _operator("tenant:write"),
    ("POST", "/api/v1/regions"): _operator("region:write"),
    ("GET", "/api/v1/regions"): _any("app:read", "app:write", "region:read"),
    ("GET", "/api/v1/regions/{region}"): _any("app:read", "app:write", "region:read"),
    ("PATCH", "/api/v1/regions/{region}"): _operator("region:write"),
    ("DELETE", "/api/v1/regions/{region}"): _operator("region:write"),
    ("POST", "/api/v1/regions/{region}/databases"): _operator("region:write"),
    ("PATCH", "/api/v1/regions/{region}/databases/{db_code}"): _operator("region:write"),
    ("POST", "/api/v1/plans"): _operator("plan:write"),
    ("GET", "/api/v1/plans"): _any("app:read", "plan:read"),
    ("GET", "/api/v1/plans/{plan}"): _any("app:read", "plan:read"),
    ("PATCH", "/api/v1/plans/{plan}"): _operator("plan:write"),
    ("DELETE", "/api/v1/plans/{plan}"): _operator("plan:write"),
    # Apps and what hangs off them.
    ("POST", f"{_TENANT}/apps"): _needs("app:write"),
    ("GET", f"{_TENANT}/apps"): _needs("app:read"),
    ("GET", f"{_TENANT}/apps/{{app}}"): _needs("app:read"),
    ("PATCH", f"{_TENANT}/apps/{{app}}"): _needs("app:write"),
    ("DELETE", f"{_TENANT}/apps/{{app}}"): _needs("app:write"),
    ("POST", f"{_TENANT}/apps/{{app}}/clone"): _needs("app:write"),
    ("POST", f"{_TENANT}/permissions/register"): _needs("permission:write"),
    ("GET", f"{_TENANT}/permissions"): _any("permission:write", "app:read"),
    ("POST", f"{_TENANT}/scopes"): _needs("app:write"),
    ("GET", f"{_TENANT}/scopes"): _needs("app:read"),
    ("DELETE", f"{_TENANT}/scopes/{{name}}"): _needs("app:write"),
    ("POST", f"{_TENANT}/resource-servers"): _needs("app:write"),
    ("GET", f"{_TENANT}/resource-servers"): _needs("app:read"),
    ("GET", f"{_TENANT}/resource-servers/{{resource_server}}"): _needs("app:read"),
    ("PATCH", f"{_TENANT}/resource-servers/{{resource_server}}"): _needs("app:write"),
    ("DELETE", f"{_TENANT}/resource-servers/{{resource_server}}"): _needs("app:write"),
    ("GET", f"{_TENANT}/audit-events"): _needs("audit:read"),
    # Clients.
    ("POST", f"{_TENANT}/clients"): _needs("client:write"),
    ("GET", f"{_TENANT}/clients"): _needs("client:read"),
    ("GET", f"{_TENANT}/clients/{{client_id}}"): _needs("client:read"),
    ("PATCH", f"{_TENANT}/clients/{{client_id}}"): _needs("client:write"),
    ("POST", f"{_TENANT}/clients/{{client_id}}/secret"): _needs("client:write"),
    ("DELETE", f"{_TENANT}/clients/{{client_id}}"): _needs("client:write"),
    # The directory.
    ("POST", f"{_TENANT}/users"): _needs("user:write"),
    ("GET", f"{_TENANT}/users"): _needs("user:read"),
    ("GET", f"{_TENANT}/users/{{user}}"): _needs("user:read"),
    ("PATCH", f"{_TENANT}/users/{{user}}"): _needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}"): _needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/disable"): _needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/enable"): _needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/logout-everywhere"): _needs("user:write"),
    ("PUT", f"{_TENANT}/users/{{user}}/password"): _needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/password"): _needs("user:write"),
    ("PUT", f"{_TENANT}/users/{{user}}/roles/{{role}}"): _needs("user:write", "role:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/roles/{{role}}"): _needs("user:write"),
    ("POST", f"{_TENANT}/users/{{user}}/apps/{{app}}"): _needs("user:write"),
    ("DELETE", f"{_TENANT}/users/{{user}}/apps/{{app}}"): _needs("user:write"),
    ("GET", f"{_TENANT}/users/{{user}}/apps"): _needs("user:read"),
    ("GET", f"{_TENANT}/apps/{{app}}/members"): _needs("user:read"),
    ("POST", f"{_TENANT}/roles"): _needs("role:write"),
    ("GET", f"{_TENANT}/roles"): _needs("role:read"),
    ("GET", f"{_TENANT}/roles/{{role}}"): _needs("role:read"),
    ("PATCH", f"{_TENANT}/roles/{{role}}"): _needs("role:write"),
    ("DELETE", f"{_TENANT}/roles/{{role}}"): _needs("role:write"),
    ("PUT", f"{_TENANT}/roles/{{role}}/permissions"): _needs("role:write"),
    ("POST", f"{_TENANT}/groups"): _needs("user:write"),
    ("GET", f"{_TENANT}/groups"): _needs("user:read"),
    ("GET", f"{_TENANT}/groups/{{group}}"): _needs("user:read"),
    ("PATCH", f"{_TENANT}/groups/{{group}}"): _needs("user:write"),
    ("DELETE", f"{_TENANT}/groups/{{group}}"): _needs("user:write"),
    ("PUT", f"{_TENANT}/groups/{{group}}/roles"): _needs("user:write", "role:write"),
    ("PUT", f"{_TENANT}/groups/{{group}}/members/{{user}}"): _needs("user:write"),
    ("DELETE", f"{_TENANT}/groups/{{group}}/members/{{user}}"): _needs("user:write"),
}


def admit(principal: Principal, access: Access, tenant: str | None) -> None:
    """Raise PermissionDenied unless ``principal`` passes ``access`` on ``tenant`` (the path's
    tenant, if the operation has one). Same reasons and wording as the registry's checks."""
    if access.operator:
        require_operator(principal, access.all_of[0])
        return
    if tenant is not None and tenant != principal.tenant and access.operator_elsewhere:
        require_operator(principal, access.operator_elsewhere)
        return
    if tenant is not None:
        principal.require_tenant(tenant)
    for permission in access.all_of:
        principal.require(permission, tenant)
    if access.any_of and not any(p in principal.permissions for p in access.any_of):
        principal.require(access.any_of[-1], tenant)


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
