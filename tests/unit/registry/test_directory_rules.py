"""Directory validation rules: accepted and rejected examples with exact reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import FieldViolation, ValidationErrors
from services.registry.apps.models import AppRef
from services.registry.catalog.models import PermissionEntry
from services.registry.groups.models import Group
from services.registry.groups.rules import resolve_bound_to, resolve_roles, validate_group_code
from services.registry.roles.models import PermissionRef, Role, RolePermission, RoleRef
from services.registry.roles.rules import resolve_role_permissions, validate_role_code
from services.registry.users.rules import (
    email_key,
    validate_email,
    validate_password,
    validate_person_name,
    validate_username,
)


def run(
    validator: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, list[FieldViolation]]:
    errors = ValidationErrors()
    return validator(errors, *args, **kwargs), errors.violations


def only_reasons(violations: list[FieldViolation]) -> list[tuple[str, str]]:
    return [(v.field, v.reason) for v in violations]


# -- emails ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM ", "Ann.Lee@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("jörg@bücher.de", "jörg@bücher.de"),
        ("o'neil@example.org", "o'neil@example.org"),
    ],
)
def test_valid_emails_are_trimmed_and_their_domain_lower_cased(raw: str, normalised: str) -> None:
    assert run(validate_email, raw) == (normalised, [])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "EMAIL_REQUIRED"),
        ("   ", "EMAIL_REQUIRED"),
        ("ann", "EMAIL_INVALID"),
        ("ann@", "EMAIL_INVALID"),
        ("@example.com", "EMAIL_INVALID"),
        ("ann@localhost", "EMAIL_INVALID"),
        ("ann lee@example.com", "EMAIL_INVALID"),
        ('"ann"@example.com', "EMAIL_INVALID"),
        ("ann..lee@example.com", "EMAIL_INVALID"),
        (".ann@example.com", "EMAIL_INVALID"),
        ("ann@exa_mple.com", "EMAIL_INVALID"),
        ("ann@-example.com", "EMAIL_INVALID"),
        ("ann@example.123", "EMAIL_INVALID"),
        ("ann@example..com", "EMAIL_INVALID"),
        ("a" * 65 + "@example.com", "EMAIL_INVALID"),
        ("a" * 64 + "@" + "b" * 190 + ".com", "EMAIL_TOO_LONG"),
    ],
)
def test_invalid_emails_are_refused(raw: str, reason: str) -> None:
    value, violations = run(validate_email, raw)
    assert value is None
    assert only_reasons(violations) == [("email", reason)]


def test_email_keys_fold_case_so_differently_cased_addresses_collide() -> None:
    assert email_key("Ann@Example.com") == email_key("ann@example.com")
    assert email_key("STRASSE@example.com") == email_key("straße@example.com")
    assert email_key("ann@example.com") != email_key("anne@example.com")


@given(st.text(max_size=40))
def test_email_key_is_stable(value: str) -> None:
    assert email_key(email_key(value)) == email_key(value)


# -- names, usernames, passwords ------------------------------------------------------------


def test_person_names_are_optional_trimmed_and_bounded() -> None:
    assert run(validate_person_name, "  Ann ", field="first_name") == ("Ann", [])
    assert run(validate_person_name, "   ", field="first_name") == ("", [])
    assert run(validate_person_name, "x" * 100, field="last_name")[0] == "x" * 100
    _, long = run(validate_person_name, "x" * 101, field="last_name")
    assert only_reasons(long) == [("last_name", "NAME_TOO_LONG")]
    _, control = run(validate_person_name, "Ann\x07", field="first_name")
    assert only_reasons(control) == [("first_name", "NAME_CONTROL_CHARACTER")]


@pytest.mark.parametrize("name", ["ann", "ann.lee", "a_b-c", "007", "x" * 63, ""])
def test_valid_usernames(name: str) -> None:
    assert run(validate_username, name) == (name, [])


@pytest.mark.parametrize("name", ["ab", "Ann", "ann lee", "ann@x", "x" * 64, "änn"])
def test_invalid_usernames(name: str) -> None:
    value, violations = run(validate_username, name)
    assert value is None
    assert only_reasons(violations) == [("username", "USERNAME_INVALID")]


def test_passwords_need_12_to_256_characters_and_must_not_be_the_email() -> None:
    assert run(validate_password, "x" * 12, email="ann@example.com") == ("x" * 12, [])
    assert run(validate_password, "x" * 256, email=None) == ("x" * 256, [])
    assert run(validate_password, " padded pass ", email=None)[0] == " padded pass "
    for value, reason in [
        ("x" * 11, "PASSWORD_TOO_SHORT"),
        ("x" * 257, "PASSWORD_TOO_LONG"),
        ("ann.lee@example.com", "PASSWORD_EQUALS_EMAIL"),
        (" ANN.LEE@EXAMPLE.COM ", "PASSWORD_EQUALS_EMAIL"),
    ]:
        result, violations = run(validate_password, value, email="ann.lee@example.com")
        assert result is None
        assert only_reasons(violations) == [("password", reason)]


# -- codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ab", "billing-admin", "a1", "r" + "x" * 62])
def test_valid_role_and_group_codes(code: str) -> None:
    assert run(validate_role_code, code) == (code, [])
    assert run(validate_group_code, code) == (code, [])


@pytest.mark.parametrize("code", ["a", "1ab", "Admin", "ab_c", "-ab", "r" + "x" * 63, ""])
def test_invalid_role_and_group_codes(code: str) -> None:
    assert only_reasons(run(validate_role_code, code)[1]) == [("code", "ROLE_CODE_INVALID")]
    assert only_reasons(run(validate_group_code, code)[1]) == [("code", "GROUP_CODE_INVALID")]


@pytest.mark.parametrize("code", ["tenant-admin", "platform-admin"])
def test_system_role_codes_are_reserved(code: str) -> None:
    value, violations = run(validate_role_code, code)
    assert value is None
    assert only_reasons(violations) == [("code", "ROLE_CODE_RESERVED")]


# -- role permissions -----------------------------------------------------------------------

CATALOG = {
    ("billing", "invoice:read"): PermissionEntry("p1", "billing", "invoice:read", False),
    ("billing", "invoice:void"): PermissionEntry("p2", "billing", "invoice:void", True),
    ("shop", "order:read"): PermissionEntry("p3", "shop", "order:read", False),
}


def resolve(refs: list[tuple[str, str]], **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    options: dict[str, Any] = {"granted": set(), "app_services": None, **kwargs}
    value, violations = run(
        resolve_role_permissions, [PermissionRef(s, c) for s, c in refs], CATALOG, **options
    )
    return value, only_reasons(violations)


def test_known_permissions_resolve_in_order_without_repeats() -> None:
    value, violations = resolve(
        [("shop", "order:read"), ("billing", "invoice:read"), ("shop", "order:read")]
    )
    assert violations == []
    assert [e.id for e in value] == ["p3", "p1"]


def test_every_unknown_permission_is_reported_with_its_index() -> None:
    value, violations = resolve(
        [("billing", "invoice:read"), ("billing", "nope:read"), ("other", "invoice:read")]
    )
    assert value is None
    assert violations == [
        ("permissions[1]", "PERMISSION_NOT_FOUND"),
        ("permissions[2]", "PERMISSION_NOT_FOUND"),
    ]


def test_a_deprecated_permission_survives_only_when_already_granted() -> None:
    assert resolve([("billing", "invoice:void")])[1] == [
        ("permissions[0]", "PERMISSION_DEPRECATED")
    ]
    kept, violations = resolve([("billing", "invoice:void")], granted={"p2"})
    assert violations == []
    assert [e.id for e in kept] == ["p2"]


def test_an_app_bound_role_only_takes_its_apps_services() -> None:
    value, violations = resolve(
        [("shop", "order:read"), ("billing", "invoice:read")],
        app_services=("shop",),
        app_slug="shop",
    )
    assert value is None
    assert violations == [("permissions[1]", "PERMISSION_OUTSIDE_APP")]
    assert resolve([("shop", "order:read")], app_services=("shop",))[1] == []


def test_a_role_grants_at_most_500_permissions() -> None:
    value, violations = resolve([("shop", "order:read")] * 501)
    assert value is None
    assert violations == [("permissions", "PERMISSIONS_TOO_MANY")]


# -- group binding and roles ----------------------------------------------------------------

APPS = {
    "shop": AppRef("a1", "shop"),
    "a1": AppRef("a1", "shop"),
    "billing": AppRef("a2", "billing"),
}


def test_bound_to_star_alone_means_every_app() -> None:
    assert run(resolve_bound_to, ["*"], APPS) == ((True, []), [])
    assert run(resolve_bound_to, [], APPS) == ((False, []), [])


def test_bound_to_resolves_ids_and_slugs_once_each() -> None:
    value, violations = run(resolve_bound_to, ["shop", "a1", " billing "], APPS)
    assert violations == []
    assert value == (False, [AppRef("a1", "shop"), AppRef("a2", "billing")])


def test_bound_to_reports_unknown_apps_and_a_star_that_is_not_alone() -> None:
    value, violations = run(resolve_bound_to, ["shop", "gone", "lost"], APPS)
    assert value is None
    assert only_reasons(violations) == [
        ("bound_to[1]", "APP_NOT_FOUND"),
        ("bound_to[2]", "APP_NOT_FOUND"),
    ]
    _, mixed = run(resolve_bound_to, ["shop", "*"], APPS)
    assert only_reasons(mixed) == [("bound_to[1]", "BOUND_TO_WILDCARD_NOT_ALONE")]
    _, many = run(resolve_bound_to, ["shop"] * 101, APPS)
    assert only_reasons(many) == [("bound_to", "BOUND_TO_TOO_MANY")]


def test_group_roles_resolve_and_report_unknown_ones() -> None:
    known = {"admin": RoleRef("r1", "admin"), "r1": RoleRef("r1", "admin")}
    assert run(resolve_roles, ["admin", "r1"], known) == ([RoleRef("r1", "admin")], [])
    value, violations = run(resolve_roles, ["admin", "ghost"], known)
    assert value is None
    assert only_reasons(violations) == [("roles[1]", "ROLE_NOT_FOUND")]


# -- ETags ----------------------------------------------------------------------------------

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_role_and_group_etags_change_with_their_content_only() -> None:
    role = Role("r1", "t1", "acme", "admin", "Admin", "", None, None, (), NOW)
    granted = Role(
        "r1",
        "t1",
        "acme",
        "admin",
        "Admin",
        "",
        None,
        None,
        (RolePermission("p1", "billing", "invoice:read", False),),
        NOW,
    )
    assert role.etag == Role("r1", "t1", "acme", "admin", "Admin", "", None, None, (), NOW).etag
    assert role.etag != granted.etag
    group = Group("g1", "t1", "acme", "team", "Team", False, (AppRef("a1", "shop"),), (), NOW)
    everywhere = Group("g1", "t1", "acme", "team", "Team", True, (), (), NOW)
    assert group.bound_to == ("shop",)
    assert everywhere.bound_to == ("*",)
    assert group.etag != everywhere.etag
