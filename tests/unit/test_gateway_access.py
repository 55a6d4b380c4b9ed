"""The admin API's front door: every operation has an access rule naming real permissions,
and the rule is applied the way the registry words its own refusals."""

from __future__ import annotations

import pytest

from services.common.access import Access, admit
from services.common.auth import Principal
from services.common.errors import PermissionDenied
from services.common.settings import Settings
from services.common.vocabulary import CONTROL_PLANE_PERMISSIONS, TESSERA_PERMISSIONS
from services.gateway.access import ACCESS
from services.gateway.app import create_app

KNOWN = set(TESSERA_PERMISSIONS) | set(CONTROL_PLANE_PERMISSIONS)


def _principal(tenant: str, *permissions: str) -> Principal:
    return Principal(tenant=tenant, subject="c", kind="client", permissions=frozenset(permissions))


def test_every_admin_operation_of_the_openapi_document_has_an_access_rule() -> None:
    document = create_app(Settings(), None, None).openapi()  # type: ignore[arg-type]
    operations = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1")
        for method in methods
    }
    assert operations == set(ACCESS)


@pytest.mark.parametrize(("operation", "access"), ACCESS.items(), ids=lambda x: str(x))
def test_access_rules_name_only_permissions_of_the_platform_catalogs(
    operation: tuple[str, str], access: Access
) -> None:
    named = {
        *access.all_of,
        *access.any_of,
        *([access.operator_instead] if access.operator_instead else []),
    }
    assert named
    assert named <= KNOWN, named - KNOWN


@pytest.mark.parametrize(("operation", "access"), ACCESS.items(), ids=lambda x: str(x))
def test_a_holder_of_exactly_the_named_permissions_passes_the_gate(
    operation: tuple[str, str], access: Access
) -> None:
    needed = {*access.all_of, *access.any_of[:1]}
    tenant = "control-plane" if access.operator else "acme"
    path_tenant = "acme" if "{tenant}" in operation[1] else None
    admit(_principal(tenant, *needed), access, path_tenant)


def test_another_tenant_is_refused_before_permissions_are_looked_at() -> None:
    with pytest.raises(PermissionDenied) as caught:
        admit(
            _principal("globex", *KNOWN),
            ACCESS[("POST", "/api/v1/tenants/{tenant}/clients")],
            "acme",
        )
    assert caught.value.reason == "TENANT_FORBIDDEN"


def test_a_missing_permission_is_named() -> None:
    with pytest.raises(PermissionDenied) as caught:
        admit(
            _principal("acme", "user:write"),
            ACCESS[("PUT", "/api/v1/tenants/{tenant}/users/{user}/roles/{role}")],
            "acme",
        )
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "role:write"}


def test_platform_resources_need_an_operator_whatever_the_tenant_permissions() -> None:
    with pytest.raises(PermissionDenied) as caught:
        admit(_principal("acme", *KNOWN), ACCESS[("POST", "/api/v1/regions")], None)
    assert caught.value.reason == "OPERATOR_ONLY"
    with pytest.raises(PermissionDenied) as caught:
        admit(_principal("acme", *KNOWN), ACCESS[("GET", "/api/v1/tenants/{tenant}")], "globex")
    assert caught.value.reason == "OPERATOR_ONLY"
    admit(_principal("acme", "app:read"), ACCESS[("GET", "/api/v1/tenants/{tenant}")], "acme")
