"""Access tokens stay within the size budget: permissions that would not fit are omitted with a
marker, never truncated (services.token.domain.token_size)."""

from __future__ import annotations

import jwt

from services.registry.catalog.models import PermissionDeclaration
from services.registry.clients.models import ClientPatch
from services.registry.roles.models import PermissionRef, RoleDraft
from services.token.domain.token_size import PERMISSIONS_OMITTED, fit_permissions
from tests.unit.registry import fakes as registry_fakes
from tests.unit.token import fakes

ADMIN = registry_fakes.tenant_admin("acme")


def claims(permissions: int) -> dict[str, object]:
    return {
        "iss": "https://id.example.com/t/acme",
        "sub": "tc_1",
        "roles": ["worker"],
        "permissions": [f"resource{i:05d}:action" for i in range(permissions)],
    }


def test_a_token_within_the_budget_is_left_alone() -> None:
    small = claims(10)
    assert fit_permissions(small, 8192) is small


def test_permissions_that_would_not_fit_are_omitted_with_the_marker_not_truncated() -> None:
    big = claims(1000)
    fitted = fit_permissions(big, 8192)
    assert "permissions" not in fitted
    assert fitted[PERMISSIONS_OMITTED] is True
    assert {k: v for k, v in fitted.items() if k != PERMISSIONS_OMITTED} == {
        k: v for k, v in big.items() if k != "permissions"
    }


async def big_client(w: fakes.TokenWorld) -> tuple[str, str]:
    """A client of ``billing`` whose roles grant 600 permissions, far past 8 KiB of token."""
    features = w.features
    services = ("billing", "files")
    _, credentials = await registry_fakes.app(w.seeded, "billing", service_codes=services)
    permission_writer = registry_fakes.tenant_admin("acme", "permission:write")
    roles = []
    # Two services of 300 entries each and a role per service (a role grants at most 500).
    for service in services:
        codes = [f"{service}{i:04d}:action" for i in range(300)]
        await features.catalog.register(
            permission_writer, "acme", service, [PermissionDeclaration(c) for c in codes]
        )
        role = await features.roles.create(ADMIN, "acme", RoleDraft(code=service, name=service))
        await features.roles.set_permissions(
            ADMIN, "acme", role.id, [PermissionRef(service, c) for c in codes], role.etag
        )
        roles.append(role.code)
    await features.clients.update(
        ADMIN, "acme", credentials.client_id, ClientPatch(roles=tuple(roles)), 0
    )
    return credentials.client_id, credentials.client_secret


async def test_a_minted_token_never_exceeds_the_budget() -> None:
    w = await fakes.token_world()
    client_id, secret = await big_client(w)
    issued = await w.exchange(client_id, secret)
    decoded = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert len(issued.access_token) <= 8192
    assert decoded[PERMISSIONS_OMITTED] is True
    assert "permissions" not in decoded
    assert decoded["roles"] == ["billing", "files"]


async def test_introspection_returns_the_full_list_of_a_token_minted_without_it() -> None:
    w = await fakes.token_world()
    client_id, secret = await big_client(w)
    issued = await w.exchange(client_id, secret)
    answer = await fakes.token_checks(w).introspect((client_id, secret), issued.access_token)
    assert answer["active"] is True
    assert PERMISSIONS_OMITTED not in answer
    assert len(answer["permissions"]) == 600
    assert "billing0000:action" in answer["permissions"]
