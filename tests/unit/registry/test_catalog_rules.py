"""Catalog rules without a database: declaration validation, the reconcile plan, scope names,
audiences, resource-server subsets and who may call what."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.auth import Principal
from services.common.changes import InProcessChangeBus
from services.common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    ValidationErrors,
)
from services.registry.apps.models import App
from services.registry.catalog.models import (
    CatalogEntry,
    DeclaredEntry,
    EntryReferences,
    PermissionDeclaration,
    ReconcilePlan,
    ReferencedEntry,
    Rename,
)
from services.registry.catalog.rules import plan_reconcile, validate_declarations, validate_service
from services.registry.catalog.use_cases import CatalogUseCases
from services.registry.kernel.models import Settings
from services.registry.resource_servers.rules import subset_ids, validate_audience
from services.registry.scopes.rules import validate_scope_name
from tests.unit.registry.fakes import UntouchableUnitOfWork

NOW = datetime(2030, 1, 1, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)


def run(
    validator: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, set[tuple[str, str]]]:
    errors = ValidationErrors()
    result = validator(errors, *args, **kwargs)
    return result, {(v.field, v.reason) for v in errors.violations}


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


def stored(code: str, name: str = "", *, service: str = "svc", **kwargs: Any) -> CatalogEntry:
    return CatalogEntry(
        id=f"id-{code}",
        service_code=service,
        code=code,
        name=name or code,
        description="",
        created_at=EARLIER,
        **kwargs,
    )


def declared(code: str, name: str = "", renamed_from: str | None = None) -> DeclaredEntry:
    return DeclaredEntry(code, name or code, "", renamed_from)


def plan(
    existing: Sequence[CatalogEntry],
    entries: Sequence[DeclaredEntry],
    references: dict[str, EntryReferences] | None = None,
    *,
    force: bool = False,
) -> ReconcilePlan:
    return plan_reconcile(
        "svc", existing, entries, references or {}, force=force, now=NOW, new_id=ids()
    )


def apply(existing: Sequence[CatalogEntry], result: ReconcilePlan) -> list[CatalogEntry]:
    """What the storage holds after the plan's writes."""
    rows = {e.id: e for e in existing}
    for deleted in result.deletes:
        del rows[deleted]
    for entry in result.updates:
        rows[entry.id] = entry
    for entry in result.inserts:
        rows[entry.id] = entry
    return sorted(rows.values(), key=lambda e: e.code)


# -- service code ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["billing", "marketplace-v2", "ab"])
def test_service_codes_follow_the_app_service_code_grammar(service: str) -> None:
    assert run(validate_service, service) == (service, set())


@pytest.mark.parametrize("service", ["", "a", "Billing", "bad_code", "-x", "x-", "a" * 64])
def test_bad_service_codes_are_reported_on_the_service_field(service: str) -> None:
    assert run(validate_service, service) == (None, {("service", "SERVICE_CODE_INVALID")})


def test_the_service_violation_message_names_the_field_without_an_index() -> None:
    errors = ValidationErrors()
    validate_service(errors, "Bad")
    assert errors.violations[0].message.startswith("service 'Bad'")


# -- declarations ----------------------------------------------------------------------------


def test_declarations_are_normalised_and_names_default_to_the_code() -> None:
    result, problems = run(
        validate_declarations,
        [
            PermissionDeclaration(" invoice:read ", "", " Reads invoices "),
            PermissionDeclaration("invoice:write", " Write invoices ", renamed_from="invoice:edit"),
            PermissionDeclaration("", "Place bid", resource="bids", action="place"),
            PermissionDeclaration("listings:create", resource="listings", action="create"),
            PermissionDeclaration("a:read", renamed_from="  "),
        ],
    )
    assert problems == set()
    assert result == [
        DeclaredEntry("invoice:read", "invoice:read", "Reads invoices", None),
        DeclaredEntry("invoice:write", "Write invoices", "", "invoice:edit"),
        DeclaredEntry("bids:place", "Place bid", "", None),
        DeclaredEntry("listings:create", "listings:create", "", None),
        DeclaredEntry("a:read", "a:read", "", None),
    ]


def test_every_bad_declaration_is_reported_with_its_path() -> None:
    result, problems = run(
        validate_declarations,
        [
            PermissionDeclaration("invoice:read"),
            PermissionDeclaration("invoice:read"),
            PermissionDeclaration("Invoice:Read"),
            PermissionDeclaration("users:update_self"),
            PermissionDeclaration("x:read", "n" * 201),
            PermissionDeclaration("y:read", "line\nbreak"),
            PermissionDeclaration("z:read", description="d" * 501),
            PermissionDeclaration("p:read", resource="q", action="read"),
            PermissionDeclaration("p:write", resource="p", action="edit"),
            PermissionDeclaration("r:new", renamed_from="r:old"),
            PermissionDeclaration("r:newer", renamed_from="r:old"),
            PermissionDeclaration("s:new", renamed_from="invoice:read"),
            PermissionDeclaration("t:new", renamed_from="T"),
        ],
    )
    assert result is None
    assert problems == {
        ("entries[1].code", "PERMISSION_DUPLICATE"),
        ("entries[2].code", "PERMISSION_CODE_INVALID"),
        ("entries[3].code", "PERMISSION_CODE_CORE_ONLY"),
        ("entries[4].name", "PERMISSION_NAME_TOO_LONG"),
        ("entries[5].name", "PERMISSION_NAME_CONTROL_CHARACTER"),
        ("entries[6].description", "DESCRIPTION_TOO_LONG"),
        ("entries[7].resource", "PERMISSION_PARTS_MISMATCH"),
        ("entries[8].action", "PERMISSION_PARTS_MISMATCH"),
        ("entries[10].renamed_from", "RENAME_SOURCE_DUPLICATE"),
        ("entries[11].renamed_from", "RENAME_SOURCE_DECLARED"),
        ("entries[12].renamed_from", "PERMISSION_CODE_INVALID"),
    }


def test_a_declaration_may_not_exceed_the_entry_limit() -> None:
    entries = [PermissionDeclaration(f"r{i}:read") for i in range(501)]
    assert run(validate_declarations, entries) == (None, {("entries", "ENTRIES_TOO_MANY")})


def test_an_empty_declaration_is_valid() -> None:
    assert run(validate_declarations, []) == ([], set())


# -- reconcile plan --------------------------------------------------------------------------


def test_a_first_plan_creates_every_entry() -> None:
    result = plan([], [declared("a:read"), declared("b:read", "B")])
    assert result.report.created == ("a:read", "b:read")
    assert [(e.id, e.code, e.name, e.service_code) for e in result.inserts] == [
        ("new-1", "a:read", "a:read", "svc"),
        ("new-2", "b:read", "B", "svc"),
    ]
    assert result.changed
    assert result.report.changed


def test_upsert_updates_changed_names_keeps_equal_ones_and_prunes_the_rest() -> None:
    existing = [stored("a:read", "A"), stored("b:read", "B"), stored("c:read", "C")]
    result = plan(existing, [declared("a:read", "A2"), declared("b:read", "B")])
    report = result.report
    assert (report.updated, report.unchanged, report.pruned) == (
        ("a:read",),
        ("b:read",),
        ("c:read",),
    )
    assert result.deletes == ("id-c:read",)
    assert [(e.id, e.name, e.updated_at) for e in result.updates] == [("id-a:read", "A2", NOW)]


def test_an_identical_declaration_plans_nothing() -> None:
    existing = [stored("a:read", "A"), stored("b:read", "B")]
    result = plan(existing, [declared("a:read", "A"), declared("b:read", "B")])
    assert not result.changed
    assert not result.report.changed
    assert result.report.unchanged == ("a:read", "b:read")


def test_a_granted_entry_is_blocked_and_deprecated_once_not_pruned() -> None:
    existing = [stored("a:read"), stored("b:read")]
    refs = {"id-b:read": EntryReferences(roles=("editor", "viewer"))}
    result = plan(existing, [declared("a:read")], refs)
    assert result.deletes == ()
    assert result.report.blocked == (ReferencedEntry("b:read", ("editor", "viewer"), (), NOW),)
    assert [(e.id, e.deprecated_at) for e in result.updates] == [("id-b:read", NOW)]
    already = [stored("a:read"), stored("b:read", deprecated_at=EARLIER)]
    again = plan(already, [declared("a:read")], refs)
    assert not again.changed
    assert again.report.blocked == (ReferencedEntry("b:read", ("editor", "viewer"), (), EARLIER),)


def test_force_prunes_granted_entries_and_reports_what_granted_them() -> None:
    existing = [stored("a:read"), stored("b:read", deprecated_at=EARLIER)]
    refs = {"id-b:read": EntryReferences(roles=("editor",), resource_servers=("api",))}
    result = plan(existing, [declared("a:read")], refs, force=True)
    assert result.deletes == ("id-b:read",)
    assert result.report.pruned_with_grants == (ReferencedEntry("b:read", ("editor",), ("api",)),)
    assert result.report.blocked == ()


def test_declaring_a_deprecated_entry_again_restores_it() -> None:
    result = plan([stored("a:read", deprecated_at=EARLIER)], [declared("a:read")])
    assert result.report.updated == ("a:read",)
    assert result.updates[0].deprecated_at is None


def test_a_rename_keeps_the_id_and_is_idempotent_once_applied() -> None:
    existing = [stored("listing:create", "Old")]
    entries = [declared("listings:create", "New", renamed_from="listing:create")]
    result = plan(existing, entries)
    assert result.report.renamed == (Rename("listing:create", "listings:create"),)
    assert (result.inserts, result.deletes) == ((), ())
    [renamed] = result.updates
    assert (renamed.id, renamed.code, renamed.name) == (
        "id-listing:create",
        "listings:create",
        "New",
    )
    assert not plan(apply(existing, result), entries).changed


def test_a_rename_whose_source_is_gone_creates_the_target() -> None:
    result = plan([], [declared("b:read", renamed_from="a:read")])
    assert (result.report.created, result.report.renamed) == (("b:read",), ())


def test_renaming_onto_an_existing_code_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        plan([stored("a:read"), stored("b:read")], [declared("b:read", renamed_from="a:read")])
    assert caught.value.reason == "RENAME_TARGET_EXISTS"
    assert caught.value.metadata == {"from": "a:read", "to": "b:read"}


_codes = st.sampled_from([f"{r}:{a}" for r in ("a", "b", "c") for a in ("read", "write")])
_names = st.sampled_from(["", "One", "Two"])


@given(
    existing=st.dictionaries(_codes, st.tuples(_names, st.booleans(), st.booleans()), max_size=6),
    wanted=st.dictionaries(_codes, _names, max_size=6),
    force=st.booleans(),
)
def test_reconciling_twice_changes_nothing_the_second_time(
    existing: dict[str, tuple[str, bool, bool]], wanted: dict[str, str], force: bool
) -> None:
    """Idempotence: after applying a plan, the same declaration plans no write, and the
    catalog holds exactly the declared codes plus the blocked ones."""
    rows = [
        stored(code, name or code, deprecated_at=EARLIER if deprecated else None)
        for code, (name, deprecated, _granted) in existing.items()
    ]
    refs = {
        f"id-{code}": EntryReferences(roles=("role",))
        for code, (_n, _d, granted) in existing.items()
        if granted
    }
    entries = [declared(code, name) for code, name in wanted.items()]
    first = plan(rows, entries, refs, force=force)
    after = apply(rows, first)
    second = plan(after, entries, refs, force=force)
    assert not second.changed
    blocked = {b.code for b in first.report.blocked}
    assert {e.code for e in after} == set(wanted) | blocked
    assert all((e.deprecated_at is not None) == (e.code in blocked) for e in after)
    assert not (force and blocked)


# -- scopes and audiences --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["invite:write", "billing.read", "a", "x_y-z:1", "a" * 100])
def test_valid_scope_names(name: str) -> None:
    assert run(validate_scope_name, name) == (name, set())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "SCOPE_NAME_INVALID"),
        ("Invite:write", "SCOPE_NAME_INVALID"),
        ("1st", "SCOPE_NAME_INVALID"),
        ("a b", "SCOPE_NAME_INVALID"),
        ("a/b", "SCOPE_NAME_INVALID"),
        ("a" * 101, "SCOPE_NAME_INVALID"),
        ("openid", "SCOPE_NAME_RESERVED"),
        ("offline_access", "SCOPE_NAME_RESERVED"),
    ],
)
def test_invalid_scope_names(name: str, reason: str) -> None:
    assert run(validate_scope_name, name) == (None, {("name", reason)})


@pytest.mark.parametrize(
    "audience",
    [
        "https://api.example.com",
        "https://api.example.com/billing/v1",
        "http://localhost:8080",
        "urn:example:billing",
        "billing-api",
        "billing.api_v2",
        "ab",
    ],
)
def test_valid_audiences(audience: str) -> None:
    assert run(validate_audience, audience) == (audience, set())


@pytest.mark.parametrize(
    "audience",
    [
        "",
        "a",
        "Billing",
        "billing-",
        "-billing",
        "has space",
        "https://",
        "https:///path",
        "https://api.example.com/#frag",
        "1urn:x",
        "urn:",
        "x" * 201,
    ],
)
def test_invalid_audiences(audience: str) -> None:
    assert run(validate_audience, audience) == (None, {("audience", "AUDIENCE_INVALID")})


def _app(*service_codes: str) -> App:
    return App(
        id="app-1",
        tenant_id="t-1",
        tenant_slug="acme",
        slug="billing",
        display_name="Billing",
        description="",
        enabled=True,
        is_system=False,
        region_id=None,
        region_code=None,
        db_code=None,
        plan_id=None,
        redirect_uris=(),
        post_logout_redirect_uris=(),
        allowed_domains=(),
        auto_grant_on_signup=False,
        service_codes=service_codes,
        grant_types=(),
        storage=None,
        settings=Settings(),
        client_ids=(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_subset_selects_live_entries_of_every_service_of_the_app() -> None:
    catalog = [
        stored("invoice:read", service="billing"),
        replace(stored("invoice:read", service="ledger"), id="id-ledger-read"),
        stored("invoice:write", service="billing"),
    ]
    result = subset_ids(
        ValidationErrors(),
        ["invoice:read", "invoice:write", "invoice:read"],
        catalog,
        _app("billing", "ledger"),
    )
    assert result == ["id-invoice:read", "id-ledger-read", "id-invoice:write"]


def test_a_subset_reports_unknown_deprecated_and_malformed_codes() -> None:
    catalog = [stored("invoice:read"), stored("invoice:void", deprecated_at=EARLIER)]
    result, problems = run(
        subset_ids, ["invoice:read", "ledger:read", "invoice:void", "nope"], catalog, _app("svc")
    )
    assert result is None
    assert problems == {
        ("permissions[1]", "PERMISSION_NOT_IN_CATALOG"),
        ("permissions[2]", "PERMISSION_DEPRECATED"),
        ("permissions[3]", "PERMISSION_CODE_INVALID"),
    }


# -- authorisation (checked before any storage is touched) -----------------------------------


def _service() -> CatalogUseCases:
    return CatalogUseCases(UntouchableUnitOfWork(), InProcessChangeBus(), lambda: NOW)


def _principal(tenant: str, *permissions: str) -> Principal:
    return Principal(tenant, "client-1", "client", frozenset(permissions), client_id="client-1")


async def test_reading_the_catalog_needs_permission_write_or_app_read() -> None:
    with pytest.raises(PermissionDenied) as caught:
        await _service().search(_principal("acme", "user:read"), "acme", "", False, 0, 0)
    assert caught.value.reason == "PERMISSION_MISSING"
    assert caught.value.metadata == {"permission": "app:read"}


async def test_registering_needs_permission_write_in_the_same_tenant() -> None:
    service = _service()
    with pytest.raises(PermissionDenied) as missing:
        await service.register(_principal("acme", "app:write"), "acme", "svc", [])
    assert (missing.value.reason, missing.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "permission:write"},
    )
    with pytest.raises(PermissionDenied) as foreign:
        await service.register(_principal("other", "permission:write"), "acme", "svc", [])
    assert foreign.value.reason == "TENANT_FORBIDDEN"


@pytest.mark.parametrize("service", ["tessera", "control-plane", "core"])
async def test_platform_catalogs_are_refused_even_for_operators(service: str) -> None:
    operator = _principal("control-plane", "permission:write")
    with pytest.raises(PermissionDenied) as caught:
        await _service().register(operator, "acme", service, [])
    assert caught.value.reason == "SERVICE_RESERVED"


async def test_an_invalid_registration_is_refused_before_storage_is_touched() -> None:
    with pytest.raises(InvalidArgument) as caught:
        await _service().register(
            _principal("acme", "permission:write"),
            "acme",
            "svc",
            [PermissionDeclaration("bad"), PermissionDeclaration("ok:read", renamed_from="bad")],
        )
    assert caught.value.violations == [
        FieldViolation(
            "entries[0].code",
            "PERMISSION_CODE_INVALID",
            caught.value.violations[0].message,
        ),
        FieldViolation(
            "entries[1].renamed_from",
            "PERMISSION_CODE_INVALID",
            caught.value.violations[1].message,
        ),
    ]
