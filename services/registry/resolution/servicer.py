"""The token service's RPCs of RegistryService: client snapshots and secret bookkeeping, user
resolution, tenant existence and the CORS origin check."""

from __future__ import annotations

from datetime import UTC

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.resolution.models import ClientSnapshot, GrantContext
from services.registry.resolution.use_cases import ResolutionUseCases

Ctx = cv.ServicerContext


def grant_pb(grant: GrantContext) -> pb.ClientGrantContext:
    return pb.ClientGrantContext(
        tenant=grant.tenant_slug,
        tenant_id=grant.tenant_id,
        client_id=grant.client_id,
        confidential=grant.confidential,
        app_id=grant.app_id,
        app_code=grant.app_code,
        region=grant.region,
        db_code=grant.db_code,
        roles=list(grant.roles),
        permissions=list(grant.permissions),
        has_plan=grant.plan_code is not None,
        plan_code=grant.plan_code or "",
        entitlements=grant.entitlements,
        access_token_seconds=grant.access_token_seconds,
        scopes=list(grant.scopes),
        audiences=list(grant.audiences),
    )


def snapshot_pb(snapshot: ClientSnapshot) -> pb.ClientSnapshot:
    message = pb.ClientSnapshot(
        found=snapshot.found,
        tenant_version=snapshot.tenant_version,
        platform_version=snapshot.platform_version,
        tenant=snapshot.tenant,
        tenant_id=snapshot.tenant_id,
    )
    if not snapshot.found:
        return message
    client = message.client
    client.pk = snapshot.client_pk
    client.client_id = snapshot.client_id
    client.enabled = snapshot.enabled
    client.confidential = snapshot.confidential
    client.grant_types.extend(snapshot.grant_types)
    for secret in snapshot.secrets:
        entry = client.secrets.add(id=secret.id, hash=secret.hash)
        entry.created_at.CopyFrom(cv.timestamp(secret.created_at))
        if secret.expires_at is not None:
            entry.expires_at.CopyFrom(cv.timestamp(secret.expires_at))
        if secret.last_used_at is not None:
            entry.last_used_at.CopyFrom(cv.timestamp(secret.last_used_at))
    for app in snapshot.apps:
        message.apps.add(
            id=app.id,
            slug=app.slug,
            enabled=app.enabled,
            region=app.region,
            db_code=app.db_code,
            has_plan=app.plan_code is not None or app.plan_retired,
            plan_code=app.plan_code or "",
            plan_retired=app.plan_retired,
            entitlements=app.entitlements,
            service_codes=list(app.service_codes),
            access_token_seconds=app.access_token_seconds,
            audiences=list(app.audiences),
            roles=list(app.roles),
            permissions=list(app.permissions),
        )
    for name, app_id in snapshot.scopes:
        message.scopes.add(name=name, app_id=app_id or "")
    return message


class ResolutionServicer(Servicer):
    def __init__(self, auth: Authenticator, resolution: ResolutionUseCases) -> None:
        super().__init__(auth)
        self._resolution = resolution

    async def GetClientSnapshot(
        self, request: pb.GetClientSnapshotRequest, context: Ctx
    ) -> pb.ClientSnapshot:
        snapshot = await self._resolution.client_snapshot(
            await self.principal(context),
            request.tenant,
            request.client_id,
            restore_board=request.restore_board,
        )
        return snapshot_pb(snapshot)

    async def RecordSecretUse(
        self, request: pb.RecordSecretUseRequest, context: Ctx
    ) -> pb.RecordSecretUseResponse:
        await self._resolution.record_secret_use(
            await self.principal(context),
            request.secret_id,
            request.used_at.ToDatetime(tzinfo=UTC),
            request.rehash,
        )
        return pb.RecordSecretUseResponse()

    async def ResolveUser(
        self, request: pb.ResolveUserRequest, context: Ctx
    ) -> pb.UserGrantContext:
        grant = await self._resolution.resolve_user(
            await self.principal(context),
            request.tenant,
            request.app,
            request.user_id,
            request.client_id,
        )
        return pb.UserGrantContext(
            app=grant_pb(grant.app),
            user_id=grant.user_id,
            email=grant.email,
            first_name=grant.first_name or "",
            last_name=grant.last_name or "",
            token_version=grant.token_version,
        )

    async def TenantExists(
        self, request: pb.TenantExistsRequest, context: Ctx
    ) -> pb.TenantExistsResponse:
        exists = await self._resolution.tenant_exists(await self.principal(context), request.tenant)
        return pb.TenantExistsResponse(exists=exists)

    async def CheckOrigin(
        self, request: pb.CheckOriginRequest, context: Ctx
    ) -> pb.CheckOriginResponse:
        # No caller identity: the answer is what CORS headers tell that origin anyway.
        allowed = await self._resolution.origin_allowed(request.tenant, request.origin)
        return pb.CheckOriginResponse(allowed=allowed)
