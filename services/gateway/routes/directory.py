"""Directory REST API (``/api/v1/tenants/{tenant}/...``): users, roles, groups and app
memberships. Translates HTTP to DirectoryService gRPC calls, nothing more.

The caller's bearer token is forwarded; the registry authenticates and authorises it. Users
carry a numbered version (ETag ``"3"``); roles and groups a content ETag. Both are checked
when If-Match is sent (stale → 412 VERSION_MISMATCH).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from tessera.registry.v1 import directory_pb2 as pb
from tessera.registry.v1 import directory_pb2_grpc
from tessera.registry.v1 import registry_pb2 as registry_pb

from services.gateway.access import GatedRoute
from services.gateway.clients import GatewayClients, call
from services.gateway.routes import directory_models as m
from services.gateway.routes.admin import Bearer, IfMatch, PageSize, PageToken, expected_version

router = APIRouter(prefix="/api/v1", route_class=GatedRoute)


def directory(request: Request) -> directory_pb2_grpc.DirectoryServiceStub:
    """The directory is served by the registry, on the registry channel."""
    clients: GatewayClients = request.app.state.clients
    return clients.directory


Directory = Annotated[directory_pb2_grpc.DirectoryServiceStub, Depends(directory)]
Status = Annotated[str, Query(description="Filter by status; empty = all.")]


def expected_etag(if_match: str | None) -> str:
    """If-Match → the role/group ETag the caller read ("" = unconditional)."""
    if if_match is None or if_match.strip() == "*":
        return ""
    return if_match.strip().removeprefix("W/").strip('"')


def _ts(message: Any, name: str) -> str | None:
    return getattr(message, name).ToJsonString() if message.HasField(name) else None


def _opt(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def user_view(u: pb.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "tenant": u.tenant,
        "email": u.email,
        "email_verified": u.email_verified,
        "first_name": _opt(u, "first_name"),
        "last_name": _opt(u, "last_name"),
        "username": _opt(u, "username"),
        "has_password": u.has_password,
        "status": u.status,
        "token_version": u.token_version,
        "version": u.version,
        "roles": list(u.roles),
        "groups": list(u.groups),
        "created_at": _ts(u, "created_at"),
        "updated_at": _ts(u, "updated_at"),
    }


def role_view(r: pb.Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "tenant": r.tenant,
        "code": r.code,
        "name": r.name,
        "description": r.description,
        "app_id": _opt(r, "app_id"),
        "app_slug": _opt(r, "app_slug"),
        "system": r.system,
        "permissions": [
            {"service": p.service, "code": p.code, "deprecated": p.deprecated}
            for p in r.permissions
        ],
        "etag": r.etag,
        "created_at": _ts(r, "created_at"),
    }


def group_view(g: pb.Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "tenant": g.tenant,
        "code": g.code,
        "name": g.name,
        "bound_to": list(g.bound_to),
        "roles": list(g.roles),
        "etag": g.etag,
        "created_at": _ts(g, "created_at"),
    }


def membership_view(ms: pb.Membership) -> dict[str, Any]:
    return {
        "user_id": ms.user_id,
        "user_email": ms.user_email,
        "app_id": ms.app_id,
        "app_slug": ms.app_slug,
        "status": ms.status,
        "granted_at": _ts(ms, "granted_at"),
        "granted_by": ms.granted_by,
        "revoked_at": _ts(ms, "revoked_at"),
    }


def _user(response: Response, message: pb.User) -> dict[str, Any]:
    response.headers["ETag"] = f'"{message.version}"'
    return user_view(message)


def _role(response: Response, message: pb.Role) -> dict[str, Any]:
    response.headers["ETag"] = f'"{message.etag}"'
    return role_view(message)


def _group(response: Response, message: pb.Group) -> dict[str, Any]:
    response.headers["ETag"] = f'"{message.etag}"'
    return group_view(message)


def _page(items: list[dict[str, Any]], token: str, total: int) -> dict[str, Any]:
    return {"items": items, "next_page_token": token or None, "total": total}


def _paging(size: int, token: str) -> registry_pb.Page:
    return registry_pb.Page(page_size=size, page_token=token)


_USER = m.example(m.USER_EXAMPLE)
_ROLE = m.example(m.ROLE_EXAMPLE)
_GROUP = m.example(m.GROUP_EXAMPLE)
_MEMBERSHIP = m.example(m.MEMBERSHIP_EXAMPLE)

# -- users ----------------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/users",
    status_code=201,
    tags=["users"],
    summary="Add a user to the tenant's pool (passwordless when no password is given)",
    responses=m.example(m.USER_EXAMPLE, 201),
)
async def create_user(
    tenant: str, body: m.UserCreate, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateUserRequest(
        tenant=tenant, email=body.email, email_verified=body.email_verified
    )
    for name in ("first_name", "last_name", "username", "password"):
        value = getattr(body, name)
        if value is not None:
            setattr(request, name, value)
    created = await call(d.CreateUser, request, bearer=token)
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/users/{created.id}"
    return _user(response, created)


@router.get(
    "/tenants/{tenant}/users",
    tags=["users"],
    summary="List users (search by email, name or username; filter by status)",
    responses=m.example(m.USER_EXAMPLE, page=True),
)
async def list_users(
    tenant: str,
    d: Directory,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    q: str = "",
    status: Status = "",
) -> dict[str, Any]:
    result = await call(
        d.ListUsers,
        pb.ListUsersRequest(
            tenant=tenant, page=_paging(page_size, page_token), query=q, status=status
        ),
        bearer=token,
    )
    return _page([user_view(u) for u in result.users], result.next_page_token, result.total)


@router.get(
    "/tenants/{tenant}/users/{user}",
    tags=["users"],
    summary="Get a user (by id or email)",
    responses=_USER,
)
async def get_user(
    tenant: str, user: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    result = await call(d.GetUser, pb.GetUserRequest(tenant=tenant, user=user), bearer=token)
    return _user(response, result)


@router.patch(
    "/tenants/{tenant}/users/{user}",
    tags=["users"],
    summary="Change a user's email, names, username or email_verified",
    responses=_USER,
)
async def update_user(
    tenant: str,
    user: str,
    body: m.UserUpdate,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateUserRequest(
        tenant=tenant, user=user, expected_version=expected_version(if_match)
    )
    for name in ("email", "first_name", "last_name", "username", "email_verified"):
        if name in body.model_fields_set:
            value = getattr(body, name)
            if value is not None:
                setattr(request, name, value)
            elif name in ("first_name", "last_name", "username"):
                setattr(request, name, "")  # null clears
    return _user(response, await call(d.UpdateUser, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/users/{user}",
    status_code=204,
    tags=["users"],
    summary="Delete a user with their role assignments, group and app memberships",
)
async def delete_user(
    tenant: str, user: str, d: Directory, token: Bearer, if_match: IfMatch = None
) -> Response:
    request = pb.UserRequest(tenant=tenant, user=user, expected_version=expected_version(if_match))
    await call(d.DeleteUser, request, bearer=token)
    return Response(status_code=204)


async def _user_action(
    method: Any, tenant: str, user: str, token: str | None, response: Response, if_match: str | None
) -> dict[str, Any]:
    request = pb.UserRequest(tenant=tenant, user=user, expected_version=expected_version(if_match))
    return _user(response, await call(method, request, bearer=token))


@router.post(
    "/tenants/{tenant}/users/{user}/disable",
    tags=["users"],
    summary="Disable a user; bumps token_version so their tokens stop being accepted",
    responses=_USER,
)
async def disable_user(
    tenant: str,
    user: str,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    return await _user_action(d.DisableUser, tenant, user, token, response, if_match)


@router.post(
    "/tenants/{tenant}/users/{user}/enable",
    tags=["users"],
    summary="Enable a disabled user",
    responses=_USER,
)
async def enable_user(
    tenant: str,
    user: str,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    return await _user_action(d.EnableUser, tenant, user, token, response, if_match)


@router.post(
    "/tenants/{tenant}/users/{user}/logout-everywhere",
    tags=["users"],
    summary="Log a user out everywhere: bumps token_version, every current token stops working",
    responses=_USER,
)
async def logout_everywhere(
    tenant: str,
    user: str,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    return await _user_action(d.LogoutEverywhere, tenant, user, token, response, if_match)


@router.put(
    "/tenants/{tenant}/users/{user}/password",
    tags=["users"],
    summary="Set or replace a user's password (stored as an argon2id hash only)",
    responses=_USER,
)
async def set_password(
    tenant: str,
    user: str,
    body: m.PasswordBody,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.SetUserPasswordRequest(
        tenant=tenant,
        user=user,
        password=body.password,
        expected_version=expected_version(if_match),
    )
    return _user(response, await call(d.SetUserPassword, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/users/{user}/password",
    tags=["users"],
    summary="Remove a user's password (the user becomes passwordless)",
    responses=_USER,
)
async def clear_password(
    tenant: str,
    user: str,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    return await _user_action(d.ClearUserPassword, tenant, user, token, response, if_match)


@router.put(
    "/tenants/{tenant}/users/{user}/roles/{role}",
    tags=["users"],
    summary="Assign a role to a user directly (idempotent)",
    responses=_USER,
)
async def assign_role(
    tenant: str, user: str, role: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.UserRoleRequest(tenant=tenant, user=user, role=role)
    return _user(response, await call(d.AssignUserRole, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/users/{user}/roles/{role}",
    tags=["users"],
    summary="Unassign a directly assigned role (idempotent)",
    responses=_USER,
)
async def unassign_role(
    tenant: str, user: str, role: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.UserRoleRequest(tenant=tenant, user=user, role=role)
    return _user(response, await call(d.UnassignUserRole, request, bearer=token))


# -- memberships ----------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/users/{user}/apps/{app}",
    tags=["memberships"],
    summary="Grant a user access to an app (idempotent; re-activates a revoked membership)",
    responses={**m.example(m.MEMBERSHIP_EXAMPLE, 201), **_MEMBERSHIP},
)
async def grant_membership(
    tenant: str, user: str, app: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    result = await call(
        d.GrantMembership, pb.MembershipRequest(tenant=tenant, user=user, app=app), bearer=token
    )
    response.status_code = 201 if result.created else 200
    return membership_view(result.membership)


@router.delete(
    "/tenants/{tenant}/users/{user}/apps/{app}",
    tags=["memberships"],
    summary="Revoke a user's access to an app; bumps token_version",
    responses=_MEMBERSHIP,
)
async def revoke_membership(
    tenant: str, user: str, app: str, d: Directory, token: Bearer
) -> dict[str, Any]:
    result = await call(
        d.RevokeMembership, pb.MembershipRequest(tenant=tenant, user=user, app=app), bearer=token
    )
    return membership_view(result)


@router.get(
    "/tenants/{tenant}/users/{user}/apps",
    tags=["memberships"],
    summary="List a user's app memberships",
    responses=m.example(m.MEMBERSHIP_EXAMPLE, page=True),
)
async def list_user_memberships(
    tenant: str,
    user: str,
    d: Directory,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    status: Status = "",
) -> dict[str, Any]:
    result = await call(
        d.ListUserMemberships,
        pb.ListUserMembershipsRequest(
            tenant=tenant, user=user, page=_paging(page_size, page_token), status=status
        ),
        bearer=token,
    )
    return _page(
        [membership_view(x) for x in result.memberships], result.next_page_token, result.total
    )


@router.get(
    "/tenants/{tenant}/apps/{app}/members",
    tags=["memberships"],
    summary="List an app's members",
    responses=m.example(m.MEMBERSHIP_EXAMPLE, page=True),
)
async def list_app_members(
    tenant: str,
    app: str,
    d: Directory,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    status: Status = "",
) -> dict[str, Any]:
    result = await call(
        d.ListAppMembers,
        pb.ListAppMembersRequest(
            tenant=tenant, app=app, page=_paging(page_size, page_token), status=status
        ),
        bearer=token,
    )
    return _page(
        [membership_view(x) for x in result.memberships], result.next_page_token, result.total
    )


# -- roles ----------------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/roles",
    status_code=201,
    tags=["roles"],
    summary="Create a role, tenant-wide or bound to one app",
    responses=m.example(m.ROLE_EXAMPLE, 201),
)
async def create_role(
    tenant: str, body: m.RoleCreate, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateRoleRequest(
        tenant=tenant,
        code=body.code,
        name=body.name,
        description=body.description,
        app=body.app or "",
    )
    created = await call(d.CreateRole, request, bearer=token)
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/roles/{created.id}"
    return _role(response, created)


@router.get(
    "/tenants/{tenant}/roles",
    tags=["roles"],
    summary="List roles (optionally only those bound to one app)",
    responses=m.example(m.ROLE_EXAMPLE, page=True),
)
async def list_roles(
    tenant: str,
    d: Directory,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    app: Annotated[str, Query(description="App id or slug")] = "",
) -> dict[str, Any]:
    result = await call(
        d.ListRoles,
        pb.ListRolesRequest(tenant=tenant, page=_paging(page_size, page_token), app=app),
        bearer=token,
    )
    return _page([role_view(r) for r in result.roles], result.next_page_token, result.total)


@router.get(
    "/tenants/{tenant}/roles/{role}",
    tags=["roles"],
    summary="Get a role (by id or code) with its permissions",
    responses=_ROLE,
)
async def get_role(
    tenant: str, role: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    result = await call(d.GetRole, pb.GetRoleRequest(tenant=tenant, role=role), bearer=token)
    return _role(response, result)


@router.patch(
    "/tenants/{tenant}/roles/{role}",
    tags=["roles"],
    summary="Rename or re-describe a role (system roles are refused)",
    responses=_ROLE,
)
async def update_role(
    tenant: str,
    role: str,
    body: m.RoleUpdate,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateRoleRequest(tenant=tenant, role=role, expected_etag=expected_etag(if_match))
    if body.name is not None:
        request.name = body.name
    if body.description is not None:
        request.description = body.description
    return _role(response, await call(d.UpdateRole, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/roles/{role}",
    status_code=204,
    tags=["roles"],
    summary="Delete a role (409 ROLE_IN_USE with blockers while assigned)",
)
async def delete_role(
    tenant: str, role: str, d: Directory, token: Bearer, if_match: IfMatch = None
) -> Response:
    request = pb.DeleteRoleRequest(tenant=tenant, role=role, expected_etag=expected_etag(if_match))
    await call(d.DeleteRole, request, bearer=token)
    return Response(status_code=204)


@router.put(
    "/tenants/{tenant}/roles/{role}/permissions",
    tags=["roles"],
    summary="Replace a role's permissions with catalog entries {service, code}",
    responses=_ROLE,
)
async def set_role_permissions(
    tenant: str,
    role: str,
    body: m.RolePermissions,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.SetRolePermissionsRequest(
        tenant=tenant,
        role=role,
        permissions=[pb.PermissionRef(service=p.service, code=p.code) for p in body.permissions],
        expected_etag=expected_etag(if_match),
    )
    return _role(response, await call(d.SetRolePermissions, request, bearer=token))


# -- groups ---------------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/groups",
    status_code=201,
    tags=["groups"],
    summary="Create a group bound to apps (or to every app with ['*'])",
    responses=m.example(m.GROUP_EXAMPLE, 201),
)
async def create_group(
    tenant: str, body: m.GroupCreate, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.CreateGroupRequest(
        tenant=tenant, code=body.code, name=body.name, bound_to=body.bound_to
    )
    created = await call(d.CreateGroup, request, bearer=token)
    response.headers["Location"] = f"/api/v1/tenants/{tenant}/groups/{created.id}"
    return _group(response, created)


@router.get(
    "/tenants/{tenant}/groups",
    tags=["groups"],
    summary="List groups (search by code or name)",
    responses=m.example(m.GROUP_EXAMPLE, page=True),
)
async def list_groups(
    tenant: str,
    d: Directory,
    token: Bearer,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    q: str = "",
) -> dict[str, Any]:
    result = await call(
        d.ListGroups,
        pb.ListGroupsRequest(tenant=tenant, page=_paging(page_size, page_token), query=q),
        bearer=token,
    )
    return _page([group_view(g) for g in result.groups], result.next_page_token, result.total)


@router.get(
    "/tenants/{tenant}/groups/{group}",
    tags=["groups"],
    summary="Get a group (by id or code)",
    responses=_GROUP,
)
async def get_group(
    tenant: str, group: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    result = await call(d.GetGroup, pb.GetGroupRequest(tenant=tenant, group=group), bearer=token)
    return _group(response, result)


@router.patch(
    "/tenants/{tenant}/groups/{group}",
    tags=["groups"],
    summary="Rename a group or replace its app binding",
    responses=_GROUP,
)
async def update_group(
    tenant: str,
    group: str,
    body: m.GroupUpdate,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.UpdateGroupRequest(
        tenant=tenant, group=group, expected_etag=expected_etag(if_match)
    )
    if body.name is not None:
        request.name = body.name
    if body.bound_to is not None:
        request.bound_to.SetInParent()
        request.bound_to.values.extend(body.bound_to)
    return _group(response, await call(d.UpdateGroup, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/groups/{group}",
    status_code=204,
    tags=["groups"],
    summary="Delete a group (its members, bindings and roles go with it)",
)
async def delete_group(
    tenant: str, group: str, d: Directory, token: Bearer, if_match: IfMatch = None
) -> Response:
    request = pb.DeleteGroupRequest(
        tenant=tenant, group=group, expected_etag=expected_etag(if_match)
    )
    await call(d.DeleteGroup, request, bearer=token)
    return Response(status_code=204)


@router.put(
    "/tenants/{tenant}/groups/{group}/roles",
    tags=["groups"],
    summary="Replace the roles a group gives its members",
    responses=_GROUP,
)
async def set_group_roles(
    tenant: str,
    group: str,
    body: m.GroupRoles,
    d: Directory,
    token: Bearer,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    request = pb.SetGroupRolesRequest(
        tenant=tenant, group=group, roles=body.roles, expected_etag=expected_etag(if_match)
    )
    return _group(response, await call(d.SetGroupRoles, request, bearer=token))


@router.put(
    "/tenants/{tenant}/groups/{group}/members/{user}",
    tags=["groups"],
    summary="Add a user to a group (idempotent)",
    responses=_GROUP,
)
async def add_group_member(
    tenant: str, group: str, user: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.GroupMemberRequest(tenant=tenant, group=group, user=user)
    return _group(response, await call(d.AddGroupMember, request, bearer=token))


@router.delete(
    "/tenants/{tenant}/groups/{group}/members/{user}",
    tags=["groups"],
    summary="Remove a user from a group (idempotent)",
    responses=_GROUP,
)
async def remove_group_member(
    tenant: str, group: str, user: str, d: Directory, token: Bearer, response: Response
) -> dict[str, Any]:
    request = pb.GroupMemberRequest(tenant=tenant, group=group, user=user)
    return _group(response, await call(d.RemoveGroupMember, request, bearer=token))
