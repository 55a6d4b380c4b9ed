"""License regions and their databases: platform-wide, managed by operators; tenant admins
read them to pick one for an app (TrueParser seed, "Choose A Region")."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from services.common.access import any_of, operator
from services.common.auth import Principal
from services.common.errors import AlreadyExists, FailedPrecondition, NotFound, ValidationErrors
from services.registry.apps.store import AppUsage
from services.registry.kernel.concurrency import changed_concurrently, check_version
from services.registry.kernel.models import PageOf
from services.registry.kernel.paging import page_request
from services.registry.kernel.ports import BaseTx
from services.registry.kernel.scope import UseCases, new_id
from services.registry.kernel.text import checked, validate_display_name
from services.registry.regions.models import Region, RegionDatabase, RegionDraft, RegionPatch
from services.registry.regions.rules import validate_db_code, validate_region_code
from services.registry.regions.store import RegionStore

# Tenant admins pick a region when they create an app, so app:read and app:write may read them.
READ = any_of("app:read", "app:write", operator_instead="region:read")
WRITE = operator("region:write")


class RegionsTx(BaseTx, Protocol):
    @property
    def regions(self) -> RegionStore: ...
    @property
    def apps(self) -> AppUsage: ...


def not_found(region: str) -> NotFound:
    return NotFound("REGION_NOT_FOUND", f"There is no license region {region!r}.")


class RegionUseCases(UseCases[RegionsTx]):
    async def create(self, principal: Principal, draft: RegionDraft) -> Region:
        """A region with its databases in the given order. Side effect: audit
        ``region.create``."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            code = validate_region_code(errors, draft.code)
            name = validate_display_name(errors, draft.name, field="name")
            seen: set[str] = set()
            for index, (db_code, _active) in enumerate(draft.databases):
                path = f"databases[{index}].db_code"
                valid = validate_db_code(errors, db_code, field=path)
                if valid in seen:
                    errors.add(path, "DB_CODE_DUPLICATE", f"{db_code!r} is listed twice.")
                if valid:
                    seen.add(valid)
            errors.raise_if_any()
            assert code is not None
            assert name is not None
            region = Region(
                id=new_id(),
                code=code,
                name=name,
                active=draft.active,
                databases=tuple(RegionDatabase(d.strip().lower(), a) for d, a in draft.databases),
                version=1,
            )
            await scope.tx.regions.insert(region, scope.now)
            await scope.audit("region.create", "region", code)
            return await self._stored(scope.tx, region.id)

    async def get(self, principal: Principal, region: str) -> Region:
        async with self.read(principal, READ) as scope:
            found = await scope.tx.regions.get(region)
        if found is None:
            raise not_found(region)
        return found

    async def search(
        self, principal: Principal, size: int, offset: int, active: bool | None
    ) -> PageOf[Region]:
        async with self.read(principal, READ) as scope:
            return await scope.tx.regions.search(page_request(size, offset), active)

    async def update(
        self, principal: Principal, region: str, patch: RegionPatch, expected_version: int
    ) -> Region:
        """Rename or (de)activate. Side effect: audit ``region.update``."""
        async with self.write(principal, WRITE) as scope:
            errors = ValidationErrors()
            name = (
                validate_display_name(errors, patch.name, field="name")
                if patch.name is not None
                else None
            )
            errors.raise_if_any()
            found = await self._found(scope.tx, region)
            check_version(found.version, expected_version, "region")
            updated = replace(
                found,
                name=name or found.name,
                active=found.active if patch.active is None else patch.active,
                version=found.version + 1,
            )
            if not await scope.tx.regions.update(updated, found.version, scope.now):
                raise changed_concurrently("region")
            await scope.audit("region.update", "region", found.code, {"active": updated.active})
            return await self._stored(scope.tx, found.id)

    async def add_database(
        self, principal: Principal, region: str, db_code: str, active: bool
    ) -> Region:
        """Append a database to the region's listing order. Side effect: audit
        ``region.database.add``."""
        async with self.write(principal, WRITE) as scope:
            code = checked(validate_db_code, db_code)
            found = await self._found(scope.tx, region)
            if any(d.db_code == code for d in found.databases):
                raise AlreadyExists(
                    "DB_CODE_TAKEN", f"Region {found.code!r} already has database {code!r}."
                )
            await scope.tx.regions.add_database(found.id, RegionDatabase(code, active), scope.now)
            await scope.audit(
                "region.database.add", "region", found.code, {"db_code": code, "active": active}
            )
            return await self._stored(scope.tx, found.id)

    async def set_database_active(
        self, principal: Principal, region: str, db_code: str, active: bool
    ) -> Region:
        """(De)activate one database; apps keep the db_code they were created with. Side
        effect: audit ``region.database.update``."""
        async with self.write(principal, WRITE) as scope:
            found = await self._found(scope.tx, region)
            if not await scope.tx.regions.set_database_active(found.id, db_code, active):
                raise NotFound(
                    "DB_CODE_NOT_FOUND", f"Region {found.code!r} has no database {db_code!r}."
                )
            await scope.audit(
                "region.database.update",
                "region",
                found.code,
                {"db_code": db_code, "active": active},
            )
            return await self._stored(scope.tx, found.id)

    async def delete(self, principal: Principal, region_ref: str, expected_version: int) -> None:
        """Delete a license region with its databases; refused while any app uses it (apps
        keep the region and db_code they were created in). Side effect: audit."""
        async with self.write(principal, WRITE) as scope:
            region = await self._found(scope.tx, region_ref)
            check_version(region.version, expected_version, "region")
            blockers = await scope.tx.apps.using(region_id=region.id)
            if blockers:
                raise FailedPrecondition(
                    "REGION_IN_USE",
                    f"Region {region.code!r} is used by {len(blockers)} app(s); deactivate it "
                    "instead, or delete those apps first.",
                    blockers=blockers,
                )
            await scope.tx.regions.delete(region.id)
            await scope.audit("region.delete", "region", region.code)

    @staticmethod
    async def _found(tx: RegionsTx, region: str) -> Region:
        found = await tx.regions.get(region)
        if found is None:
            raise not_found(region)
        return found

    @staticmethod
    async def _stored(tx: RegionsTx, region_id: str) -> Region:
        stored = await tx.regions.get(region_id)
        assert stored is not None
        return stored
