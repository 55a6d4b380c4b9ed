"""Issue 4, resolution read model: exact roles and permissions for users reached through
direct roles, groups bound to the app or to every app, and app-bound roles; issuance rules;
constant query count whatever the size of the tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from sqlalchemy import create_engine, event, insert, update
from tessera.registry.v1 import registry_pb2, registry_pb2_grpc

from services.common.grpc_errors import remote_error
from services.common.vocabulary import CONTROL_PLANE_TENANT
from services.platform import Platform
from services.registry import schema as t
from services.token.domain.grants import mint_service_token
from tests.integration.conftest import Api, unique

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


class Seed:
    """Writes directory rows straight into the registry schema (the directory API is tested
    on its own; this file pins the read model)."""

    def __init__(self, platform: Platform) -> None:
        assert platform.settings.database_url
        self.engine = create_engine(platform.settings.database_url).execution_options(
            schema_translate_map={None: f"{platform.settings.db_schema_prefix}registry"}
        )

    def run(self, table: Any, **values: Any) -> str:
        values.setdefault("id", str(uuid.uuid4()))
        with self.engine.begin() as connection:
            connection.execute(insert(table).values(**values))
        return str(values["id"])

    def link(self, table: Any, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(table).values(**values))

    def permission(self, tenant_id: str, service: str, code: str) -> str:
        return self.run(
            t.permissions,
            tenant_id=tenant_id,
            service_code=service,
            code=code,
            name=code,
            created_at=NOW,
        )

    def role(
        self, tenant_id: str, code: str, permission_ids: list[str], app_id: str | None = None
    ) -> str:
        role_id = self.run(
            t.roles, tenant_id=tenant_id, app_id=app_id, code=code, name=code, created_at=NOW
        )
        for permission_id in permission_ids:
            self.link(t.role_permissions, role_id=role_id, permission_id=permission_id)
        return role_id

    def user(self, tenant_id: str, status: str = "active", token_version: int = 0) -> str:
        email = f"{unique('u')}@example.com"
        return self.run(
            t.users,
            tenant_id=tenant_id,
            email=email,
            email_key=email,
            email_verified=True,
            first_name="Ada",
            last_name="Lovelace",
            username=None,
            password_hash=None,
            status=status,
            token_version=token_version,
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )

    def group(
        self, tenant_id: str, role_ids: list[str], members: list[str], apps: list[str] | None
    ) -> str:
        group_id = self.run(
            t.groups,
            tenant_id=tenant_id,
            code=unique("g"),
            name="G",
            bound_to_all_apps=apps is None,
            created_at=NOW,
        )
        for app_id in apps or []:
            self.link(t.group_apps, group_id=group_id, app_id=app_id)
        for role_id in role_ids:
            self.link(t.group_roles, group_id=group_id, role_id=role_id)
        for user_id in members:
            self.link(t.group_members, group_id=group_id, user_id=user_id)
        return group_id

    def member(self, user_id: str, app_id: str, status: str = "active") -> None:
        self.link(
            t.memberships,
            user_id=user_id,
            app_id=app_id,
            status=status,
            granted_at=NOW,
            granted_by="test",
            revoked_at=None,
        )

    def set_user(self, user_id: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(t.users).where(t.users.c.id == user_id).values(**values))


@pytest.fixture(scope="module")
def seed(platform: Platform) -> Iterator[Seed]:
    seeded = Seed(platform)
    yield seeded
    seeded.engine.dispose()


async def resolve(
    platform: Platform, tenant: str, app: str, user_id: str
) -> registry_pb2.UserGrantContext:
    token_component: Any = platform.components["token"]
    token, _ = await mint_service_token(
        token_component.keys, platform.settings.issuer, CONTROL_PLANE_TENANT, "token"
    )
    async with grpc.aio.insecure_channel(platform.runtime.addresses["registry"]) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        result: registry_pb2.UserGrantContext = await stub.ResolveUser(
            registry_pb2.ResolveUserRequest(
                tenant=tenant, app=app, user_id=user_id, client_id="tc_test"
            ),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        return result


@pytest.fixture
async def scene(admin: Api, world: dict[str, Any], seed: Seed) -> dict[str, Any]:
    """An app consuming two services, a neighbour app, catalog entries, roles and groups."""
    tenant = world["tenant"]
    app = await admin.app(
        tenant["slug"], world["region"]["code"], service_codes=["shop", "billing"]
    )
    other = await admin.app(tenant["slug"], world["region"]["code"])
    tid = tenant["id"]
    p = {
        name: seed.permission(tid, service, code)
        for name, service, code in [
            ("invoice_read", "shop", "invoice:read"),
            ("refund", "billing", "payment:refund"),
            ("report", "shop", "report:view"),
            ("secret", "shop", "secret:read"),
            ("foreign", "warehouse", "stock:move"),
            ("scoped", "shop", "order:cancel"),
        ]
    }
    roles = {
        "direct": seed.role(tid, unique("direct"), [p["invoice_read"], p["foreign"]]),
        "via-group": seed.role(tid, unique("via-group"), [p["refund"]]),
        "via-star": seed.role(tid, unique("via-star"), [p["report"]]),
        "unbound-group": seed.role(tid, unique("unbound"), [p["secret"]]),
        "other-app": seed.role(tid, unique("other-app"), [p["scoped"]], app_id=other["id"]),
        "this-app": seed.role(tid, unique("this-app"), [p["scoped"]], app_id=app["id"]),
    }
    return {"tenant": tenant, "app": app, "other": other, "roles": roles, "tid": tid}


async def test_user_permissions_are_the_union_through_roles_groups_and_app_bindings_plus_core(
    platform: Platform, seed: Seed, scene: dict[str, Any]
) -> None:
    roles, tid, app, other = scene["roles"], scene["tid"], scene["app"], scene["other"]
    user = seed.user(tid, token_version=3)
    for role in ("direct", "other-app", "this-app"):
        seed.link(t.user_roles, user_id=user, role_id=roles[role])
    seed.group(tid, [roles["via-group"]], [user], apps=[app["id"]])
    seed.group(tid, [roles["via-star"]], [user], apps=None)
    seed.group(tid, [roles["unbound-group"]], [user], apps=[other["id"]])
    seed.member(user, app["id"])

    grant = await resolve(platform, scene["tenant"]["slug"], app["slug"], user)

    expected_roles = [
        _code(seed, roles[name]) for name in ("direct", "via-group", "via-star", "this-app")
    ]
    assert list(grant.app.roles) == sorted(expected_roles)
    assert list(grant.app.permissions) == sorted(
        [
            "invoice:read",
            "payment:refund",
            "report:view",
            "order:cancel",
            "users:read_self",
            "users:update_self",
        ]
    )
    assert grant.token_version == 3
    assert grant.email.endswith("@example.com")
    assert grant.app.app_code == app["slug"]
    assert grant.app.db_code == app["db_code"]


def _code(seed: Seed, role_id: str) -> str:
    with seed.engine.connect() as connection:
        return str(
            connection.execute(t.roles.select().where(t.roles.c.id == role_id))
            .one()
            ._mapping["code"]
        )


async def test_a_user_without_roles_still_gets_the_core_permissions(
    platform: Platform, seed: Seed, scene: dict[str, Any]
) -> None:
    user = seed.user(scene["tid"])
    seed.member(user, scene["app"]["id"])
    grant = await resolve(platform, scene["tenant"]["slug"], scene["app"]["slug"], user)
    assert list(grant.app.roles) == []
    assert list(grant.app.permissions) == ["users:read_self", "users:update_self"]


@pytest.mark.parametrize(
    ("membership", "status", "reason"),
    [
        (None, "active", "NOT_A_MEMBER"),
        ("revoked", "active", "NOT_A_MEMBER"),
        ("active", "disabled", "USER_DISABLED"),
    ],
)
async def test_resolution_needs_an_active_membership_and_an_enabled_user(
    platform: Platform,
    seed: Seed,
    scene: dict[str, Any],
    membership: str | None,
    status: str,
    reason: str,
) -> None:
    user = seed.user(scene["tid"], status=status)
    if membership:
        seed.member(user, scene["app"]["id"], status=membership)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolve(platform, scene["tenant"]["slug"], scene["app"]["slug"], user)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert remote_error(caught.value).reason == reason


async def test_only_the_token_service_may_resolve(
    platform: Platform, admin: Api, scene: dict[str, Any]
) -> None:
    async with grpc.aio.insecure_channel(platform.runtime.addresses["registry"]) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ResolveUser(
                registry_pb2.ResolveUserRequest(
                    tenant=scene["tenant"]["slug"], app=scene["app"]["slug"], user_id="x"
                ),
                metadata=(("authorization", f"Bearer {admin.token}"),),
            )
    assert remote_error(caught.value).reason == "SERVICE_ONLY"


async def test_resolution_cost_does_not_grow_with_the_number_of_groups_and_roles(
    platform: Platform, seed: Seed, scene: dict[str, Any]
) -> None:
    tid, app = scene["tid"], scene["app"]
    registry: Any = platform.components["registry"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    async def statements_for(user: str) -> int:
        statements.clear()
        event.listen(registry.database.engine.sync_engine, "before_cursor_execute", count)
        try:
            await resolve(platform, scene["tenant"]["slug"], app["slug"], user)
        finally:
            event.remove(registry.database.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    small = seed.user(tid)
    seed.group(tid, [scene["roles"]["via-group"]], [small], apps=[app["id"]])
    seed.member(small, app["id"])
    large = seed.user(tid)
    for index in range(25):
        permission = seed.permission(tid, "shop", f"bulk-{index}:read")
        role = seed.role(tid, unique("bulk"), [permission])
        seed.group(tid, [role], [large], apps=[app["id"]] if index % 2 else None)
        seed.link(t.user_roles, user_id=large, role_id=seed.role(tid, unique("own"), [permission]))
    seed.member(large, app["id"])

    assert await statements_for(large) == await statements_for(small)
    grant = await resolve(platform, scene["tenant"]["slug"], app["slug"], large)
    assert len(grant.app.roles) == 50
    assert len(grant.app.permissions) == 25 + 2
