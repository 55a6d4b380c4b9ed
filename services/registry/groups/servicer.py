"""The group RPCs of DirectoryService."""

from __future__ import annotations

from tessera.registry.v1 import directory_pb2 as pb

from services.common.auth import Authenticator
from services.registry.groups.models import Group, GroupDraft, GroupPatch
from services.registry.groups.use_cases import GroupUseCases
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer

Ctx = cv.ServicerContext


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


class GroupServicer(Servicer):
    def __init__(self, auth: Authenticator, groups: GroupUseCases) -> None:
        super().__init__(auth)
        self._groups = groups

    async def CreateGroup(self, request: pb.CreateGroupRequest, context: Ctx) -> pb.Group:
        draft = GroupDraft(code=request.code, name=request.name, bound_to=tuple(request.bound_to))
        return group_pb(
            await self._groups.create(await self.principal(context), request.tenant, draft)
        )

    async def GetGroup(self, request: pb.GetGroupRequest, context: Ctx) -> pb.Group:
        principal = await self.principal(context)
        return group_pb(await self._groups.get(principal, request.tenant, request.group))

    async def ListGroups(
        self, request: pb.ListGroupsRequest, context: Ctx
    ) -> pb.ListGroupsResponse:
        page = await self._groups.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            request.query,
        )
        return pb.ListGroupsResponse(
            groups=[group_pb(g) for g in page.items],
            **cv.listing(page),
        )

    async def UpdateGroup(self, request: pb.UpdateGroupRequest, context: Ctx) -> pb.Group:
        patch = GroupPatch(
            name=cv.optional(request, "name"), bound_to=cv.string_list(request, "bound_to")
        )
        group = await self._groups.update(
            await self.principal(context),
            request.tenant,
            request.group,
            patch,
            request.expected_etag,
        )
        return group_pb(group)

    async def DeleteGroup(
        self, request: pb.DeleteGroupRequest, context: Ctx
    ) -> pb.DeleteGroupResponse:
        await self._groups.delete(
            await self.principal(context), request.tenant, request.group, request.expected_etag
        )
        return pb.DeleteGroupResponse()

    async def SetGroupRoles(self, request: pb.SetGroupRolesRequest, context: Ctx) -> pb.Group:
        group = await self._groups.set_roles(
            await self.principal(context),
            request.tenant,
            request.group,
            list(request.roles),
            request.expected_etag,
        )
        return group_pb(group)

    async def AddGroupMember(self, request: pb.GroupMemberRequest, context: Ctx) -> pb.Group:
        principal = await self.principal(context)
        return group_pb(
            await self._groups.add_member(principal, request.tenant, request.group, request.user)
        )

    async def RemoveGroupMember(self, request: pb.GroupMemberRequest, context: Ctx) -> pb.Group:
        principal = await self.principal(context)
        return group_pb(
            await self._groups.remove_member(principal, request.tenant, request.group, request.user)
        )
