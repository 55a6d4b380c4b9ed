"""The tenant directory (users, roles, groups, app memberships), pinned through the admin REST
API and the token service's AdmitUser call, on PostgreSQL.

ARCHITECTURE §2 "Roles, groups, users, memberships"; Vendidit seed §1/§6 (user_apps,
auto-grant, revoke bumps the token version); Modgud seed ("Roles with AppId", "Groups via
BoundTo").
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from sqlalchemy import String, Text, create_engine, delete, insert, select, update
from sqlalchemy.engine import Engine
from tessera.registry.v1 import directory_pb2, directory_pb2_grpc

from services.common.grpc_errors import RemoteError
from services.common.grpc_server import channel
from services.common.vocabulary import CONTROL_PLANE_TENANT
from services.gateway.clients import call
from services.platform import Platform
from services.registry import schema as t
from services.token.domain.grants import mint_service_token
from tests.integration.conftest import Api, tenant_admin, unique

pytestmark = pytest.mark.integration

PASSWORD = "Tr0ub4dor&3-horse-battery"


def path(tenant: str, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant}{suffix}"


def reasons(response: Any) -> set[tuple[str, str]]:
    return {(e["field"], e["reason"]) for e in response.json().get("errors", [])}


def email() -> str:
    return f"{unique('user')}@example.com"


async def create_user(api: Api, tenant: str, **body: Any) -> dict[str, Any]:
    response = await api.post(path(tenant, "/users"), {"email": email(), **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_role(api: Api, tenant: str, **body: Any) -> dict[str, Any]:
    response = await api.post(
        path(tenant, "/roles"), {"code": unique("role"), "name": unique("Role"), **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_group(api: Api, tenant: str, **body: Any) -> dict[str, Any]:
    response = await api.post(
        path(tenant, "/groups"), {"code": unique("group"), "name": unique("Group"), **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def token_version(api: Api, tenant: str, user: str) -> int:
    response = await api.get(path(tenant, f"/users/{user}"))
    assert response.status_code == 200, response.text
    return int(response.json()["token_version"])


# -- direct database access (what is at rest; catalog rows the catalog API would register) --


@pytest.fixture(scope="module")
def directory_db(platform: Platform) -> Iterator[Engine]:
    """A synchronous engine on the registry's own schema."""
    assert platform.settings.database_url
    engine = create_engine(platform.settings.database_url).execution_options(
        schema_translate_map={None: f"{platform.settings.db_schema_prefix}registry"}
    )
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_entry(directory_db: Engine) -> Callable[..., str]:
    """Insert one permission catalog row (the registration API is built separately)."""

    def add(tenant_id: str, service: str, code: str, *, deprecated: bool = False) -> str:
        permission_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        with directory_db.begin() as connection:
            connection.execute(
                insert(t.permissions).values(
                    id=permission_id,
                    tenant_id=tenant_id,
                    service_code=service,
                    code=code,
                    name=code,
                    created_at=now,
                    deprecated_at=now if deprecated else None,
                )
            )
        return permission_id

    return add


# -- the token service's view (AdmitUser over gRPC with the token service's own token) ------


class TokenServiceCaller:
    def __init__(self, stub: directory_pb2_grpc.DirectoryServiceStub, token: str) -> None:
        self.stub = stub
        self.token = token

    async def admit(
        self, tenant_id: str, user_id: str, app: str, *, bearer: str | None = None
    ) -> directory_pb2.AdmitUserResponse:
        return await call(
            self.stub.AdmitUser,
            directory_pb2.AdmitUserRequest(tenant=tenant_id, user_id=user_id, app=app),
            bearer=bearer or self.token,
        )


@pytest.fixture(scope="module")
async def token_service(platform: Platform) -> AsyncIterator[TokenServiceCaller]:
    token_component: Any = platform.components["token"]  # a TokenComponent: it has the keys
    service_token, _ = await mint_service_token(
        token_component.keys, platform.settings.issuer, CONTROL_PLANE_TENANT, "token"
    )
    registry = channel(platform.runtime.addresses["registry"])
    yield TokenServiceCaller(directory_pb2_grpc.DirectoryServiceStub(registry), service_token)
    await registry.close()


# -- users ----------------------------------------------------------------------------------


async def test_email_is_unique_per_tenant_case_insensitively_but_free_in_another_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    local = unique("ann")
    first = await admin.post(path(tenant, "/users"), {"email": f"  {local}@Example.COM "})
    assert first.status_code == 201, first.text
    assert first.json()["email"] == f"{local}@example.com"
    for variant in (f"{local.upper()}@example.com", f"{local}@EXAMPLE.com"):
        clash = await admin.post(path(tenant, "/users"), {"email": variant})
        assert clash.status_code == 409, variant
        assert clash.json()["reason"] == "EMAIL_TAKEN"
    other = await create_user(admin, tenant)
    renamed = await admin.patch(
        path(tenant, f"/users/{other['id']}"), {"email": f"{local.title()}@example.com"}
    )
    assert renamed.status_code == 409
    assert renamed.json()["reason"] == "EMAIL_TAKEN"
    elsewhere = (await admin.tenant())["slug"]
    again = await admin.post(path(elsewhere, "/users"), {"email": f"{local}@example.com"})
    assert again.status_code == 201, again.text


async def test_user_input_is_validated_reporting_every_bad_field(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    response = await admin.post(
        path(tenant, "/users"),
        {
            "email": "not an email",
            "first_name": "x" * 101,
            "username": "AB",
            "password": "too-short",
        },
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "VALIDATION_FAILED"
    assert reasons(response) == {
        ("email", "EMAIL_INVALID"),
        ("first_name", "NAME_TOO_LONG"),
        ("username", "USERNAME_INVALID"),
        ("password", "PASSWORD_TOO_SHORT"),
    }
    address = email()
    same = await admin.post(path(tenant, "/users"), {"email": address, "password": address.upper()})
    assert reasons(same) == {("password", "PASSWORD_EQUALS_EMAIL")}
    missing = await admin.post(path(tenant, "/users"), {"email": "   "})
    assert reasons(missing) == {("email", "EMAIL_REQUIRED")}
    too_long = await admin.post(path(tenant, "/users"), {"email": email(), "password": "p" * 257})
    assert reasons(too_long) == {("password", "PASSWORD_TOO_LONG")}


async def test_usernames_are_unique_per_tenant(admin: Api, world: dict[str, Any]) -> None:
    tenant = world["tenant"]["slug"]
    name = unique("ann").lower()
    await create_user(admin, tenant, username=name)
    clash = await admin.post(path(tenant, "/users"), {"email": email(), "username": name})
    assert clash.status_code == 409
    assert clash.json()["reason"] == "USERNAME_TAKEN"
    other = await create_user(admin, tenant)
    taken = await admin.patch(path(tenant, f"/users/{other['id']}"), {"username": name})
    assert taken.json()["reason"] == "USERNAME_TAKEN"
    cleared = await admin.patch(path(tenant, f"/users/{other['id']}"), {"username": None})
    assert cleared.status_code == 200
    assert cleared.json()["username"] is None


async def test_passwordless_users_get_and_lose_a_password_without_seeing_a_hash(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    user = await create_user(admin, tenant, first_name=" Ann ", last_name="Lee")
    assert user["has_password"] is False
    assert (user["first_name"], user["last_name"], user["status"]) == ("Ann", "Lee", "active")
    assert (user["token_version"], user["version"]) == (1, 1)
    user_path = path(tenant, f"/users/{user['id']}")
    with_password = await admin.http.put(
        user_path + "/password", json={"password": PASSWORD}, headers=admin.headers
    )
    assert with_password.status_code == 200, with_password.text
    assert with_password.json()["has_password"] is True
    assert with_password.headers["etag"] == '"2"'
    refused = await admin.http.put(
        user_path + "/password", json={"password": user["email"]}, headers=admin.headers
    )
    assert reasons(refused) == {("password", "PASSWORD_EQUALS_EMAIL")}
    cleared = await admin.delete(user_path + "/password")
    assert cleared.status_code == 200
    assert cleared.json()["has_password"] is False
    for response in (with_password, cleared, await admin.get(user_path)):
        assert "hash" not in response.text
        assert "$argon2" not in response.text


async def test_a_sql_dump_of_the_registry_schema_contains_no_plaintext_password(
    admin: Api, world: dict[str, Any], directory_db: Engine
) -> None:
    tenant = world["tenant"]["slug"]
    created = await admin.post(path(tenant, "/users"), {"email": email(), "password": PASSWORD})
    assert created.status_code == 201, created.text
    second = "a-different passphrase 42"
    user = await create_user(admin, tenant)
    await admin.http.put(
        path(tenant, f"/users/{user['id']}/password"),
        json={"password": second},
        headers=admin.headers,
    )
    for response in (created, await admin.get(path(tenant, "/users"))):
        assert PASSWORD not in response.text
        assert "$argon2" not in response.text
    with directory_db.connect() as connection:
        text_columns = [c for c in t.users.c if isinstance(c.type, String | Text)]
        rows = connection.execute(select(*text_columns)).all()
        dump = [str(value) for row in rows for value in row if value is not None]
        for table in t.metadata.sorted_tables:
            dump.extend(str(row) for row in connection.execute(select(table)).all())
        hashes = dict(
            connection.execute(
                select(t.users.c.id, t.users.c.password_hash).where(
                    t.users.c.id.in_([created.json()["id"], user["id"]])
                )
            ).all()
        )
    assert not [value for value in dump if PASSWORD in value or second in value]
    assert hashes[created.json()["id"]].startswith("$argon2id$")
    assert hashes[user["id"]].startswith("$argon2id$")


async def test_disabling_bumps_the_token_version_by_exactly_one_and_enabling_does_not(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    user = await create_user(admin, tenant)
    user_path = path(tenant, f"/users/{user['id']}")
    disabled = await admin.post(user_path + "/disable")
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["status"], disabled.json()["token_version"]) == ("disabled", 2)
    again = await admin.post(user_path + "/disable")
    assert again.json()["token_version"] == 2
    enabled = await admin.post(user_path + "/enable")
    assert (enabled.json()["status"], enabled.json()["token_version"]) == ("active", 2)
    assert await token_version(admin, tenant, user["id"]) == 2


async def test_logout_everywhere_bumps_the_token_version_by_exactly_one_each_time(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    user = await create_user(admin, tenant)
    user_path = path(tenant, f"/users/{user['email']}")
    first = await admin.post(user_path + "/logout-everywhere")
    assert first.status_code == 200, first.text
    assert first.json()["token_version"] == 2
    second = await admin.post(user_path + "/logout-everywhere")
    assert second.json()["token_version"] == 3
    assert await token_version(admin, tenant, user["id"]) == 3


async def test_revoking_a_membership_bumps_the_token_version_by_exactly_one(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    user = await create_user(admin, tenant)
    membership_path = path(tenant, f"/users/{user['id']}/apps/{app['slug']}")
    assert (await admin.post(membership_path)).status_code == 201
    assert await token_version(admin, tenant, user["id"]) == 1
    revoked = await admin.delete(membership_path)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"]
    assert await token_version(admin, tenant, user["id"]) == 2
    again = await admin.delete(membership_path)
    assert again.status_code == 200
    assert await token_version(admin, tenant, user["id"]) == 2
    never = await create_user(admin, tenant)
    missing = await admin.delete(path(tenant, f"/users/{never['id']}/apps/{app['slug']}"))
    assert missing.status_code == 404
    assert missing.json()["reason"] == "MEMBERSHIP_NOT_FOUND"


async def test_grant_is_idempotent_and_reactivates_a_revoked_membership(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    user = await create_user(admin, tenant)
    membership_path = path(tenant, f"/users/{user['email']}/apps/{app['id']}")
    first = await admin.post(membership_path)
    assert first.status_code == 201, first.text
    granted = first.json()
    assert (granted["status"], granted["app_slug"], granted["user_email"]) == (
        "active",
        app["slug"],
        user["email"],
    )
    assert granted["granted_by"] == "control-plane/tessera-admin"
    second = await admin.post(membership_path)
    assert second.status_code == 200
    assert second.json() == granted
    members = (await admin.get(path(tenant, f"/apps/{app['slug']}/members"))).json()
    assert [m["user_id"] for m in members["items"]] == [user["id"]]
    await admin.delete(membership_path)
    reactivated = await admin.post(membership_path)
    assert reactivated.status_code == 200
    assert (reactivated.json()["status"], reactivated.json()["revoked_at"]) == ("active", None)
    assert (await admin.get(path(tenant, f"/apps/{app['slug']}/members"))).json()["total"] == 1


async def test_memberships_are_listed_per_user_and_per_app_with_a_status_filter(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    first, second = await admin.app(tenant, region), await admin.app(tenant, region)
    user = await create_user(admin, tenant)
    for app in (first, second):
        await admin.post(path(tenant, f"/users/{user['id']}/apps/{app['slug']}"))
    await admin.delete(path(tenant, f"/users/{user['id']}/apps/{second['slug']}"))
    listed = (await admin.get(path(tenant, f"/users/{user['id']}/apps"))).json()
    assert sorted((m["app_slug"], m["status"]) for m in listed["items"]) == sorted(
        [(first["slug"], "active"), (second["slug"], "revoked")]
    )
    active = (
        await admin.get(path(tenant, f"/users/{user['id']}/apps"), params={"status": "active"})
    ).json()
    assert [m["app_slug"] for m in active["items"]] == [first["slug"]]
    revoked = (
        await admin.get(
            path(tenant, f"/apps/{second['slug']}/members"), params={"status": "revoked"}
        )
    ).json()
    assert [m["user_email"] for m in revoked["items"]] == [user["email"]]
    bad = await admin.get(path(tenant, f"/users/{user['id']}/apps"), params={"status": "gone"})
    assert bad.status_code == 400
    assert bad.json()["reason"] == "STATUS_INVALID"
    unknown = await admin.post(path(tenant, f"/users/{user['id']}/apps/no-such-app"))
    assert unknown.status_code == 404
    assert unknown.json()["reason"] == "APP_NOT_FOUND"


async def test_users_are_found_by_id_or_email_listed_searched_and_filtered(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    marker = unique("zed").lower()
    users = [
        await create_user(admin, tenant, email=f"{marker}-{i}@example.com", last_name=f"Last{i}")
        for i in range(3)
    ]
    await admin.post(path(tenant, f"/users/{users[1]['id']}/disable"))
    by_email = await admin.get(path(tenant, f"/users/{users[0]['email'].upper()}"))
    assert by_email.status_code == 200
    assert by_email.json()["id"] == users[0]["id"]
    first = (await admin.get(path(tenant, "/users"), params={"q": marker, "page_size": 2})).json()
    assert first["total"] == 3
    assert [u["id"] for u in first["items"]] == [users[0]["id"], users[1]["id"]]
    rest = (
        await admin.get(
            path(tenant, "/users"),
            params={"q": marker, "page_size": 2, "page_token": first["next_page_token"]},
        )
    ).json()
    assert [u["id"] for u in rest["items"]] == [users[2]["id"]]
    assert rest["next_page_token"] is None
    disabled = (
        await admin.get(path(tenant, "/users"), params={"q": marker, "status": "disabled"})
    ).json()
    assert [u["id"] for u in disabled["items"]] == [users[1]["id"]]
    by_name = (await admin.get(path(tenant, "/users"), params={"q": "LAST2"})).json()
    assert [u["id"] for u in by_name["items"]] == [users[2]["id"]]
    literal = (await admin.get(path(tenant, "/users"), params={"q": "%"})).json()
    assert literal["items"] == []
    missing = await admin.get(path(tenant, "/users/nobody@example.com"))
    assert missing.status_code == 404
    assert missing.json()["reason"] == "USER_NOT_FOUND"


async def test_user_updates_with_a_stale_if_match_get_412_and_email_change_resets_verification(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    user = await create_user(admin, tenant, email_verified=True)
    user_path = path(tenant, f"/users/{user['id']}")
    read = await admin.get(user_path)
    assert read.headers["etag"] == '"1"'
    changed = await admin.patch(user_path, {"email": email()}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["email_verified"], changed.headers["etag"]) == (False, '"2"')
    stale = await admin.patch(user_path, {"first_name": "Bo"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["reason"] == "VERSION_MISMATCH"
    stale_disable = await admin.post(user_path + "/disable", headers={"If-Match": '"1"'})
    assert stale_disable.status_code == 412
    stale_delete = await admin.delete(user_path, headers={"If-Match": '"1"'})
    assert stale_delete.status_code == 412
    assert (await admin.get(user_path)).json()["status"] == "active"


async def test_deleting_a_user_removes_roles_groups_and_memberships(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    app = await admin.app(tenant, world["region"]["code"])
    user = await create_user(admin, tenant)
    role = await create_role(admin, tenant)
    group = await create_group(admin, tenant)
    await admin.http.put(
        path(tenant, f"/users/{user['id']}/roles/{role['code']}"), headers=admin.headers
    )
    await admin.http.put(
        path(tenant, f"/groups/{group['code']}/members/{user['id']}"), headers=admin.headers
    )
    await admin.post(path(tenant, f"/users/{user['id']}/apps/{app['slug']}"))
    assert (await admin.delete(path(tenant, f"/users/{user['id']}"))).status_code == 204
    assert (await admin.get(path(tenant, f"/users/{user['id']}"))).status_code == 404
    assert (await admin.get(path(tenant, f"/apps/{app['slug']}/members"))).json()["total"] == 0
    assert (await admin.delete(path(tenant, f"/roles/{role['code']}"))).status_code == 204


# -- admission (login flow) -----------------------------------------------------------------


async def test_admit_auto_grants_a_first_login_when_the_app_allows_it(
    admin: Api, world: dict[str, Any], token_service: TokenServiceCaller
) -> None:
    tenant = world["tenant"]
    app = await admin.app(tenant["slug"], world["region"]["code"], auto_grant_on_signup=True)
    user = await create_user(admin, tenant["slug"])
    first = await token_service.admit(tenant["id"], user["id"], app["id"])
    assert first.created is True
    assert (first.membership.status, first.membership.granted_by) == (
        "active",
        "auto_grant_on_signup",
    )
    assert first.token_version == 1
    second = await token_service.admit(tenant["id"], user["id"], app["id"])
    assert second.created is False
    own = await tenant_admin(admin.http, tenant)
    events = (
        await own.get(
            path(tenant["slug"], "/audit-events"),
            params={"action": "membership.auto_grant", "target_id": user["id"]},
        )
    ).json()["items"]
    assert len(events) == 1
    assert (events[0]["actor_type"], events[0]["actor_id"]) == (
        "service",
        "control-plane/service:token",
    )
    assert events[0]["details"] == {"app": app["slug"]}


async def test_admit_refuses_a_user_without_membership_when_the_app_does_not_auto_grant(
    admin: Api, world: dict[str, Any], token_service: TokenServiceCaller
) -> None:
    tenant = world["tenant"]
    app = await admin.app(tenant["slug"], world["region"]["code"])
    user = await create_user(admin, tenant["slug"])
    with pytest.raises(RemoteError) as refused:
        await token_service.admit(tenant["id"], user["id"], app["id"])
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.reason == "NOT_A_MEMBER"
    await admin.post(path(tenant["slug"], f"/users/{user['id']}/apps/{app['slug']}"))
    admitted = await token_service.admit(tenant["id"], user["id"], app["id"])
    assert (admitted.created, admitted.membership.status) == (False, "active")


async def test_admit_keeps_refusing_a_revoked_member_even_when_the_app_auto_grants(
    admin: Api, world: dict[str, Any], token_service: TokenServiceCaller
) -> None:
    tenant = world["tenant"]
    app = await admin.app(tenant["slug"], world["region"]["code"], auto_grant_on_signup=True)
    user = await create_user(admin, tenant["slug"])
    await token_service.admit(tenant["id"], user["id"], app["id"])
    await admin.delete(path(tenant["slug"], f"/users/{user['id']}/apps/{app['slug']}"))
    for _ in range(2):
        with pytest.raises(RemoteError) as refused:
            await token_service.admit(tenant["id"], user["id"], app["id"])
        assert refused.value.reason == "NOT_A_MEMBER"
    listed = (await admin.get(path(tenant["slug"], f"/users/{user['id']}/apps"))).json()
    assert [m["status"] for m in listed["items"]] == ["revoked"]
    await admin.post(path(tenant["slug"], f"/users/{user['id']}/apps/{app['slug']}"))
    readmitted = await token_service.admit(tenant["id"], user["id"], app["id"])
    assert readmitted.token_version == 2


async def test_admit_refuses_disabled_users_and_other_callers_than_the_token_service(
    admin: Api, world: dict[str, Any], token_service: TokenServiceCaller
) -> None:
    tenant = world["tenant"]
    app = await admin.app(tenant["slug"], world["region"]["code"], auto_grant_on_signup=True)
    user = await create_user(admin, tenant["slug"])
    with pytest.raises(RemoteError) as not_service:
        await token_service.admit(tenant["id"], user["id"], app["id"], bearer=admin.token)
    assert not_service.value.reason == "SERVICE_ONLY"
    await admin.post(path(tenant["slug"], f"/users/{user['id']}/disable"))
    with pytest.raises(RemoteError) as disabled:
        await token_service.admit(tenant["id"], user["id"], app["id"])
    assert disabled.value.reason == "USER_DISABLED"
    members = (await admin.get(path(tenant["slug"], f"/apps/{app['slug']}/members"))).json()
    assert members["total"] == 0


# -- roles ----------------------------------------------------------------------------------


async def test_role_codes_are_validated_and_the_system_codes_reserved(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    for code, reason in [
        ("Admin", "ROLE_CODE_INVALID"),
        ("a", "ROLE_CODE_INVALID"),
        ("1admin", "ROLE_CODE_INVALID"),
        ("tenant-admin", "ROLE_CODE_RESERVED"),
        ("platform-admin", "ROLE_CODE_RESERVED"),
    ]:
        response = await admin.post(path(tenant, "/roles"), {"code": code, "name": "R"})
        assert response.status_code == 400, code
        assert reasons(response) == {("code", reason)}
    both = await admin.post(
        path(tenant, "/roles"), {"code": "ok-code", "name": " ", "app": "no-such-app"}
    )
    assert reasons(both) == {("name", "DISPLAY_NAME_EMPTY"), ("app", "APP_NOT_FOUND")}
    role = await create_role(admin, tenant)
    again = await admin.post(path(tenant, "/roles"), {"code": role["code"], "name": "Other"})
    assert again.status_code == 409
    assert again.json()["reason"] == "ROLE_CODE_TAKEN"


async def test_unknown_permission_references_are_listed_each_with_its_index(
    admin: Api, world: dict[str, Any], catalog_entry: Callable[..., str]
) -> None:
    tenant = world["tenant"]
    service = unique("svc")
    catalog_entry(tenant["id"], service, "invoice:read")
    role = await create_role(admin, tenant["slug"])
    response = await admin.http.put(
        path(tenant["slug"], f"/roles/{role['code']}/permissions"),
        json={
            "permissions": [
                {"service": service, "code": "invoice:read"},
                {"service": service, "code": "invoice:void"},
                {"service": "nowhere", "code": "invoice:read"},
            ]
        },
        headers=admin.headers,
    )
    assert response.status_code == 400
    assert reasons(response) == {
        ("permissions[1]", "PERMISSION_NOT_FOUND"),
        ("permissions[2]", "PERMISSION_NOT_FOUND"),
    }
    granted = await admin.http.put(
        path(tenant["slug"], f"/roles/{role['code']}/permissions"),
        json={"permissions": [{"service": service, "code": "invoice:read"}]},
        headers=admin.headers,
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["permissions"] == [
        {"service": service, "code": "invoice:read", "deprecated": False}
    ]
    elsewhere = await admin.tenant()
    foreign = await create_role(admin, elsewhere["slug"])
    cross = await admin.http.put(
        path(elsewhere["slug"], f"/roles/{foreign['code']}/permissions"),
        json={"permissions": [{"service": service, "code": "invoice:read"}]},
        headers=admin.headers,
    )
    assert reasons(cross) == {("permissions[0]", "PERMISSION_NOT_FOUND")}


async def test_a_deprecated_permission_cannot_be_granted_anew_but_an_existing_grant_survives(
    admin: Api, world: dict[str, Any], catalog_entry: Callable[..., str], directory_db: Engine
) -> None:
    tenant = world["tenant"]
    service = unique("svc")
    old = catalog_entry(tenant["id"], service, "report:export")
    catalog_entry(tenant["id"], service, "report:read")
    holder = await create_role(admin, tenant["slug"])
    grant_old = {"service": service, "code": "report:export"}
    first = await admin.http.put(
        path(tenant["slug"], f"/roles/{holder['code']}/permissions"),
        json={"permissions": [grant_old]},
        headers=admin.headers,
    )
    assert first.status_code == 200, first.text
    with directory_db.begin() as connection:
        connection.execute(
            update(t.permissions)
            .where(t.permissions.c.id == old)
            .values(deprecated_at=datetime.now(UTC))
        )
    kept = await admin.http.put(
        path(tenant["slug"], f"/roles/{holder['code']}/permissions"),
        json={"permissions": [grant_old, {"service": service, "code": "report:read"}]},
        headers=admin.headers,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["permissions"] == [
        {"service": service, "code": "report:export", "deprecated": True},
        {"service": service, "code": "report:read", "deprecated": False},
    ]
    newcomer = await create_role(admin, tenant["slug"])
    refused = await admin.http.put(
        path(tenant["slug"], f"/roles/{newcomer['code']}/permissions"),
        json={"permissions": [{"service": service, "code": "report:read"}, grant_old]},
        headers=admin.headers,
    )
    assert refused.status_code == 400
    assert reasons(refused) == {("permissions[1]", "PERMISSION_DEPRECATED")}
    dropped = await admin.http.put(
        path(tenant["slug"], f"/roles/{holder['code']}/permissions"),
        json={"permissions": []},
        headers=admin.headers,
    )
    assert dropped.json()["permissions"] == []
    regrant = await admin.http.put(
        path(tenant["slug"], f"/roles/{holder['code']}/permissions"),
        json={"permissions": [grant_old]},
        headers=admin.headers,
    )
    assert reasons(regrant) == {("permissions[0]", "PERMISSION_DEPRECATED")}


async def test_an_app_bound_role_grants_only_permissions_of_the_apps_services(
    admin: Api, world: dict[str, Any], catalog_entry: Callable[..., str]
) -> None:
    tenant = world["tenant"]
    app = await admin.app(tenant["slug"], world["region"]["code"])
    foreign_service = unique("svc")
    catalog_entry(tenant["id"], app["slug"], "listing:create")
    catalog_entry(tenant["id"], foreign_service, "invoice:read")
    role = await create_role(admin, tenant["slug"], app=app["slug"])
    assert (role["app_id"], role["app_slug"]) == (app["id"], app["slug"])
    refused = await admin.http.put(
        path(tenant["slug"], f"/roles/{role['id']}/permissions"),
        json={
            "permissions": [
                {"service": app["slug"], "code": "listing:create"},
                {"service": foreign_service, "code": "invoice:read"},
            ]
        },
        headers=admin.headers,
    )
    assert refused.status_code == 400
    assert reasons(refused) == {("permissions[1]", "PERMISSION_OUTSIDE_APP")}
    granted = await admin.http.put(
        path(tenant["slug"], f"/roles/{role['id']}/permissions"),
        json={"permissions": [{"service": app["slug"], "code": "listing:create"}]},
        headers=admin.headers,
    )
    assert granted.status_code == 200, granted.text
    tenant_wide = await create_role(admin, tenant["slug"])
    anything = await admin.http.put(
        path(tenant["slug"], f"/roles/{tenant_wide['code']}/permissions"),
        json={"permissions": [{"service": foreign_service, "code": "invoice:read"}]},
        headers=admin.headers,
    )
    assert anything.status_code == 200, anything.text
    bound = (await admin.get(path(tenant["slug"], "/roles"), params={"app": app["slug"]})).json()
    assert [r["code"] for r in bound["items"]] == [role["code"]]


async def test_system_roles_can_never_be_edited_or_deleted(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    role = await admin.get(path(tenant, "/roles/tenant-admin"))
    assert role.status_code == 200
    assert role.json()["system"] is True
    assert {"service": "tessera", "code": "user:write", "deprecated": False} in role.json()[
        "permissions"
    ]
    attempts = [
        admin.patch(path(tenant, "/roles/tenant-admin"), {"name": "Mine now"}),
        admin.delete(path(tenant, "/roles/tenant-admin")),
        admin.http.put(
            path(tenant, "/roles/tenant-admin/permissions"),
            json={"permissions": []},
            headers=admin.headers,
        ),
        admin.delete("/api/v1/tenants/control-plane/roles/platform-admin"),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 409, response.request.url
        assert response.json()["reason"] == "SYSTEM_ROLE"


async def test_a_role_in_use_cannot_be_deleted_and_the_blockers_are_named(
    admin: Api, world: dict[str, Any], directory_db: Engine
) -> None:
    tenant = world["tenant"]
    slug = tenant["slug"]
    role = await create_role(admin, slug)
    user = await create_user(admin, slug)
    group = await create_group(admin, slug)
    assigned = await admin.http.put(
        path(slug, f"/users/{user['email']}/roles/{role['code']}"), headers=admin.headers
    )
    assert assigned.json()["roles"] == [role["code"]]
    await admin.http.put(
        path(slug, f"/groups/{group['code']}/roles"),
        json={"roles": [role["code"]]},
        headers=admin.headers,
    )
    client_id = tenant["admin_client"]["client_id"]
    with directory_db.begin() as connection:
        client_pk = connection.execute(
            select(t.clients.c.id).where(t.clients.c.client_id == client_id)
        ).scalar_one()
        connection.execute(insert(t.client_roles).values(client_pk=client_pk, role_id=role["id"]))
    blocked = await admin.delete(path(slug, f"/roles/{role['code']}"))
    assert blocked.status_code == 409
    assert blocked.json()["reason"] == "ROLE_IN_USE"
    assert blocked.json()["blockers"] == [
        f"user:{user['email']}",
        f"group:{group['code']}",
        f"client:{client_id}",
    ]
    unassigned = await admin.delete(path(slug, f"/users/{user['id']}/roles/{role['code']}"))
    assert unassigned.json()["roles"] == []
    await admin.http.put(
        path(slug, f"/groups/{group['code']}/roles"), json={"roles": []}, headers=admin.headers
    )
    with directory_db.begin() as connection:
        connection.execute(delete(t.client_roles).where(t.client_roles.c.role_id == role["id"]))
    assert (await admin.delete(path(slug, f"/roles/{role['code']}"))).status_code == 204
    gone = await admin.get(path(slug, f"/roles/{role['code']}"))
    assert gone.status_code == 404
    assert gone.json()["reason"] == "ROLE_NOT_FOUND"


async def test_role_updates_with_a_stale_if_match_get_412(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    role = await create_role(admin, tenant, description="first")
    role_path = path(tenant, f"/roles/{role['code']}")
    read = await admin.get(role_path)
    etag = read.headers["etag"]
    assert etag == f'"{role["etag"]}"'
    renamed = await admin.patch(role_path, {"name": "Renamed"}, headers={"If-Match": etag})
    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["etag"] != etag
    stale = await admin.patch(role_path, {"description": "second"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["reason"] == "VERSION_MISMATCH"
    stale_delete = await admin.delete(role_path, headers={"If-Match": etag})
    assert stale_delete.status_code == 412
    assert (await admin.get(role_path)).json()["description"] == "first"


# -- groups ---------------------------------------------------------------------------------


async def test_group_bound_to_takes_app_slugs_or_ids_or_star_and_reports_unknown_apps(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant, region = world["tenant"]["slug"], world["region"]["code"]
    first, second = await admin.app(tenant, region), await admin.app(tenant, region)
    group = await create_group(admin, tenant, bound_to=[second["id"], first["slug"], first["id"]])
    assert group["bound_to"] == sorted([first["slug"], second["slug"]])
    everywhere = await create_group(admin, tenant, bound_to=["*"])
    assert everywhere["bound_to"] == ["*"]
    unknown = await admin.post(
        path(tenant, "/groups"),
        {"code": unique("g"), "name": "G", "bound_to": [first["slug"], "nope", "missing-app"]},
    )
    assert unknown.status_code == 400
    assert reasons(unknown) == {
        ("bound_to[1]", "APP_NOT_FOUND"),
        ("bound_to[2]", "APP_NOT_FOUND"),
    }
    mixed = await admin.post(
        path(tenant, "/groups"),
        {"code": unique("g"), "name": "G", "bound_to": [first["slug"], "*"]},
    )
    assert reasons(mixed) == {("bound_to[1]", "BOUND_TO_WILDCARD_NOT_ALONE")}
    foreign_app = await admin.app((await admin.tenant())["slug"], region)
    cross = await admin.patch(
        path(tenant, f"/groups/{group['code']}"), {"bound_to": [foreign_app["id"]]}
    )
    assert reasons(cross) == {("bound_to[0]", "APP_NOT_FOUND")}
    rebound = await admin.patch(path(tenant, f"/groups/{group['code']}"), {"bound_to": ["*"]})
    assert rebound.json()["bound_to"] == ["*"]
    bad_code = await admin.post(path(tenant, "/groups"), {"code": "No", "name": "G"})
    assert reasons(bad_code) == {("code", "GROUP_CODE_INVALID")}


async def test_groups_carry_roles_and_members_and_take_them_along_when_deleted(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    role = await create_role(admin, tenant)
    group = await create_group(admin, tenant, bound_to=["*"])
    group_path = path(tenant, f"/groups/{group['code']}")
    unknown = await admin.http.put(
        group_path + "/roles", json={"roles": [role["code"], "nope"]}, headers=admin.headers
    )
    assert reasons(unknown) == {("roles[1]", "ROLE_NOT_FOUND")}
    with_roles = await admin.http.put(
        group_path + "/roles", json={"roles": [role["id"], role["code"]]}, headers=admin.headers
    )
    assert with_roles.json()["roles"] == [role["code"]]
    user = await create_user(admin, tenant)
    for _ in range(2):
        added = await admin.http.put(
            group_path + f"/members/{user['email']}", headers=admin.headers
        )
        assert added.status_code == 200, added.text
    assert (await admin.get(path(tenant, f"/users/{user['id']}"))).json()["groups"] == [
        group["code"]
    ]
    removed = await admin.delete(group_path + f"/members/{user['id']}")
    assert removed.status_code == 200
    assert (await admin.get(path(tenant, f"/users/{user['id']}"))).json()["groups"] == []
    await admin.http.put(group_path + f"/members/{user['id']}", headers=admin.headers)
    assert (await admin.delete(group_path)).status_code == 204
    assert (await admin.get(path(tenant, f"/users/{user['id']}"))).json()["groups"] == []
    gone = await admin.get(group_path)
    assert (gone.status_code, gone.json()["reason"]) == (404, "GROUP_NOT_FOUND")
    assert (await admin.delete(path(tenant, f"/roles/{role['code']}"))).status_code == 204


async def test_group_updates_with_a_stale_if_match_get_412(
    admin: Api, world: dict[str, Any]
) -> None:
    tenant = world["tenant"]["slug"]
    group = await create_group(admin, tenant)
    group_path = path(tenant, f"/groups/{group['code']}")
    etag = (await admin.get(group_path)).headers["etag"]
    renamed = await admin.patch(group_path, {"name": "Renamed"}, headers={"If-Match": etag})
    assert renamed.status_code == 200
    stale = await admin.patch(group_path, {"name": "Again"}, headers={"If-Match": etag})
    assert (stale.status_code, stale.json()["reason"]) == (412, "VERSION_MISMATCH")
    listed = (await admin.get(path(tenant, "/groups"), params={"q": "renamed"})).json()
    assert [g["code"] for g in listed["items"]] == [group["code"]]


# -- authorization and audit ----------------------------------------------------------------


async def test_a_tenant_admin_gets_403_tenant_forbidden_on_every_directory_endpoint_of_another_tenant(
    admin: Api, world: dict[str, Any]
) -> None:
    mine = await admin.tenant()
    own = await tenant_admin(admin.http, mine)
    other = world["tenant"]["slug"]
    app = await admin.app(other, world["region"]["code"])
    user = await create_user(admin, other)
    role = await create_role(admin, other)
    group = await create_group(admin, other)
    u, r, g = user["id"], role["code"], group["code"]
    put = own.http.put
    h = own.headers
    requests = [
        own.post(path(other, "/users"), {"email": email()}),
        own.get(path(other, "/users")),
        own.get(path(other, f"/users/{u}")),
        own.patch(path(other, f"/users/{u}"), {"first_name": "X"}),
        own.delete(path(other, f"/users/{u}")),
        own.post(path(other, f"/users/{u}/disable")),
        own.post(path(other, f"/users/{u}/enable")),
        own.post(path(other, f"/users/{u}/logout-everywhere")),
        put(path(other, f"/users/{u}/password"), json={"password": PASSWORD}, headers=h),
        own.delete(path(other, f"/users/{u}/password")),
        put(path(other, f"/users/{u}/roles/{r}"), headers=h),
        own.delete(path(other, f"/users/{u}/roles/{r}")),
        own.post(path(other, f"/users/{u}/apps/{app['slug']}")),
        own.delete(path(other, f"/users/{u}/apps/{app['slug']}")),
        own.get(path(other, f"/users/{u}/apps")),
        own.get(path(other, f"/apps/{app['slug']}/members")),
        own.post(path(other, "/roles"), {"code": unique("role"), "name": "R"}),
        own.get(path(other, "/roles")),
        own.get(path(other, f"/roles/{r}")),
        own.patch(path(other, f"/roles/{r}"), {"name": "X"}),
        own.delete(path(other, f"/roles/{r}")),
        put(path(other, f"/roles/{r}/permissions"), json={"permissions": []}, headers=h),
        own.post(path(other, "/groups"), {"code": unique("group"), "name": "G"}),
        own.get(path(other, "/groups")),
        own.get(path(other, f"/groups/{g}")),
        own.patch(path(other, f"/groups/{g}"), {"name": "X"}),
        own.delete(path(other, f"/groups/{g}")),
        put(path(other, f"/groups/{g}/roles"), json={"roles": []}, headers=h),
        put(path(other, f"/groups/{g}/members/{u}"), headers=h),
        own.delete(path(other, f"/groups/{g}/members/{u}")),
    ]
    for request in requests:
        response = await request
        assert response.status_code == 403, (response.request.method, response.request.url)
        assert response.json()["reason"] == "TENANT_FORBIDDEN"
    assert (await admin.get(path(other, f"/users/{u}"))).json()["version"] == 1
    assert (await own.get(path(mine["slug"], "/users"))).status_code == 200


async def test_every_directory_write_is_in_the_audit_log_with_its_actor(
    admin: Api, world: dict[str, Any], catalog_entry: Callable[..., str]
) -> None:
    tenant = world["tenant"]
    slug = tenant["slug"]
    own = await tenant_admin(admin.http, tenant)
    app = await own.app(slug, world["region"]["code"])
    catalog_entry(tenant["id"], app["slug"], "listing:create")
    put = own.http.put
    h = own.headers
    user = await create_user(own, slug)
    u = user["id"]
    role = await create_role(own, slug, app=app["slug"])
    group = await create_group(own, slug, bound_to=[app["slug"]])
    writes = [
        (own.patch(path(slug, f"/users/{u}"), {"first_name": "Ann"}), "user.update"),
        (
            put(path(slug, f"/users/{u}/password"), json={"password": PASSWORD}, headers=h),
            "user.password.set",
        ),
        (own.delete(path(slug, f"/users/{u}/password")), "user.password.clear"),
        (own.post(path(slug, f"/users/{u}/logout-everywhere")), "user.logout_everywhere"),
        (own.post(path(slug, f"/users/{u}/disable")), "user.disable"),
        (own.post(path(slug, f"/users/{u}/enable")), "user.enable"),
        (put(path(slug, f"/users/{u}/roles/{role['code']}"), headers=h), "user.role.assign"),
        (own.delete(path(slug, f"/users/{u}/roles/{role['code']}")), "user.role.unassign"),
        (own.post(path(slug, f"/users/{u}/apps/{app['slug']}")), "membership.grant"),
        (own.delete(path(slug, f"/users/{u}/apps/{app['slug']}")), "membership.revoke"),
        (own.patch(path(slug, f"/roles/{role['code']}"), {"description": "d"}), "role.update"),
        (
            put(
                path(slug, f"/roles/{role['code']}/permissions"),
                json={"permissions": [{"service": app["slug"], "code": "listing:create"}]},
                headers=h,
            ),
            "role.permissions.set",
        ),
        (own.patch(path(slug, f"/groups/{group['code']}"), {"name": "Team"}), "group.update"),
        (
            put(
                path(slug, f"/groups/{group['code']}/roles"),
                json={"roles": [role["code"]]},
                headers=h,
            ),
            "group.roles.set",
        ),
        (put(path(slug, f"/groups/{group['code']}/members/{u}"), headers=h), "group.member.add"),
        (own.delete(path(slug, f"/groups/{group['code']}/members/{u}")), "group.member.remove"),
        (own.delete(path(slug, f"/groups/{group['code']}")), "group.delete"),
        (own.delete(path(slug, f"/roles/{role['code']}")), "role.delete"),
        (own.delete(path(slug, f"/users/{u}")), "user.delete"),
    ]
    for request, action in writes:
        response = await request
        assert response.status_code in (200, 201, 204), (action, response.text)
    events = (await own.get(path(slug, "/audit-events"), params={"page_size": 200})).json()["items"]
    expected = [
        "user.create",
        "role.create",
        "group.create",
        *(action for _, action in writes),
    ]
    directory_events = [
        e for e in events if e["action"].split(".")[0] in {"user", "role", "group", "membership"}
    ]
    assert [e["action"] for e in reversed(directory_events)] == expected
    actor = f"{slug}/{tenant['admin_client']['client_id']}"
    assert {(e["actor_type"], e["actor_id"]) for e in directory_events} == {("client", actor)}
    by_action = {e["action"]: e for e in directory_events}
    assert by_action["user.create"]["details"] == {"email": user["email"], "passwordless": True}
    assert by_action["user.logout_everywhere"]["details"] == {"token_version": 2}
    assert by_action["membership.revoke"]["details"] == {"app": app["slug"], "token_version": 4}
    assert by_action["role.permissions.set"]["details"] == {
        "permissions": [f"{app['slug']}/listing:create"]
    }
