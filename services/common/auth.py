"""Who is calling: the verified identity behind an internal gRPC call.

The gateway forwards the caller's bearer token in ``authorization`` metadata; each service
verifies it locally with the same verifier the SDK offers (ARCHITECTURE §1). Platform
services calling each other present a service token minted by the token service
(``sub = service:<name>``, claim ``svc``), which no client or user token can carry.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from services.common.errors import PermissionDenied, Unauthenticated, Unavailable
from services.common.vocabulary import CONTROL_PLANE_TENANT, SYSTEM_APP
from tessera_sdk.verifier import BaseTokenVerifier, KeysUnavailable, TokenRejected

SERVICE_TOKENS_REMEMBERED = 1024

PrincipalKind = Literal["client", "user", "service"]


@dataclass(frozen=True)
class Principal:
    """A verified caller. ``tenant`` is the issuing tenant's slug."""

    tenant: str
    subject: str
    kind: PrincipalKind
    permissions: frozenset[str]
    client_id: str = ""
    app_code: str = ""

    @property
    def is_operator(self) -> bool:
        """Control-plane callers act platform-wide; tenant callers only on their tenant."""
        return self.tenant == CONTROL_PLANE_TENANT

    @property
    def actor_type(self) -> str:
        return self.kind

    def require(self, permission: str, tenant: str | None = None) -> None:
        """Raise PermissionDenied unless the caller holds ``permission`` for ``tenant``.

        Rule: a permission applies to the caller's own tenant; operators (control plane)
        hold their permissions for every tenant.
        """
        if tenant is not None:
            self.require_tenant(tenant)
        if permission not in self.permissions:
            raise PermissionDenied(
                "PERMISSION_MISSING",
                f"This call needs the permission {permission!r}; ask an administrator to "
                "grant a role that carries it.",
                metadata={"permission": permission},
            )

    def require_tenant(self, tenant: str) -> None:
        """Raise PermissionDenied unless the caller may act on ``tenant`` at all: its own
        tenant, or any tenant for operators."""
        if tenant != self.tenant and not self.is_operator:
            raise PermissionDenied(
                "TENANT_FORBIDDEN",
                f"Your token belongs to tenant {self.tenant!r} and cannot act on {tenant!r}.",
            )

    def require_service(self, service: str) -> None:
        if self.kind != "service" or self.subject != f"service:{service}":
            raise PermissionDenied(
                "SERVICE_ONLY", f"This call is reserved for the {service} service."
            )


def principal_from_claims(tenant: str, claims: dict[str, Any]) -> Principal:
    subject = str(claims.get("sub", ""))
    kind: PrincipalKind
    if claims.get("svc") and subject.startswith("service:") and tenant == CONTROL_PLANE_TENANT:
        kind = "service"
    elif claims.get("uid"):
        kind = "user"
    else:
        kind = "client"
    app_code = str(claims.get("app_code", ""))
    # Permission strings are only unique within an app's catalog (Modgud seed: the same
    # `user:write` in two apps is two permissions). Admin permissions therefore count only in
    # tokens minted for the system app; any other app's token administers nothing.
    admin = app_code == SYSTEM_APP
    return Principal(
        tenant=tenant,
        subject=subject,
        kind=kind,
        permissions=frozenset(claims.get("permissions") or ()) if admin else frozenset(),
        client_id=str(claims.get("client_id", "")),
        app_code=app_code,
    )


def bearer_from_metadata(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def accept_every_tenant(_tenant: str) -> bool:
    """Tessera's own services serve every tenant; each call is then scoped to the caller's
    tenant by :meth:`Principal.require`."""
    return True


class Authenticator:
    """Turns the bearer token of an incoming call into a Principal.

    Service tokens (claim ``svc``) are short-lived and never revoked (a service is trusted
    until its token expires): a verified one is remembered until then, so a service calling
    another pays the signature check once per token rather than once per call."""

    def __init__(
        self, verifier: BaseTokenVerifier, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._verifier = verifier
        self._clock = clock
        self._services: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        return await self.principal_from_bearer(bearer_from_metadata(context.invocation_metadata()))

    async def principal_from_bearer(self, token: str | None) -> Principal:
        """The verified caller behind a bearer token (None: no token was sent)."""
        if token is None:
            raise Unauthenticated(
                "BEARER_MISSING",
                "This call needs a bearer token: send 'Authorization: Bearer <access token>'.",
            )
        remembered = self._services.get(token)
        if remembered is not None and remembered[0] > self._clock():
            return remembered[1]
        try:
            verified = await self._verifier.verify(token)
        except TokenRejected as exc:
            raise Unauthenticated(f"TOKEN_{exc.reason}", exc.message) from exc
        except KeysUnavailable as exc:
            # Our own dependency failed, not the caller's token (ARCHITECTURE §7).
            raise Unavailable("KEYS_UNAVAILABLE", str(exc)) from exc
        principal = principal_from_claims(verified.tenant, verified.claims)
        if verified.claims.get("svc"):
            self._services[token] = (float(verified.claims["exp"]), principal)
            while len(self._services) > SERVICE_TOKENS_REMEMBERED:
                self._services.popitem(last=False)
        return principal


def require_operator(principal: Principal, permission: str) -> None:
    """Platform-wide resources (tenants, regions, plans) belong to the control plane only.

    A tenant could name a permission ``tenant:write`` in its own catalog; only the
    control-plane tenant's grant of it counts.
    """
    if not principal.is_operator:
        raise PermissionDenied(
            "OPERATOR_ONLY",
            f"This call needs {permission!r} in the control-plane tenant (platform operators).",
            metadata={"permission": permission},
        )
    principal.require(permission)
