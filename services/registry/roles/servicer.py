"""The role RPCs of DirectoryService."""

from __future__ import annotations

from tessera.registry.v1 import directory_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.roles.models import PermissionRef, Role, RoleDraft, RolePatch
from services.registry.roles.use_cases import RoleUseCases

Ctx = cv.ServicerContext


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


class RoleServicer(Servicer):
    def __init__(self, auth: Authenticator, roles: RoleUseCases) -> None:
        super().__init__(auth)
        self._roles = roles

    async def CreateRole(self, request: pb.CreateRoleRequest, context: Ctx) -> pb.Role:
        draft = RoleDraft(
            code=request.code,
            name=request.name,
            description=request.description,
            app=request.app,
        )
        return role_pb(
            await self._roles.create(await self.principal(context), request.tenant, draft)
        )

    async def GetRole(self, request: pb.GetRoleRequest, context: Ctx) -> pb.Role:
        principal = await self.principal(context)
        return role_pb(await self._roles.get(principal, request.tenant, request.role))

    async def ListRoles(self, request: pb.ListRolesRequest, context: Ctx) -> pb.ListRolesResponse:
        page = await self._roles.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            request.app,
        )
        return pb.ListRolesResponse(
            roles=[role_pb(r) for r in page.items],
            **cv.listing(page),
        )

    async def UpdateRole(self, request: pb.UpdateRoleRequest, context: Ctx) -> pb.Role:
        patch = RolePatch(
            name=cv.optional(request, "name"), description=cv.optional(request, "description")
        )
        role = await self._roles.update(
            await self.principal(context),
            request.tenant,
            request.role,
            patch,
            request.expected_etag,
        )
        return role_pb(role)

    async def DeleteRole(
        self, request: pb.DeleteRoleRequest, context: Ctx
    ) -> pb.DeleteRoleResponse:
        await self._roles.delete(
            await self.principal(context), request.tenant, request.role, request.expected_etag
        )
        return pb.DeleteRoleResponse()

    async def SetRolePermissions(
        self, request: pb.SetRolePermissionsRequest, context: Ctx
    ) -> pb.Role:
        refs = [PermissionRef(service=p.service, code=p.code) for p in request.permissions]
        role = await self._roles.set_permissions(
            await self.principal(context), request.tenant, request.role, refs, request.expected_etag
        )
        return role_pb(role)
