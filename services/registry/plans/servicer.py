"""The plan RPCs of RegistryService: translate, call one use case, translate back."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer
from services.registry.plans.models import Plan, PlanDraft, PlanPatch
from services.registry.plans.use_cases import PlanUseCases

Ctx = cv.ServicerContext


def plan_pb(plan: Plan) -> pb.Plan:
    return pb.Plan(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        status=plan.status.value,
        limits=plan.limits,
        version=plan.version,
    )


class PlanServicer(Servicer):
    def __init__(self, auth: Authenticator, plans: PlanUseCases) -> None:
        super().__init__(auth)
        self._plans = plans

    async def CreatePlan(self, request: pb.CreatePlanRequest, context: Ctx) -> pb.Plan:
        draft = PlanDraft(code=request.code, name=request.name, limits=dict(request.limits))
        return plan_pb(await self._plans.create(await self.principal(context), draft))

    async def GetPlan(self, request: pb.GetPlanRequest, context: Ctx) -> pb.Plan:
        return plan_pb(await self._plans.get(await self.principal(context), request.plan))

    async def ListPlans(self, request: pb.ListPlansRequest, context: Ctx) -> pb.ListPlansResponse:
        page = await self._plans.search(
            await self.principal(context),
            *cv.page_args(request),
            request.status,
        )
        return pb.ListPlansResponse(
            plans=[plan_pb(p) for p in page.items],
            **cv.listing(page),
        )

    async def UpdatePlan(self, request: pb.UpdatePlanRequest, context: Ctx) -> pb.Plan:
        patch = PlanPatch(
            name=cv.optional(request, "name"),
            status=cv.optional(request, "status"),
            limits=dict(request.limits) if request.replace_limits else None,
        )
        return plan_pb(
            await self._plans.update(
                await self.principal(context), request.plan, patch, request.expected_version
            )
        )

    async def DeletePlan(
        self, request: pb.DeletePlanRequest, context: Ctx
    ) -> pb.DeletePlanResponse:
        await self._plans.delete(
            await self.principal(context), request.plan, request.expected_version
        )
        return pb.DeletePlanResponse()
