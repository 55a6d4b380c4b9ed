"""Plans: platform-wide, managed by operators; an app on a plan carries its limits as the
``entitlements`` claim, and a retired plan blocks token issuance (TrueParser seed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from services.common.access import any_of, operator
from services.common.auth import Principal
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, ValidationErrors
from services.common.vocabulary import PlanStatus
from services.registry.apps.store import AppUsage
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.models import PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import validate_display_name
from services.registry.plans.models import Plan, PlanDraft, PlanPatch
from services.registry.plans.rules import validate_limits, validate_plan_code
from services.registry.plans.store import PlanStore

# Tenant admins see the plans (an app shows its plan); only operators assign or change them.
READ = any_of("app:read", operator_instead="plan:read")
WRITE = operator("plan:write")
_STATUSES = {s.value for s in PlanStatus}


class PlansTx(BaseTx, Protocol):
    @property
    def plans(self) -> PlanStore: ...
    @property
    def apps(self) -> AppUsage: ...


def not_found(plan: str) -> NotFound:
    return NotFound("PLAN_NOT_FOUND", f"There is no plan {plan!r}.")


class PlanUseCases(UseCases[PlansTx]):
    async def create(self, principal: Principal, draft: PlanDraft) -> Plan:
        """An active plan. Side effect: audit ``plan.create``."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            code = validate_plan_code(errors, draft.code)
            name = validate_display_name(errors, draft.name, field="name")
            limits = validate_limits(errors, draft.limits)
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            plan = Plan(
                id=new_id(),
                code=code,
                name=name,
                status=PlanStatus.ACTIVE,
                limits=limits,
                version=1,
            )
            await scope.tx.plans.insert(plan, scope.now)
            await scope.audit("plan.create", "plan", code, {"limits": limits})
        return plan

    async def get(self, principal: Principal, plan: str) -> Plan:
        async with self.read(principal, READ) as scope:
            found = await scope.tx.plans.get(plan)
        if found is None:
            raise not_found(plan)
        return found

    async def search(
        self, principal: Principal, size: int, offset: int, status: str
    ) -> PageOf[Plan]:
        async with self.read(principal, READ) as scope:
            if status and status not in _STATUSES:
                raise InvalidArgument(
                    "PLAN_STATUS_INVALID", "status must be 'active' or 'retired'."
                )
            return await scope.tx.plans.search(page_request(size, offset), status or None)

    async def update(
        self, principal: Principal, plan: str, patch: PlanPatch, expected_version: int
    ) -> Plan:
        """Rename, retire/reactivate or re-limit a plan. Retiring blocks token issuance for
        every app on the plan (TrueParser seed), from the next token request on. Side effects:
        audit ``plan.update``; change published (every tenant: plans are platform-wide)."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            name = (
                validate_display_name(errors, patch.name, field="name")
                if patch.name is not None
                else None
            )
            if patch.status is not None and patch.status not in _STATUSES:
                errors.add("status", "PLAN_STATUS_INVALID", "status must be 'active' or 'retired'.")
            limits = validate_limits(errors, patch.limits) if patch.limits is not None else None
            errors.raise_if_any()
            found = await self._found(scope.tx, plan)
            check_version(found.version, expected_version, "plan")
            updated = replace(
                found,
                name=name or found.name,
                status=PlanStatus(patch.status) if patch.status else found.status,
                limits=limits if limits is not None else found.limits,
                version=found.version + 1,
            )
            if not await scope.tx.plans.update(updated, found.version, scope.now):
                raise changed_concurrently("plan")
            await scope.audit("plan.update", "plan", found.code, {"status": updated.status.value})
            scope.publish("plan", found.id, tenant_slug="*")
        return updated

    async def delete(self, principal: Principal, plan_ref: str, expected_version: int) -> None:
        """Delete a plan no app is on; refused with the apps as blockers otherwise (retire
        it instead). Side effect: audit ``plan.delete``."""
        async with self.write(principal, WRITE) as scope:
            plan = await self._found(scope.tx, plan_ref)
            check_version(plan.version, expected_version, "plan")
            blockers = await scope.tx.apps.using(plan_id=plan.id)
            if blockers:
                raise FailedPrecondition(
                    "PLAN_IN_USE",
                    f"Plan {plan.code!r} is assigned to {len(blockers)} app(s); retire it "
                    "instead, or move those apps to another plan first.",
                    blockers=blockers,
                )
            await scope.tx.plans.delete(plan.id)
            await scope.audit("plan.delete", "plan", plan.code)

    @staticmethod
    async def _found(tx: PlansTx, plan: str) -> Plan:
        found = await tx.plans.get(plan)
        if found is None:
            raise not_found(plan)
        return found
