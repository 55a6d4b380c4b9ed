"""Permission catalogs (boot-time reconcile), scopes and resource servers, through the REST
API on PostgreSQL: Vendidit seed §5, Modgud seed "Extending or changing the catalog",
"Provisioning the resource server" and "Invite codes"."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, func, insert, select

from services.platform import Platform
from services.registry import schema as t
from tests.integration.conftest import Api, tenant_admin, unique

pytestmark = pytest.mark.integration

Sql = Callable[[Any], list[Any]]


@pytest.fixture(scope="session")
def catalog_sql(platform: Platform) -> Iterator[Sql]:
    """Run one statement in the registry's schema and commit it (for rows no API of this
    feature writes, such as role grants, and to inspect what is at rest)."""
    assert platform.settings.database_url
    engine = create_engine(platform.settings.database_url).execution_options(
        schema_translate_map={None: f"{platform.settings.db_schema_prefix}registry"}
    )

    def run(statement: Any) -> list[Any]:
        with engine.begin() as connection:
            result = connection.execute(statement)
            return list(result.all()) if result.returns_rows else []

    yield run
    engine.dispose()


def register_path(tenant: str) -> str:
    return f"/api/v1/tenants/{tenant}/permissions/register"


def entry(code: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": name or code.replace(":", " "), **extra}


async def register(
    api: Api, tenant: str, service: str, entries: list[dict[str, Any]], **flags: Any
) -> Any:
    return await api.post(
        register_path(tenant), {"service": service, "permissions": entries, **flags}
    )


async def registered(
    api: Api, tenant: str, service: str, entries: list[dict[str, Any]], **flags: Any
) -> dict[str, Any]:
    response = await register(api, tenant, service, entries, **flags)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def catalog(
    api: Api, tenant: str, service: str, *, include_deprecated: bool = False
) -> dict[str, dict[str, Any]]:
    response = await api.get(
        f"/api/v1/tenants/{tenant}/permissions",
        params={"service": service, "include_deprecated": str(include_deprecated).lower()},
    )
    assert response.status_code == 200, response.text
    return {p["code"]: p for p in response.json()["items"]}


def grant(sql: Sql, tenant_id: str, permission_id: str, role_code: str | None = None) -> str:
    """Give a permission to a new role, straight in the database (roles have no API here)."""
    role_id, code = str(uuid.uuid4()), role_code or unique("role")
    sql(
        insert(t.roles).values(
            id=role_id,
            tenant_id=tenant_id,
            app_id=None,
            code=code,
            name=code,
            description="",
            created_at=datetime.now(UTC),
        )
    )
    sql(insert(t.role_permissions).values(role_id=role_id, permission_id=permission_id))
    return code


def grants_of(sql: Sql, permission_id: str) -> int:
    return int(
        sql(
            select(func.count())
            .select_from(t.role_permissions)
            .where(t.role_permissions.c.permission_id == permission_id)
        )[0][0]
    )


def violations(response: Any) -> set[tuple[str, str]]:
    return {(e["field"], e["reason"]) for e in response.json().get("errors", [])}


# -- reconcile: upsert, prune, idempotence ---------------------------------------------------


async def test_a_first_registration_creates_every_declared_entry_at_revision_1(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    report = await registered(
        admin,
        tenant,
        service,
        [
            entry("listings:create", "Create listing", description="Put a lot up for sale"),
            entry("bids:place", "Place bid"),
        ],
    )
    assert report == {
        "service": service,
        "revision": 1,
        "dry_run": False,
        "changed": True,
        "created": ["listings:create", "bids:place"],
        "updated": [],
        "renamed": [],
        "unchanged": [],
        "pruned": [],
        "blocked": [],
        "pruned_with_grants": [],
    }
    stored = await catalog(admin, tenant, service)
    assert sorted(stored) == ["bids:place", "listings:create"]
    listing = stored["listings:create"]
    assert (listing["name"], listing["description"]) == ("Create listing", "Put a lot up for sale")
    assert (listing["resource"], listing["action"], listing["service"]) == (
        "listings",
        "create",
        service,
    )
    assert listing["deprecated_at"] is None


async def test_a_second_identical_registration_changes_nothing_and_keeps_the_revision(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    declared = [entry("listings:create"), entry("bids:place")]
    await registered(admin, tenant, service, declared)
    before = await catalog(admin, tenant, service)
    again = await registered(admin, tenant, service, declared)
    assert again["changed"] is False
    assert again["revision"] == 1
    assert sorted(again["unchanged"]) == ["bids:place", "listings:create"]
    assert again["created"] == again["updated"] == again["pruned"] == []
    assert await catalog(admin, tenant, service) == before


async def test_reregistration_upserts_changed_entries_and_prunes_undeclared_ones(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    await registered(
        admin, tenant, service, [entry("a:read", "Read"), entry("b:read"), entry("c:read")]
    )
    first_ids = {c: p["id"] for c, p in (await catalog(admin, tenant, service)).items()}
    report = await registered(
        admin,
        tenant,
        service,
        [
            entry("a:read", "Read everything", description="now described"),
            entry("c:read"),
            entry("d:read"),
        ],
    )
    assert (report["created"], report["updated"], report["unchanged"], report["pruned"]) == (
        ["d:read"],
        ["a:read"],
        ["c:read"],
        ["b:read"],
    )
    assert report["revision"] == 2
    stored = await catalog(admin, tenant, service, include_deprecated=True)
    assert sorted(stored) == ["a:read", "c:read", "d:read"]
    assert stored["a:read"]["id"] == first_ids["a:read"]
    assert stored["a:read"]["name"] == "Read everything"
    assert stored["a:read"]["updated_at"] is not None
    assert stored["c:read"]["updated_at"] is None


async def test_an_empty_declaration_prunes_the_whole_catalog_but_a_missing_one_is_refused(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    await registered(admin, tenant, service, [entry("a:read")])
    missing = await admin.post(register_path(tenant), {"service": service})
    assert missing.status_code == 400
    assert ("permissions", "MISSING") in violations(missing)
    emptied = await registered(admin, tenant, service, [])
    assert emptied["pruned"] == ["a:read"]
    assert await catalog(admin, tenant, service) == {}


async def test_dry_run_returns_the_report_of_the_real_call_but_writes_nothing(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    declared = [entry("a:read"), entry("b:read")]
    preview = await registered(admin, tenant, service, declared, dry_run=True)
    assert preview["dry_run"] is True
    assert (preview["created"], preview["revision"], preview["changed"]) == (
        ["a:read", "b:read"],
        1,
        True,
    )
    assert await catalog(admin, tenant, service) == {}
    rows = catalog_sql(
        select(t.permission_catalogs).where(
            t.permission_catalogs.c.tenant_id == world["tenant"]["id"],
            t.permission_catalogs.c.service_code == service,
        )
    )
    assert rows == []
    real = await registered(admin, tenant, service, declared)
    assert real == {**preview, "dry_run": False}

    changed = [entry("a:read", "Renamed label"), entry("c:read")]
    preview = await registered(admin, tenant, service, changed, dry_run=True)
    assert (preview["updated"], preview["created"], preview["pruned"], preview["revision"]) == (
        ["a:read"],
        ["c:read"],
        ["b:read"],
        2,
    )
    assert sorted(await catalog(admin, tenant, service)) == ["a:read", "b:read"]
    assert await registered(admin, tenant, service, changed) == {**preview, "dry_run": False}


# -- concurrency -----------------------------------------------------------------------------


def _catalog_rows(sql: Sql, tenant_id: str, service: str) -> tuple[list[str], list[Any]]:
    codes = [
        r[0]
        for r in sql(
            select(t.permissions.c.code).where(
                t.permissions.c.tenant_id == tenant_id, t.permissions.c.service_code == service
            )
        )
    ]
    heads = sql(
        select(t.permission_catalogs.c.revision).where(
            t.permission_catalogs.c.tenant_id == tenant_id,
            t.permission_catalogs.c.service_code == service,
        )
    )
    return codes, heads


async def test_two_replicas_registering_the_same_catalog_at_once_end_with_one_catalog(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, tenant_id = world["tenant"]["slug"], world["tenant"]["id"]
    base = [entry("res-0:read", "Before"), entry("gone:write")]
    declared = [entry(f"res-{i}:read") for i in range(20)]
    # First registrations race to create the catalog row; later ones to change the entries.
    for existing in [None] * 3 + [base] * 3:
        service = unique("svc")
        if existing:
            await registered(admin, tenant, service, existing)
        first, second = await asyncio.gather(
            register(admin, tenant, service, declared), register(admin, tenant, service, declared)
        )
        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
        loser, winner = sorted((first.json(), second.json()), key=lambda r: r["changed"])
        assert (loser["changed"], winner["changed"]) == (False, True)
        assert sorted(loser["unchanged"]) == sorted(e["code"] for e in declared)
        assert loser["revision"] == winner["revision"] == (2 if existing else 1)
        codes, heads = _catalog_rows(catalog_sql, tenant_id, service)
        assert sorted(codes) == sorted(e["code"] for e in declared)  # no duplicate rows
        assert [tuple(h) for h in heads] == [(winner["revision"],)]
        stored = await catalog(admin, tenant, service)
        assert stored["res-0:read"]["name"] == "res-0 read"


async def test_two_replicas_registering_different_catalogs_at_once_end_with_one_of_them(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, tenant_id = world["tenant"]["slug"], world["tenant"]["id"]
    base = [entry("shared:read", "Base name"), entry("base:write")]
    old = [entry("shared:read", "Old name"), entry("old:write")]
    new = [entry("shared:read", "New name"), entry("new:write"), entry("new:admin")]
    for existing in [None] * 3 + [base] * 3:  # racing on a new catalog, and on an existing one
        service = unique("svc")
        if existing:
            await registered(admin, tenant, service, existing)
        first, second = await asyncio.gather(
            register(admin, tenant, service, old), register(admin, tenant, service, new)
        )
        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
        codes, heads = _catalog_rows(catalog_sql, tenant_id, service)
        assert len(codes) == len(set(codes))
        assert sorted(codes) in (
            sorted(e["code"] for e in old),
            sorted(e["code"] for e in new),
        )
        stored = await catalog(admin, tenant, service)
        winner = old if "old:write" in stored else new
        assert {c: p["name"] for c, p in stored.items()} == {e["code"]: e["name"] for e in winner}
        revisions = sorted((first.json()["revision"], second.json()["revision"]))
        assert revisions == ([2, 3] if existing else [1, 2])
        assert [tuple(h) for h in heads] == [(revisions[1],)]


# -- pruning what roles still grant ----------------------------------------------------------


async def test_pruning_an_entry_a_role_grants_is_reported_as_blocked_and_deprecates_it(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, tenant_id, service = world["tenant"]["slug"], world["tenant"]["id"], unique("svc")
    await registered(admin, tenant, service, [entry("x:read"), entry("x:write")])
    write = (await catalog(admin, tenant, service))["x:write"]
    role = grant(catalog_sql, tenant_id, write["id"])

    report = await registered(admin, tenant, service, [entry("x:read")])

    assert report["pruned"] == []
    assert report["changed"] is True
    assert report["revision"] == 2
    [blocked] = report["blocked"]
    assert (blocked["code"], blocked["roles"], blocked["resource_servers"]) == (
        "x:write",
        [role],
        [],
    )
    assert blocked["deprecated_at"]
    assert sorted(await catalog(admin, tenant, service)) == ["x:read"]
    kept = (await catalog(admin, tenant, service, include_deprecated=True))["x:write"]
    assert (kept["id"], kept["deprecated_at"]) == (write["id"], blocked["deprecated_at"])
    assert grants_of(catalog_sql, write["id"]) == 1

    again = await registered(admin, tenant, service, [entry("x:read")])
    assert (again["changed"], again["revision"]) == (False, 2)
    assert again["blocked"] == report["blocked"]

    restored = await registered(admin, tenant, service, [entry("x:read"), entry("x:write")])
    assert (restored["updated"], restored["blocked"], restored["revision"]) == (["x:write"], [], 3)
    assert (await catalog(admin, tenant, service))["x:write"]["deprecated_at"] is None


async def test_force_prunes_a_granted_entry_with_its_grants_and_lists_them(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, tenant_id, service = world["tenant"]["slug"], world["tenant"]["id"], unique("svc")
    await registered(admin, tenant, service, [entry("x:read"), entry("x:write")])
    write = (await catalog(admin, tenant, service))["x:write"]
    roles = sorted(grant(catalog_sql, tenant_id, write["id"]) for _ in range(2))
    await registered(admin, tenant, service, [entry("x:read")])  # blocked first

    report = await registered(admin, tenant, service, [entry("x:read")], force=True)

    assert report["blocked"] == []
    assert report["pruned_with_grants"] == [
        {"code": "x:write", "roles": roles, "resource_servers": []}
    ]
    assert (report["changed"], report["revision"]) == (True, 3)
    assert sorted(await catalog(admin, tenant, service, include_deprecated=True)) == ["x:read"]
    assert grants_of(catalog_sql, write["id"]) == 0


# -- rename ----------------------------------------------------------------------------------


async def test_renaming_an_entry_keeps_its_id_and_its_role_grants(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant, tenant_id, service = world["tenant"]["slug"], world["tenant"]["id"], unique("svc")
    await registered(admin, tenant, service, [entry("listing:create"), entry("bids:place")])
    old = (await catalog(admin, tenant, service))["listing:create"]
    grant(catalog_sql, tenant_id, old["id"])
    declared = [
        entry("listings:create", "Create listing", renamed_from="listing:create"),
        entry("bids:place"),
    ]

    report = await registered(admin, tenant, service, declared)

    assert report["renamed"] == [{"from": "listing:create", "to": "listings:create"}]
    assert (report["pruned"], report["blocked"], report["created"]) == ([], [], [])
    stored = await catalog(admin, tenant, service, include_deprecated=True)
    assert sorted(stored) == ["bids:place", "listings:create"]
    assert stored["listings:create"]["id"] == old["id"]
    assert stored["listings:create"]["name"] == "Create listing"
    assert grants_of(catalog_sql, old["id"]) == 1
    again = await registered(admin, tenant, service, declared)  # the next boot, same code
    assert (again["changed"], again["renamed"], again["revision"]) == (False, [], 2)


async def test_renaming_onto_an_existing_code_is_refused(admin: Api, world: dict[str, Any]) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    await registered(admin, tenant, service, [entry("a:read"), entry("b:read")])
    response = await register(admin, tenant, service, [entry("b:read", renamed_from="a:read")])
    assert response.status_code == 409
    assert response.json()["reason"] == "RENAME_TARGET_EXISTS"
    assert sorted(await catalog(admin, tenant, service)) == ["a:read", "b:read"]


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["tessera", "control-plane", "core"])
async def test_platform_owned_catalogs_cannot_be_registered(
    admin: Api, world: dict[str, Any], service: str
) -> None:
    tenant = world["tenant"]
    for api in (admin, await tenant_admin(admin.http, tenant)):
        response = await register(api, tenant["slug"], service, [entry("a:read")])
        assert response.status_code == 403
        assert response.json()["reason"] == "SERVICE_RESERVED"
    system = await catalog(admin, tenant["slug"], "tessera")
    assert "app:write" in system


async def test_every_bad_entry_is_reported_at_once_with_its_path(
    admin: Api, world: dict[str, Any]
) -> None:
    response = await register(
        admin,
        world["tenant"]["slug"],
        "Bad_Service",
        [
            entry("invoice:read"),
            entry("Invoice:read"),
            entry("invoice"),
            entry("invoice:read"),
            entry("users:read_self"),
            entry("ok:write", "x" * 201),
            entry("ok:admin", description="d" * 501),
            entry("new:read", renamed_from="not a code"),
            entry("other:read", renamed_from="invoice:read"),
        ],
    )
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "VALIDATION_FAILED"
    assert violations(response) == {
        ("service", "SERVICE_CODE_INVALID"),
        ("entries[1].code", "PERMISSION_CODE_INVALID"),
        ("entries[2].code", "PERMISSION_CODE_INVALID"),
        ("entries[3].code", "PERMISSION_DUPLICATE"),
        ("entries[4].code", "PERMISSION_CODE_CORE_ONLY"),
        ("entries[5].name", "PERMISSION_NAME_TOO_LONG"),
        ("entries[6].description", "DESCRIPTION_TOO_LONG"),
        ("entries[7].renamed_from", "PERMISSION_CODE_INVALID"),
        ("entries[8].renamed_from", "RENAME_SOURCE_DECLARED"),
    }


async def test_the_vendidit_body_shape_is_accepted_and_its_parts_must_agree_with_the_code(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    response = await admin.post(
        register_path(tenant),
        {
            "service": service,
            "permissions": [
                {
                    "code": "listings:create",
                    "name": "Create listing",
                    "resource": "listings",
                    "action": "create",
                },
                {"name": "Place bid", "resource": "bids", "action": "place"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == ["listings:create", "bids:place"]
    mismatch = await admin.post(
        register_path(tenant),
        {
            "service": service,
            "entries": [{"code": "listings:create", "resource": "listing", "action": "create"}],
        },
    )
    assert mismatch.status_code == 400
    assert violations(mismatch) == {("entries[0].resource", "PERMISSION_PARTS_MISMATCH")}
    unknown = await admin.post(
        register_path(tenant),
        {"service": service, "permissions": [{"code": "a:read", "scope": "x"}]},
    )
    assert unknown.status_code == 400


async def test_permissions_list_filters_by_service_and_paginates(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, service = world["tenant"]["slug"], unique("svc")
    await registered(admin, tenant, service, [entry(f"r{i}:read") for i in range(5)])
    path = f"/api/v1/tenants/{tenant}/permissions"
    first = (await admin.get(path, params={"service": service, "page_size": 3})).json()
    assert [p["code"] for p in first["items"]] == ["r0:read", "r1:read", "r2:read"]
    assert first["total"] == 5
    second = (
        await admin.get(
            path,
            params={"service": service, "page_size": 3, "page_token": first["next_page_token"]},
        )
    ).json()
    assert [p["code"] for p in second["items"]] == ["r3:read", "r4:read"]
    assert second["next_page_token"] is None
    everything = (await admin.get(path, params={"page_size": 200})).json()
    assert {p["service"] for p in everything["items"]} >= {service, "tessera"}
    bad = await admin.get(path, params={"service": "No Such"})
    assert bad.status_code == 400
    assert violations(bad) == {("service", "SERVICE_CODE_INVALID")}


# -- scopes ----------------------------------------------------------------------------------


def scopes_path(tenant: str, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant}/scopes{suffix}"


async def test_scopes_are_created_tenant_wide_or_app_bound_listed_by_app_and_deleted(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    wide = await admin.post(scopes_path(tenant), {"name": unique("reports.read")})
    bound = await admin.post(
        scopes_path(tenant),
        {"name": "invite:write", "description": "Mint invite codes", "app": app["slug"]},
    )
    assert (wide.status_code, bound.status_code) == (201, 201), (wide.text, bound.text)
    assert bound.headers["location"] == f"/api/v1/tenants/{tenant}/scopes/invite:write"
    created = bound.json()
    assert (created["name"], created["app_id"], created["app_slug"], created["description"]) == (
        "invite:write",
        app["id"],
        app["slug"],
        "Mint invite codes",
    )
    assert wide.json()["app_id"] is None
    listed = (await admin.get(scopes_path(tenant))).json()
    assert sorted(s["name"] for s in listed["items"]) == sorted(
        [wide.json()["name"], "invite:write"]
    )
    by_app = (await admin.get(scopes_path(tenant), params={"app": app["id"]})).json()
    assert [s["name"] for s in by_app["items"]] == ["invite:write"]
    assert (await admin.delete(scopes_path(tenant, "/invite:write"))).status_code == 204
    after = (await admin.get(scopes_path(tenant))).json()
    assert [s["name"] for s in after["items"]] == [wide.json()["name"]]


async def test_scope_names_are_validated_and_unique_per_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    for name, reason in [
        ("Invite:write", "SCOPE_NAME_INVALID"),
        ("1scope", "SCOPE_NAME_INVALID"),
        ("has space", "SCOPE_NAME_INVALID"),
        ("x" * 101, "SCOPE_NAME_INVALID"),
        ("openid", "SCOPE_NAME_RESERVED"),
    ]:
        response = await admin.post(scopes_path(tenant), {"name": name})
        assert response.status_code == 400, name
        assert violations(response) == {("name", reason)}
    name = unique("billing:read")
    assert (await admin.post(scopes_path(tenant), {"name": name})).status_code == 201
    taken = await admin.post(scopes_path(tenant), {"name": name})
    assert taken.status_code == 409
    assert taken.json()["reason"] == "SCOPE_TAKEN"
    other = (await admin.tenant())["slug"]
    assert (await admin.post(scopes_path(other), {"name": name})).status_code == 201
    no_app = await admin.post(scopes_path(tenant), {"name": unique("s"), "app": "no-such-app"})
    assert no_app.status_code == 404
    assert no_app.json()["reason"] == "APP_NOT_FOUND"
    gone = await admin.delete(scopes_path(tenant, "/never-created"))
    assert gone.status_code == 404
    assert gone.json()["reason"] == "SCOPE_NOT_FOUND"


async def test_a_scope_that_clients_hold_cannot_be_deleted(
    admin: Api, world: dict[str, Any], catalog_sql: Sql
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    scope = (await admin.post(scopes_path(tenant), {"name": unique("invite:write")})).json()
    [(client_pk,)] = catalog_sql(
        select(t.clients.c.id).where(t.clients.c.client_id == app["client_id"])
    )
    catalog_sql(insert(t.client_scopes).values(client_pk=client_pk, scope_id=scope["id"]))

    blocked = await admin.delete(scopes_path(tenant, f"/{scope['name']}"))

    assert blocked.status_code == 409
    assert blocked.json()["reason"] == "SCOPE_IN_USE"
    assert blocked.json()["blockers"] == [f"client:{app['client_id']}"]
    catalog_sql(delete(t.client_scopes).where(t.client_scopes.c.scope_id == scope["id"]))
    assert (await admin.delete(scopes_path(tenant, f"/{scope['name']}"))).status_code == 204


# -- resource servers ------------------------------------------------------------------------


def servers_path(tenant: str, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant}/resource-servers{suffix}"


async def _app_with_catalog(admin: Api, world: dict[str, Any], codes: list[str]) -> dict[str, Any]:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    await registered(admin, tenant, app["slug"], [entry(c) for c in codes])
    return app


async def test_resource_servers_are_created_read_listed_changed_and_deleted(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await _app_with_catalog(admin, world, ["invoice:read", "invoice:write", "invoice:admin"])
    audience = f"https://{unique('api')}.example.com"
    created = await admin.post(
        servers_path(tenant),
        {
            "app": app["slug"],
            "audience": audience,
            "name": "Invoices API",
            "permissions": ["invoice:write", "invoice:read", "invoice:read"],
        },
    )
    assert created.status_code == 201, created.text
    server = created.json()
    assert created.headers["location"] == servers_path(tenant, f"/{server['id']}")
    assert (server["app_id"], server["app_slug"], server["audience"], server["name"]) == (
        app["id"],
        app["slug"],
        audience,
        "Invoices API",
    )
    assert (server["permissions"], server["whole_catalog"]) == (
        ["invoice:read", "invoice:write"],
        False,
    )
    assert (await admin.get(servers_path(tenant, f"/{server['id']}"))).json() == server
    other_app = await admin.app(tenant, world["region"]["code"])
    whole = await admin.post(
        servers_path(tenant),
        {"app": other_app["id"], "audience": unique("other-api"), "name": "Other"},
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["whole_catalog"] is True
    listed = (await admin.get(servers_path(tenant), params={"app": app["slug"]})).json()
    assert [s["id"] for s in listed["items"]] == [server["id"]]
    assert (await admin.get(servers_path(tenant))).json()["total"] == 2

    changed = await admin.patch(
        servers_path(tenant, f"/{server['id']}"),
        {"name": "Invoices", "permissions": ["invoice:admin"]},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["permissions"]) == (
        "Invoices",
        ["invoice:admin"],
    )
    widened = await admin.patch(servers_path(tenant, f"/{server['id']}"), {"permissions": []})
    assert (widened.json()["name"], widened.json()["whole_catalog"]) == ("Invoices", True)
    assert (widened.json()["audience"]) == audience

    assert (await admin.delete(servers_path(tenant, f"/{server['id']}"))).status_code == 204
    gone = await admin.get(servers_path(tenant, f"/{server['id']}"))
    assert gone.status_code == 404
    assert gone.json()["reason"] == "RESOURCE_SERVER_NOT_FOUND"


async def test_resource_server_fields_are_validated_and_audiences_unique_per_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await _app_with_catalog(admin, world, ["invoice:read"])
    foreign = unique("svc")  # registered, but not one of the app's service codes
    await registered(admin, tenant, foreign, [entry("ledger:read")])
    response = await admin.post(
        servers_path(tenant),
        {
            "app": app["slug"],
            "audience": "has space",
            "name": " ",
            "permissions": ["invoice:read", "ledger:read", "Bad", "users:read_self"],
        },
    )
    assert response.status_code == 400
    assert violations(response) == {
        ("audience", "AUDIENCE_INVALID"),
        ("name", "DISPLAY_NAME_EMPTY"),
        ("permissions[1]", "PERMISSION_NOT_IN_CATALOG"),
        ("permissions[2]", "PERMISSION_CODE_INVALID"),
        ("permissions[3]", "PERMISSION_CODE_CORE_ONLY"),
    }
    for audience in ["https://", "api.example.com#x", "https:///path", "Billing", "-api", ""]:
        bad = await admin.post(
            servers_path(tenant), {"app": app["slug"], "audience": audience, "name": "A"}
        )
        assert violations(bad) == {("audience", "AUDIENCE_INVALID")}, audience
    audiences = [
        f"https://{unique('api')}.example.com/v1",
        f"urn:example:{unique('a')}",
        unique("api"),
    ]
    for audience in audiences:
        ok = await admin.post(
            servers_path(tenant), {"app": app["slug"], "audience": audience, "name": "A"}
        )
        assert ok.status_code == 201, (audience, ok.text)
    other_app = await admin.app(tenant, world["region"]["code"])
    taken = await admin.post(
        servers_path(tenant), {"app": other_app["slug"], "audience": audiences[0], "name": "B"}
    )
    assert taken.status_code == 409
    assert taken.json()["reason"] == "AUDIENCE_TAKEN"
    elsewhere = await admin.app((await admin.tenant())["slug"], world["region"]["code"])
    reused = await admin.post(
        servers_path(elsewhere["tenant"]),
        {"app": elsewhere["slug"], "audience": audiences[0], "name": "B"},
    )
    assert reused.status_code == 201, reused.text
    no_app = await admin.post(
        servers_path(tenant), {"app": "no-such-app", "audience": unique("x"), "name": "A"}
    )
    assert (no_app.status_code, no_app.json()["reason"]) == (404, "APP_NOT_FOUND")


async def test_pruning_an_entry_a_resource_server_gates_on_is_blocked_too(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await _app_with_catalog(admin, world, ["invoice:read", "invoice:write"])
    audience = unique("invoices-api")
    server = (
        await admin.post(
            servers_path(tenant),
            {
                "app": app["slug"],
                "audience": audience,
                "name": "A",
                "permissions": ["invoice:write"],
            },
        )
    ).json()
    report = await registered(admin, tenant, app["slug"], [entry("invoice:read")])
    assert [(b["code"], b["roles"], b["resource_servers"]) for b in report["blocked"]] == [
        ("invoice:write", [], [audience])
    ]
    deprecated = await admin.post(
        servers_path(tenant),
        {
            "app": app["slug"],
            "audience": unique("x"),
            "name": "B",
            "permissions": ["invoice:write"],
        },
    )
    assert violations(deprecated) == {("permissions[0]", "PERMISSION_DEPRECATED")}
    forced = await registered(admin, tenant, app["slug"], [entry("invoice:read")], force=True)
    assert forced["pruned_with_grants"] == [
        {"code": "invoice:write", "roles": [], "resource_servers": [audience]}
    ]
    # The subset lost its only entry, so (no rows = whole catalog) the server now gates on the
    # whole catalog; the report names it under pruned_with_grants so the caller can re-scope.
    assert (await admin.get(servers_path(tenant, f"/{server['id']}"))).json()["permissions"] == []


async def test_an_app_with_a_scope_or_resource_server_cannot_be_deleted(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    scope, audience = unique("invite:write"), unique("app-api")
    await admin.post(scopes_path(tenant), {"name": scope, "app": app["slug"]})
    server = (
        await admin.post(
            servers_path(tenant), {"app": app["slug"], "audience": audience, "name": "API"}
        )
    ).json()
    await admin.delete(f"/api/v1/tenants/{tenant}/clients/{app['client_id']}")

    blocked = await admin.delete(f"/api/v1/tenants/{tenant}/apps/{app['id']}")

    assert blocked.status_code == 409
    assert blocked.json()["reason"] == "APP_IN_USE"
    assert blocked.json()["blockers"] == [f"scope:{scope}", f"resource_server:{audience}"]
    await admin.delete(scopes_path(tenant, f"/{scope}"))
    await admin.delete(servers_path(tenant, f"/{server['id']}"))
    assert (await admin.delete(f"/api/v1/tenants/{tenant}/apps/{app['id']}")).status_code == 204


# -- tenant isolation and audit --------------------------------------------------------------


async def test_a_tenant_admin_gets_403_on_every_catalog_endpoint_of_another_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    mine = await admin.tenant()
    own = await tenant_admin(admin.http, mine)
    other = world["tenant"]["slug"]
    app = await _app_with_catalog(admin, world, ["invoice:read"])
    scope = unique("s")
    await admin.post(scopes_path(other), {"name": scope})
    server = (
        await admin.post(
            servers_path(other), {"app": app["slug"], "audience": unique("a"), "name": "A"}
        )
    ).json()
    attempts = [
        own.post(register_path(other), {"service": app["slug"], "permissions": []}),
        own.post(
            register_path(other), {"service": app["slug"], "permissions": [], "dry_run": True}
        ),
        own.get(f"/api/v1/tenants/{other}/permissions"),
        own.post(scopes_path(other), {"name": unique("s")}),
        own.get(scopes_path(other)),
        own.delete(scopes_path(other, f"/{scope}")),
        own.post(servers_path(other), {"app": app["slug"], "audience": unique("a"), "name": "A"}),
        own.get(servers_path(other)),
        own.get(servers_path(other, f"/{server['id']}")),
        own.patch(servers_path(other, f"/{server['id']}"), {"name": "Mine now"}),
        own.delete(servers_path(other, f"/{server['id']}")),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403, response.request.url
        assert response.json()["reason"] == "TENANT_FORBIDDEN"
    assert sorted(await catalog(admin, other, app["slug"])) == ["invoice:read"]
    assert (await admin.get(servers_path(other, f"/{server['id']}"))).json()["name"] == "A"
    assert scope in [s["name"] for s in (await admin.get(scopes_path(other))).json()["items"]]


async def test_every_catalog_write_is_in_the_audit_log_with_its_actor(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    own = await tenant_admin(admin.http, world["tenant"])
    app = await own.app(tenant, world["region"]["code"])
    await registered(own, tenant, app["slug"], [entry("a:read"), entry("b:read")])
    await registered(own, tenant, app["slug"], [entry("a:read")], dry_run=True)
    await registered(own, tenant, app["slug"], [entry("a:read"), entry("b:read")])  # no change
    await registered(own, tenant, app["slug"], [entry("a:read")])
    scope = unique("invite:write")
    await own.post(scopes_path(tenant), {"name": scope, "app": app["slug"]})
    await own.delete(scopes_path(tenant, f"/{scope}"))
    server = (
        await own.post(
            servers_path(tenant), {"app": app["slug"], "audience": unique("a"), "name": "A"}
        )
    ).json()
    await own.patch(servers_path(tenant, f"/{server['id']}"), {"name": "B"})
    await own.delete(servers_path(tenant, f"/{server['id']}"))

    events = (await own.get(f"/api/v1/tenants/{tenant}/audit-events")).json()["items"]

    assert [e["action"] for e in events[:8]] == [
        "resource_server.delete",
        "resource_server.update",
        "resource_server.create",
        "scope.delete",
        "scope.create",
        "catalog.reconcile",
        "catalog.reconcile",
        "app.create",
    ]
    admin_client = world["tenant"]["admin_client"]["client_id"]
    for event in events[:7]:
        assert (event["actor_type"], event["actor_id"]) == ("client", f"{tenant}/{admin_client}")
    assert events[5]["target_id"] == app["slug"]
    assert events[5]["details"] == {
        "service": app["slug"],
        "revision": 2,
        "force": False,
        "created": 0,
        "updated": 0,
        "renamed": 0,
        "unchanged": 1,
        "pruned": 1,
        "blocked": 0,
        "pruned_with_grants": 0,
    }
    assert events[4]["target_id"] == scope
    assert events[1]["details"] == {"fields": ["name"]}
