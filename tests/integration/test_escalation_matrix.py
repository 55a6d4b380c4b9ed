"""No escalation through principal management (SPEC "No escalation", defect 1).

One matrix over every principal-management operation on clients, users, roles and groups. The
caller is a client of the tenant that serves ``tessera`` with a role holding only client:read
client:write user:read user:write role:read role:write. Each operation is tried twice:

- on a STRONGER target (a client or user holding tenant-admin, a role holding the whole tessera
  catalog, a group carrying such a role): refused with 403 TARGET_OUTRANKS_CALLER (ESCALATION
  where the operation would grant what the caller lacks), ``metadata.permissions`` naming the
  missing permissions, the target unchanged (its observable state is compared before and after),
  and an ``escalation.denied`` audit event naming the target readable by the tenant admin;
- on a target within the caller's permissions: it succeeds and really changes the target, so
  the matrix cannot pass by refusing everything.

The review's headline attack (a client writer taking over the tenant's admin client) is pinned
on its own at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Api, client_credentials, tenant_admin, unique

pytestmark = pytest.mark.integration

PASSWORD = "Tr0ub4dor&3-horse-battery"
OUTRANKS = "TARGET_OUTRANKS_CALLER"
ESCALATION = "ESCALATION"
WEAK_PERMISSIONS = frozenset(
    {"client:read", "client:write", "user:read", "user:write", "role:read", "role:write"}
)
LOW = ("user:read",)  # a low role: a subset of the caller's permissions
OTHER_LOW = ("client:read",)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def tessera(codes: Any) -> dict[str, Any]:
    return {"permissions": [{"service": "tessera", "code": c} for c in sorted(codes)]}


@dataclass
class Target:
    """What one case aims at: the request, the target's observable state, and the audit
    target (type, id) a refusal is recorded under (or one of ``also``: the other principal of
    a grant, e.g. the role given to a user)."""

    act: Callable[[], Awaitable[httpx.Response]]
    state: Callable[[], Awaitable[dict[str, Any]]]
    primary: tuple[str, str]
    also: set[tuple[str, str]]

    @property
    def audited(self) -> set[tuple[str, str]]:
        return {self.primary, *self.also}


@dataclass
class Scene:
    http: httpx.AsyncClient
    tenant: str
    base: str
    owner: Api  # the tenant's own admin client
    weak: Api  # the caller of the matrix
    app: str  # slug of an ordinary app (memberships)
    catalog: frozenset[str]  # every tessera permission
    strong_role: dict[str, Any]  # a role holding the whole catalog
    tenant_admin_role: dict[str, Any]
    low_role: str
    other_low_role: str

    @property
    def missing(self) -> list[str]:
        return sorted(self.catalog - WEAK_PERMISSIONS)

    # -- principals, made by the tenant admin ----------------------------------------------

    async def role(self, strong: bool) -> dict[str, Any]:
        code = unique("role")
        ok(await self.owner.post(f"{self.base}/roles", {"code": code, "name": "Target role"}))
        codes = self.catalog if strong else LOW
        return ok(await self.owner.put(f"{self.base}/roles/{code}/permissions", tessera(codes)))

    async def client(self, strong: bool) -> dict[str, Any]:
        roles = ["tenant-admin"] if strong else [self.low_role]
        body = {"display_name": unique("Target"), "apps": ["tessera"], "roles": roles}
        return ok(await self.owner.post(f"{self.base}/clients", body))

    async def user(self, strong: bool, *, password: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"email": f"{unique('target')}@example.com"}
        if password:
            body["password"] = PASSWORD
        user = ok(await self.owner.post(f"{self.base}/users", body))
        role = "tenant-admin" if strong else self.low_role
        return ok(await self.owner.put(f"{self.base}/users/{user['id']}/roles/{role}", None))

    async def group(self, roles: list[str]) -> dict[str, Any]:
        code = unique("group")
        ok(
            await self.owner.post(
                f"{self.base}/groups", {"code": code, "name": "Target group", "bound_to": ["*"]}
            )
        )
        return ok(await self.owner.put(f"{self.base}/groups/{code}/roles", {"roles": roles}))

    async def strong_or_low_group(self, strong: bool) -> dict[str, Any]:
        return await self.group([self.strong_role["code"] if strong else self.low_role])

    # -- observable state, read by the tenant admin -----------------------------------------

    async def client_state(self, client: dict[str, Any]) -> dict[str, Any]:
        found = await self.owner.get(f"{self.base}/clients/{client['client_id']}")
        minted = await client_credentials(
            self.http, self.tenant, client["client_id"], client["client_secret"]
        )
        state: dict[str, Any] = {"status": found.status_code, "secret_mints": minted.is_success}
        if found.status_code == 200:
            body = found.json()
            state.update({k: body[k] for k in ("display_name", "enabled")})
            state["roles"] = sorted(body["roles"])
        return state

    async def user_state(self, user: dict[str, Any]) -> dict[str, Any]:
        found = await self.owner.get(f"{self.base}/users/{user['id']}")
        state: dict[str, Any] = {"status_code": found.status_code}
        if found.status_code == 200:
            body = found.json()
            fields = ("first_name", "status", "token_version", "has_password")
            state.update({k: body[k] for k in fields})
            state["roles"] = sorted(body["roles"])
            state["groups"] = sorted(body["groups"])
            memberships = ok(await self.owner.get(f"{self.base}/users/{user['id']}/apps"))
            state["apps"] = sorted((m["app_slug"], m["status"]) for m in memberships["items"])
        return state

    async def role_state(self, role: dict[str, Any]) -> dict[str, Any]:
        found = await self.owner.get(f"{self.base}/roles/{role['id']}")
        if found.status_code != 200:
            return {"status": found.status_code}
        body = found.json()
        permissions = sorted((p["service"], p["code"]) for p in body["permissions"])
        return {"status": 200, "name": body["name"], "permissions": permissions}

    async def group_state(self, group: dict[str, Any]) -> dict[str, Any]:
        found = await self.owner.get(f"{self.base}/groups/{group['id']}")
        if found.status_code != 200:
            return {"status": found.status_code}
        body = found.json()
        return {"status": 200, "name": body["name"], "roles": sorted(body["roles"])}

    # -- targets ----------------------------------------------------------------------------

    def on_client(self, client: dict[str, Any], act: Callable[[], Awaitable[Any]]) -> Target:
        return Target(
            act, lambda: self.client_state(client), ("client", client["client_id"]), set()
        )

    def on_user(
        self, user: dict[str, Any], act: Callable[[], Awaitable[Any]], *also: tuple[str, str]
    ) -> Target:
        return Target(act, lambda: self.user_state(user), ("user", user["id"]), set(also))

    def on_role(self, role: dict[str, Any], act: Callable[[], Awaitable[Any]]) -> Target:
        return Target(act, lambda: self.role_state(role), ("role", role["id"]), set())

    def on_group(
        self, group: dict[str, Any], act: Callable[[], Awaitable[Any]], *also: tuple[str, str]
    ) -> Target:
        return Target(act, lambda: self.group_state(group), ("group", group["id"]), set(also))

    async def denials(self, audited: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """escalation.denied events naming one of ``audited``, as the tenant admin reads them."""
        found = []
        for target_type, target_id in sorted(audited):
            page = ok(
                await self.owner.get(
                    f"{self.base}/audit-events",
                    params={"action": "escalation.denied", "target_id": target_id},
                )
            )
            found.extend(
                e
                for e in page["items"]
                if e["action"] == "escalation.denied" and e["target_type"] == target_type
            )
        return found


@pytest.fixture(scope="module")
async def scene(admin: Api, http: httpx.AsyncClient) -> Scene:
    region = await admin.region()
    record = await admin.tenant()
    tenant = record["slug"]
    base = f"/api/v1/tenants/{tenant}"
    owner = await tenant_admin(http, record)
    app = await owner.app(tenant, region["code"])
    listed = ok(await owner.get(f"{base}/permissions", params={"service": "tessera"}))
    catalog = frozenset(p["code"] for p in listed["items"])
    assert catalog > WEAK_PERMISSIONS
    tenant_admin_role = ok(await owner.get(f"{base}/roles/tenant-admin"))
    assert {p["code"] for p in tenant_admin_role["permissions"]} == catalog

    async def role_with(codes: Any) -> dict[str, Any]:
        code = unique("role")
        ok(await owner.post(f"{base}/roles", {"code": code, "name": code}))
        return ok(await owner.put(f"{base}/roles/{code}/permissions", tessera(codes)))

    weak_role = await role_with(WEAK_PERMISSIONS)
    weak_client = ok(
        await owner.post(
            f"{base}/clients",
            {"display_name": "Weak admin", "apps": ["tessera"], "roles": [weak_role["code"]]},
        )
    )
    token = ok(
        await client_credentials(
            http, tenant, weak_client["client_id"], weak_client["client_secret"]
        )
    )
    return Scene(
        http=http,
        tenant=tenant,
        base=base,
        owner=owner,
        weak=Api(http, token["access_token"]),
        app=app["slug"],
        catalog=catalog,
        strong_role=await role_with(catalog),
        tenant_admin_role=tenant_admin_role,
        low_role=(await role_with(LOW))["code"],
        other_low_role=(await role_with(OTHER_LOW))["code"],
    )


# -- the cases: (reason on a stronger target, build(scene, strong) -> Target) -----------------

Build = Callable[[Scene, bool], Awaitable[Target]]
CASES: dict[str, tuple[str, Build]] = {}


def case(operation: str, reason: str = OUTRANKS) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CASES[operation] = (reason, build)
        return build

    return register


# clients ------------------------------------------------------------------------------------


@case("client.update")
async def _client_update(s: Scene, strong: bool) -> Target:
    c = await s.client(strong)
    path = f"{s.base}/clients/{c['client_id']}"
    return s.on_client(c, lambda: s.weak.patch(path, {"display_name": unique("Renamed")}))


@case("client.disable")
async def _client_disable(s: Scene, strong: bool) -> Target:
    c = await s.client(strong)
    path = f"{s.base}/clients/{c['client_id']}"
    return s.on_client(c, lambda: s.weak.patch(path, {"enabled": False}))


@case("client.secret.regenerate")
async def _client_secret(s: Scene, strong: bool) -> Target:
    c = await s.client(strong)
    path = f"{s.base}/clients/{c['client_id']}/secret"
    return s.on_client(c, lambda: s.weak.post(path))


@case("client.delete")
async def _client_delete(s: Scene, strong: bool) -> Target:
    c = await s.client(strong)
    return s.on_client(c, lambda: s.weak.delete(f"{s.base}/clients/{c['client_id']}"))


@case("client.roles.grant", ESCALATION)
async def _client_roles(s: Scene, strong: bool) -> Target:
    c = await s.client(False)
    added = "tenant-admin" if strong else s.other_low_role
    path = f"{s.base}/clients/{c['client_id']}"
    target = s.on_client(c, lambda: s.weak.patch(path, {"roles": [s.low_role, added]}))
    target.also.add(("role", s.tenant_admin_role["id"]))
    return target


# users --------------------------------------------------------------------------------------


@case("user.update")
async def _user_update(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    path = f"{s.base}/users/{u['id']}"
    return s.on_user(u, lambda: s.weak.patch(path, {"first_name": unique("Mallory")}))


@case("user.disable")
async def _user_disable(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    return s.on_user(u, lambda: s.weak.post(f"{s.base}/users/{u['id']}/disable"))


@case("user.enable")
async def _user_enable(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    ok(await s.owner.post(f"{s.base}/users/{u['id']}/disable"))
    return s.on_user(u, lambda: s.weak.post(f"{s.base}/users/{u['id']}/enable"))


@case("user.logout-everywhere")
async def _user_logout(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    return s.on_user(u, lambda: s.weak.post(f"{s.base}/users/{u['id']}/logout-everywhere"))


@case("user.password.set")
async def _user_password_set(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    path = f"{s.base}/users/{u['id']}/password"
    return s.on_user(u, lambda: s.weak.put(path, {"password": PASSWORD}))


@case("user.password.clear")
async def _user_password_clear(s: Scene, strong: bool) -> Target:
    u = await s.user(strong, password=True)
    return s.on_user(u, lambda: s.weak.delete(f"{s.base}/users/{u['id']}/password"))


@case("user.delete")
async def _user_delete(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    return s.on_user(u, lambda: s.weak.delete(f"{s.base}/users/{u['id']}"))


@case("user.role.assign")
async def _user_role_assign(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    path = f"{s.base}/users/{u['id']}/roles/{s.other_low_role}"
    return s.on_user(u, lambda: s.weak.put(path, None))


@case("user.role.unassign")
async def _user_role_unassign(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    path = f"{s.base}/users/{u['id']}/roles/{u['roles'][0]}"
    return s.on_user(u, lambda: s.weak.delete(path))


@case("user.membership.grant")
async def _membership_grant(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    return s.on_user(u, lambda: s.weak.post(f"{s.base}/users/{u['id']}/apps/{s.app}"))


@case("user.membership.revoke")
async def _membership_revoke(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    ok(await s.owner.post(f"{s.base}/users/{u['id']}/apps/{s.app}"))
    return s.on_user(u, lambda: s.weak.delete(f"{s.base}/users/{u['id']}/apps/{s.app}"))


@case("group.member.add")
async def _group_member_add(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    g = await s.group([s.low_role])
    path = f"{s.base}/groups/{g['code']}/members/{u['id']}"
    return s.on_user(u, lambda: s.weak.put(path, None), ("group", g["id"]))


@case("group.member.remove")
async def _group_member_remove(s: Scene, strong: bool) -> Target:
    u = await s.user(strong)
    g = await s.group([s.low_role])
    path = f"{s.base}/groups/{g['code']}/members/{u['id']}"
    ok(await s.owner.put(path, None))
    return s.on_user(u, lambda: s.weak.delete(path), ("group", g["id"]))


# roles --------------------------------------------------------------------------------------


@case("role.update")
async def _role_update(s: Scene, strong: bool) -> Target:
    r = await s.role(strong)
    path = f"{s.base}/roles/{r['code']}"
    return s.on_role(r, lambda: s.weak.patch(path, {"name": unique("Renamed")}))


@case("role.permissions.set")
async def _role_permissions(s: Scene, strong: bool) -> Target:
    r = await s.role(strong)
    path = f"{s.base}/roles/{r['code']}/permissions"
    return s.on_role(r, lambda: s.weak.put(path, tessera(["role:read"])))


@case("role.delete")
async def _role_delete(s: Scene, strong: bool) -> Target:
    r = await s.role(strong)
    return s.on_role(r, lambda: s.weak.delete(f"{s.base}/roles/{r['code']}"))


@case("role.assign.user", ESCALATION)
async def _role_to_user(s: Scene, strong: bool) -> Target:
    u = await s.user(False)
    role = await s.role(strong)
    path = f"{s.base}/users/{u['id']}/roles/{role['code']}"
    return s.on_user(u, lambda: s.weak.put(path, None), ("role", role["id"]))


@case("role.assign.group", ESCALATION)
async def _role_to_group(s: Scene, strong: bool) -> Target:
    g = await s.group([s.low_role])
    added = await s.role(strong)
    path = f"{s.base}/groups/{g['code']}/roles"
    return s.on_group(
        g, lambda: s.weak.put(path, {"roles": [s.low_role, added["code"]]}), ("role", added["id"])
    )


# groups -------------------------------------------------------------------------------------


@case("group.update")
async def _group_update(s: Scene, strong: bool) -> Target:
    g = await s.strong_or_low_group(strong)
    path = f"{s.base}/groups/{g['code']}"
    return s.on_group(g, lambda: s.weak.patch(path, {"name": unique("Renamed")}))


@case("group.roles.set")
async def _group_roles(s: Scene, strong: bool) -> Target:
    g = await s.strong_or_low_group(strong)
    path = f"{s.base}/groups/{g['code']}/roles"
    return s.on_group(g, lambda: s.weak.put(path, {"roles": [s.other_low_role]}))


@case("group.delete")
async def _group_delete(s: Scene, strong: bool) -> Target:
    g = await s.strong_or_low_group(strong)
    return s.on_group(g, lambda: s.weak.delete(f"{s.base}/groups/{g['code']}"))


@case("group.join", ESCALATION)
async def _group_join(s: Scene, strong: bool) -> Target:
    u = await s.user(False)
    g = await s.strong_or_low_group(strong)
    path = f"{s.base}/groups/{g['code']}/members/{u['id']}"
    return s.on_user(u, lambda: s.weak.put(path, None), ("group", g["id"]))


# -- the matrix --------------------------------------------------------------------------------


def _seen(response: httpx.Response) -> tuple[int, str]:
    try:
        return response.status_code, str(response.json().get("reason", ""))
    except ValueError:
        return response.status_code, response.text[:80]


def test_the_matrix_covers_every_principal_management_operation() -> None:
    assert len(CASES) == 27
    assert {name.split(".")[0] for name in CASES} == {"client", "user", "role", "group"}


@pytest.mark.parametrize("operation", list(CASES))
async def test_a_weaker_caller_is_refused_on_a_stronger_target_which_stays_unchanged(
    scene: Scene, operation: str
) -> None:
    reason, build = CASES[operation]
    target = await build(scene, True)
    before = await target.state()
    response = await target.act()
    after = await target.state()

    assert _seen(response) == (403, reason), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert sorted(response.json()["metadata"]["permissions"].split(",")) == scene.missing
    assert after == before
    denials = await scene.denials(target.audited)
    assert denials, f"no escalation.denied event naming any of {sorted(target.audited)}"
    details = denials[0]["details"]
    assert isinstance(details.get("operation"), str), details
    assert details["operation"], details
    assert sorted(details.get("missing", [])) == scene.missing, details


@pytest.mark.parametrize("operation", list(CASES))
async def test_the_same_caller_succeeds_on_a_target_within_its_permissions(
    scene: Scene, operation: str
) -> None:
    _, build = CASES[operation]
    target = await build(scene, False)
    before = await target.state()
    response = await target.act()
    after = await target.state()

    assert response.is_success, response.text
    assert after != before, "the operation changed nothing: the control proves nothing"
    assert await scene.denials({target.primary}) == []


# -- the review's headline attack ---------------------------------------------------------------


async def test_a_client_writer_cannot_take_over_the_tenant_admin_client(
    admin: Api, http: httpx.AsyncClient
) -> None:
    record = await admin.tenant()
    tenant = record["slug"]
    base = f"/api/v1/tenants/{tenant}"
    owner = await tenant_admin(http, record)
    role = unique("client-writer")
    ok(await owner.post(f"{base}/roles", {"code": role, "name": "Client writer"}))
    ok(
        await owner.put(
            f"{base}/roles/{role}/permissions", tessera(["client:read", "client:write"])
        )
    )
    writer = ok(
        await owner.post(
            f"{base}/clients", {"display_name": "Writer", "apps": ["tessera"], "roles": [role]}
        )
    )
    token = ok(await client_credentials(http, tenant, writer["client_id"], writer["client_secret"]))
    attacker = Api(http, token["access_token"])
    admin_client = record["admin_client"]["client_id"]
    target = f"{base}/clients/{admin_client}"
    before = ok(await owner.get(target))

    attempts = {
        "regenerate its secret": await attacker.post(f"{target}/secret"),
        "disable it": await attacker.patch(target, {"enabled": False}),
        "update it": await attacker.patch(target, {"display_name": "Owned"}),
        "delete it": await attacker.delete(target),
    }

    assert {name: _seen(r) for name, r in attempts.items()} == {
        name: (403, OUTRANKS) for name in attempts
    }
    still = await client_credentials(
        http, tenant, admin_client, record["admin_client"]["client_secret"]
    )
    assert still.status_code == 200, still.text
    real_admin = Api(http, still.json()["access_token"])
    assert (await real_admin.get(f"{base}/apps")).status_code == 200
    after = ok(await real_admin.get(target))
    assert (after["enabled"], after["display_name"], after["roles"]) == (
        True,
        before["display_name"],
        before["roles"],
    )
    events = ok(
        await real_admin.get(
            f"{base}/audit-events",
            params={"action": "escalation.denied", "target_id": admin_client},
        )
    )["items"]
    assert len(events) == len(attempts)
    assert {e["target_type"] for e in events} == {"client"}
    assert "client.secret.regenerate" in {e["details"]["operation"] for e in events}
