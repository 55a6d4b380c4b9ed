"""The user RPCs of DirectoryService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tessera.registry.v1 import directory_pb2 as pb

from services.common.auth import Authenticator, Principal
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.users.models import User, UserDraft, UserPatch
from services.registry.users.use_cases import UserUseCases

Ctx = cv.ServicerContext
UserAction = Callable[[Principal, str, str, int], Awaitable[User]]


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


class UserServicer(Servicer):
    def __init__(self, auth: Authenticator, users: UserUseCases) -> None:
        super().__init__(auth)
        self._users = users

    async def CreateUser(self, request: pb.CreateUserRequest, context: Ctx) -> pb.User:
        draft = UserDraft(
            email=request.email,
            first_name=cv.optional(request, "first_name"),
            last_name=cv.optional(request, "last_name"),
            username=cv.optional(request, "username"),
            password=cv.optional(request, "password"),
            email_verified=request.email_verified,
        )
        return user_pb(
            await self._users.create(await self.principal(context), request.tenant, draft)
        )

    async def GetUser(self, request: pb.GetUserRequest, context: Ctx) -> pb.User:
        principal = await self.principal(context)
        return user_pb(await self._users.get(principal, request.tenant, request.user))

    async def ListUsers(self, request: pb.ListUsersRequest, context: Ctx) -> pb.ListUsersResponse:
        page = await self._users.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            request.query,
            request.status,
        )
        return pb.ListUsersResponse(
            users=[user_pb(u) for u in page.items],
            **cv.listing(page),
        )

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: Ctx) -> pb.User:
        patch = UserPatch(
            email=cv.optional(request, "email"),
            first_name=cv.optional(request, "first_name"),
            last_name=cv.optional(request, "last_name"),
            username=cv.optional(request, "username"),
            email_verified=cv.optional(request, "email_verified"),
        )
        user = await self._users.update(
            await self.principal(context),
            request.tenant,
            request.user,
            patch,
            request.expected_version,
        )
        return user_pb(user)

    async def SetUserPassword(self, request: pb.SetUserPasswordRequest, context: Ctx) -> pb.User:
        user = await self._users.set_password(
            await self.principal(context),
            request.tenant,
            request.user,
            request.password,
            request.expected_version,
        )
        return user_pb(user)

    async def ClearUserPassword(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        return user_pb(await self._on_user(self._users.clear_password, request, context))

    async def DisableUser(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        return user_pb(await self._on_user(self._users.disable, request, context))

    async def EnableUser(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        return user_pb(await self._on_user(self._users.enable, request, context))

    async def LogoutEverywhere(self, request: pb.UserRequest, context: Ctx) -> pb.User:
        return user_pb(await self._on_user(self._users.logout_everywhere, request, context))

    async def DeleteUser(self, request: pb.UserRequest, context: Ctx) -> pb.DeleteUserResponse:
        await self._users.delete(
            await self.principal(context), request.tenant, request.user, request.expected_version
        )
        return pb.DeleteUserResponse()

    async def AssignUserRole(self, request: pb.UserRoleRequest, context: Ctx) -> pb.User:
        principal = await self.principal(context)
        return user_pb(
            await self._users.assign_role(principal, request.tenant, request.user, request.role)
        )

    async def UnassignUserRole(self, request: pb.UserRoleRequest, context: Ctx) -> pb.User:
        principal = await self.principal(context)
        return user_pb(
            await self._users.unassign_role(principal, request.tenant, request.user, request.role)
        )

    async def _on_user(self, action: UserAction, request: pb.UserRequest, context: Ctx) -> User:
        """The RPCs that name one user and its expected version, and nothing else."""
        principal = await self.principal(context)
        return await action(principal, request.tenant, request.user, request.expected_version)
