"""DirectoryService gRPC servicer: authenticate the caller, translate, call one use case.

Protobuf ↔ domain translation of directory values lives here too (no rules).
"""

from __future__ import annotations

from tessera.registry.v1 import directory_pb2 as pb
from tessera.registry.v1 import directory_pb2_grpc

from services.common.auth import Authenticator
from services.registry import convert as cv
from services.registry.domain.directory_models import (
    Group,
    GroupDraft,
    GroupPatch,
    Membership,
    PermissionRef,
    Role,
    RoleDraft,
    RolePatch,
    User,
    UserDraft,
    UserPatch,
)
from services.registry.domain.directory_service import DirectoryService

Ctx = cv.ServicerContext


def user_pb(user: User) -> pb.User:
    message = pb.User(
        id=user.id,
        tenant=user.tenant_slug,
        email=user.email,
        email_verified=user.email_verified,
        has_password=user.has_password,
        status=user.status.value,
        token_version=user.token_version,
        version=user.version,
        created_at=cv.timestamp(user.created_at),
        updated_at=cv.timestamp(user.updated_at),
        roles=list(user.roles),
        groups=list(user.groups),
    )
    for name in ("first_name", "last_name", "username"):
        value = getattr(user, name)
        if value is not None:
            setattr(message, name, value)
    return message


def role_pb(role: Role) -> pb.Role:
    message = pb.Role(
        id=role.id,
        tenant=role.tenant_slug,
        code=role.code,
        name=role.name,
        description=role.description,
        system=role.system,
        permissions=[
            pb.RolePermission(service=p.service, code=p.code, deprecated=p.deprecated)
            for p in role.permissions
        ],
        etag=role.etag,
        created_at=cv.timestamp(role.created_at),
    )
    if role.app_id is not None:
        message.app_id = role.app_id
        message.app_slug = role.app_slug or ""
    return message


def group_pb(group: Group) -> pb.Group:
    return pb.Group(
        id=group.id,
        tenant=group.tenant_slug,
        code=group.code,
        name=group.name,
        bound_to=list(group.bound_to),
        roles=[r.code for r in group.roles],
        etag=group.etag,
        created_at=cv.timestamp(group.created_at),
    )


def membership_pb(membership: Membership) -> pb.Membership:
    message = pb.Membership(
        user_id=membership.user_id,
        user_email=membership.user_email,
        app_id=membership.app_id,
        app_slug=membership.app_slug,
        status=membership.status.value,
        granted_at=cv.timestamp(membership.granted_at),
        granted_by=membership.granted_by,
    )
    if membership.revoked_at is not None:
        message.revoked_at.CopyFrom(cv.timestamp(membership.revoked_at))
    return message


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, service: DirectoryService, auth: Authenticator) -> None:
        self._s = service
        self._auth = auth

    # users
    async def CreateUser(self, request: pb.CreateUserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        draft = UserDraft(
            email=request.email,
            first_name=cv.optional(request, "first_name"),
            last_name=cv.optional(request, "last_name"),
            username=cv.optional(request, "username"),
            password=cv.optional(request, "password"),
            email_verified=request.email_verified,
        )
        return user_pb(await self._s.create_user(principal, request.tenant, draft))

    async def GetUser(self, request: pb.GetUserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(await self._s.get_user(principal, request.tenant, request.user))

    async def ListUsers(self, request: pb.ListUsersRequest, context: Ctx) -> pb.ListUsersResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_users(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.query,
            request.status,
        )
        return pb.ListUsersResponse(
            users=[user_pb(u) for u in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        patch = UserPatch(
            email=cv.optional(request, "email"),
            first_name=cv.optional(request, "first_name"),
            last_name=cv.optional(request, "last_name"),
            username=cv.optional(request, "username"),
            email_verified=cv.optional(request, "email_verified"),
        )
        return user_pb(
            await self._s.update_user(
                principal, request.tenant, request.user, patch, request.expected_version
            )
        )

    async def SetUserPassword(self, request: pb.SetUserPasswordRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.set_password(
                principal, request.tenant, request.user, request.password, request.expected_version
            )
        )

    async def ClearUserPassword(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.clear_password(
                principal, request.tenant, request.user, request.expected_version
            )
        )

    async def DisableUser(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.disable_user(
                principal, request.tenant, request.user, request.expected_version
            )
        )

    async def EnableUser(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.enable_user(
                principal, request.tenant, request.user, request.expected_version
            )
        )

    async def LogoutEverywhere(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.logout_everywhere(
                principal, request.tenant, request.user, request.expected_version
            )
        )

    async def DeleteUser(self, request: pb.UserRequest, context: Ctx) -> pb.DeleteUserResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_user(principal, request.tenant, request.user, request.expected_version)
        return pb.DeleteUserResponse()

    async def AssignUserRole(self, request: pb.UserRoleRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.assign_user_role(principal, request.tenant, request.user, request.role)
        )

    async def UnassignUserRole(self, request: pb.UserRoleRequest, context: Ctx) -> pb.User:
        principal = await self._auth.principal(context)
        return user_pb(
            await self._s.unassign_user_role(principal, request.tenant, request.user, request.role)
        )

    # roles
    async def CreateRole(self, request: pb.CreateRoleRequest, context: Ctx) -> pb.Role:
        principal = await self._auth.principal(context)
        draft = RoleDraft(
            code=request.code,
            name=request.name,
            description=request.description,
            app=request.app,
        )
        return role_pb(await self._s.create_role(principal, request.tenant, draft))

    async def GetRole(self, request: pb.GetRoleRequest, context: Ctx) -> pb.Role:
        principal = await self._auth.principal(context)
        return role_pb(await self._s.get_role(principal, request.tenant, request.role))

    async def ListRoles(self, request: pb.ListRolesRequest, context: Ctx) -> pb.ListRolesResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_roles(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.app,
        )
        return pb.ListRolesResponse(
            roles=[role_pb(r) for r in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateRole(self, request: pb.UpdateRoleRequest, context: Ctx) -> pb.Role:
        principal = await self._auth.principal(context)
        patch = RolePatch(
            name=cv.optional(request, "name"), description=cv.optional(request, "description")
        )
        return role_pb(
            await self._s.update_role(
                principal, request.tenant, request.role, patch, request.expected_etag
            )
        )

    async def DeleteRole(
        self, request: pb.DeleteRoleRequest, context: Ctx
    ) -> pb.DeleteRoleResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_role(principal, request.tenant, request.role, request.expected_etag)
        return pb.DeleteRoleResponse()

    async def SetRolePermissions(
        self, request: pb.SetRolePermissionsRequest, context: Ctx
    ) -> pb.Role:
        principal = await self._auth.principal(context)
        refs = [PermissionRef(service=p.service, code=p.code) for p in request.permissions]
        return role_pb(
            await self._s.set_role_permissions(
                principal, request.tenant, request.role, refs, request.expected_etag
            )
        )

    # groups
    async def CreateGroup(self, request: pb.CreateGroupRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        draft = GroupDraft(code=request.code, name=request.name, bound_to=tuple(request.bound_to))
        return group_pb(await self._s.create_group(principal, request.tenant, draft))

    async def GetGroup(self, request: pb.GetGroupRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        return group_pb(await self._s.get_group(principal, request.tenant, request.group))

    async def ListGroups(
        self, request: pb.ListGroupsRequest, context: Ctx
    ) -> pb.ListGroupsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_groups(
            principal,
            request.tenant,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.query,
        )
        return pb.ListGroupsResponse(
            groups=[group_pb(g) for g in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def UpdateGroup(self, request: pb.UpdateGroupRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        patch = GroupPatch(
            name=cv.optional(request, "name"),
            bound_to=cv.string_list(request, "bound_to"),
        )
        return group_pb(
            await self._s.update_group(
                principal, request.tenant, request.group, patch, request.expected_etag
            )
        )

    async def DeleteGroup(
        self, request: pb.DeleteGroupRequest, context: Ctx
    ) -> pb.DeleteGroupResponse:
        principal = await self._auth.principal(context)
        await self._s.delete_group(principal, request.tenant, request.group, request.expected_etag)
        return pb.DeleteGroupResponse()

    async def SetGroupRoles(self, request: pb.SetGroupRolesRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        return group_pb(
            await self._s.set_group_roles(
                principal, request.tenant, request.group, list(request.roles), request.expected_etag
            )
        )

    async def AddGroupMember(self, request: pb.GroupMemberRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        return group_pb(
            await self._s.add_group_member(principal, request.tenant, request.group, request.user)
        )

    async def RemoveGroupMember(self, request: pb.GroupMemberRequest, context: Ctx) -> pb.Group:
        principal = await self._auth.principal(context)
        return group_pb(
            await self._s.remove_group_member(
                principal, request.tenant, request.group, request.user
            )
        )

    # memberships
    async def GrantMembership(
        self, request: pb.MembershipRequest, context: Ctx
    ) -> pb.GrantMembershipResponse:
        principal = await self._auth.principal(context)
        membership, created = await self._s.grant_membership(
            principal, request.tenant, request.user, request.app
        )
        return pb.GrantMembershipResponse(membership=membership_pb(membership), created=created)

    async def RevokeMembership(self, request: pb.MembershipRequest, context: Ctx) -> pb.Membership:
        principal = await self._auth.principal(context)
        return membership_pb(
            await self._s.revoke_membership(principal, request.tenant, request.user, request.app)
        )

    async def ListUserMemberships(
        self, request: pb.ListUserMembershipsRequest, context: Ctx
    ) -> pb.ListMembershipsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_user_memberships(
            principal,
            request.tenant,
            request.user,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.status,
        )
        return pb.ListMembershipsResponse(
            memberships=[membership_pb(m) for m in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def ListAppMembers(
        self, request: pb.ListAppMembersRequest, context: Ctx
    ) -> pb.ListMembershipsResponse:
        principal = await self._auth.principal(context)
        page = await self._s.list_app_members(
            principal,
            request.tenant,
            request.app,
            request.page.page_size,
            cv.page_offset(request.page.page_token),
            request.status,
        )
        return pb.ListMembershipsResponse(
            memberships=[membership_pb(m) for m in page.items],
            next_page_token=cv.page_token(page.next_offset),
            total=page.total,
        )

    async def AdmitUser(self, request: pb.AdmitUserRequest, context: Ctx) -> pb.AdmitUserResponse:
        principal = await self._auth.principal(context)
        admission = await self._s.admit(principal, request.tenant, request.user_id, request.app)
        return pb.AdmitUserResponse(
            membership=membership_pb(admission.membership),
            token_version=admission.token_version,
            created=admission.created,
        )
