"""The region RPCs of RegistryService: translate, call one use case, translate back."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.regions.models import Region, RegionDraft, RegionPatch
from services.registry.regions.use_cases import RegionUseCases

Ctx = cv.ServicerContext


def region_pb(region: Region) -> pb.Region:
    return pb.Region(
        id=region.id,
        code=region.code,
        name=region.name,
        active=region.active,
        databases=[pb.RegionDatabase(db_code=d.db_code, active=d.active) for d in region.databases],
        version=region.version,
    )


class RegionServicer(Servicer):
    def __init__(self, auth: Authenticator, regions: RegionUseCases) -> None:
        super().__init__(auth)
        self._regions = regions

    async def CreateRegion(self, request: pb.CreateRegionRequest, context: Ctx) -> pb.Region:
        draft = RegionDraft(
            code=request.code,
            name=request.name,
            active=request.active,
            databases=tuple((d.db_code, d.active) for d in request.databases),
        )
        return region_pb(await self._regions.create(await self.principal(context), draft))

    async def GetRegion(self, request: pb.GetRegionRequest, context: Ctx) -> pb.Region:
        return region_pb(await self._regions.get(await self.principal(context), request.region))

    async def ListRegions(
        self, request: pb.ListRegionsRequest, context: Ctx
    ) -> pb.ListRegionsResponse:
        page = await self._regions.search(
            await self.principal(context),
            *cv.page_args(request),
            cv.optional(request, "active"),
        )
        return pb.ListRegionsResponse(
            regions=[region_pb(r) for r in page.items],
            **cv.listing(page),
        )

    async def UpdateRegion(self, request: pb.UpdateRegionRequest, context: Ctx) -> pb.Region:
        patch = RegionPatch(
            name=cv.optional(request, "name"), active=cv.optional(request, "active")
        )
        return region_pb(
            await self._regions.update(
                await self.principal(context), request.region, patch, request.expected_version
            )
        )

    async def AddRegionDatabase(
        self, request: pb.AddRegionDatabaseRequest, context: Ctx
    ) -> pb.Region:
        return region_pb(
            await self._regions.add_database(
                await self.principal(context), request.region, request.db_code, request.active
            )
        )

    async def SetRegionDatabaseActive(
        self, request: pb.SetRegionDatabaseActiveRequest, context: Ctx
    ) -> pb.Region:
        return region_pb(
            await self._regions.set_database_active(
                await self.principal(context), request.region, request.db_code, request.active
            )
        )

    async def DeleteRegion(
        self, request: pb.DeleteRegionRequest, context: Ctx
    ) -> pb.DeleteRegionResponse:
        await self._regions.delete(
            await self.principal(context), request.region, request.expected_version
        )
        return pb.DeleteRegionResponse()
