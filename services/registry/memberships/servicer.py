"""The membership RPCs of DirectoryService, AdmitUser (the token service's login check)
among them."""

from __future__ import annotations

from tessera.registry.v1 import directory_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.models import PageOf
from services.registry.kernel.servicer import Servicer
from services.registry.memberships.models import Membership
from services.registry.memberships.use_cases import MembershipUseCases

Ctx = cv.ServicerContext


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


def memberships_pb(page: PageOf[Membership]) -> pb.ListMembershipsResponse:
    return pb.ListMembershipsResponse(
        memberships=[membership_pb(m) for m in page.items],
        **cv.listing(page),
    )


class MembershipServicer(Servicer):
    def __init__(self, auth: Authenticator, memberships: MembershipUseCases) -> None:
        super().__init__(auth)
        self._memberships = memberships

    async def GrantMembership(
        self, request: pb.MembershipRequest, context: Ctx
    ) -> pb.GrantMembershipResponse:
        membership, created = await self._memberships.grant(
            await self.principal(context), request.tenant, request.user, request.app
        )
        return pb.GrantMembershipResponse(membership=membership_pb(membership), created=created)

    async def RevokeMembership(self, request: pb.MembershipRequest, context: Ctx) -> pb.Membership:
        membership = await self._memberships.revoke(
            await self.principal(context), request.tenant, request.user, request.app
        )
        return membership_pb(membership)

    async def ListUserMemberships(
        self, request: pb.ListUserMembershipsRequest, context: Ctx
    ) -> pb.ListMembershipsResponse:
        page = await self._memberships.of_user(
            await self.principal(context),
            request.tenant,
            request.user,
            *cv.page_args(request),
            request.status,
        )
        return memberships_pb(page)

    async def ListAppMembers(
        self, request: pb.ListAppMembersRequest, context: Ctx
    ) -> pb.ListMembershipsResponse:
        page = await self._memberships.of_app(
            await self.principal(context),
            request.tenant,
            request.app,
            *cv.page_args(request),
            request.status,
        )
        return memberships_pb(page)

    async def AdmitUser(self, request: pb.AdmitUserRequest, context: Ctx) -> pb.AdmitUserResponse:
        admission = await self._memberships.admit(
            await self.principal(context), request.tenant, request.user_id, request.app
        )
        return pb.AdmitUserResponse(
            membership=membership_pb(admission.membership),
            token_version=admission.token_version,
            created=admission.created,
        )
