"""Issue 3: CRUD of the platform-wide resources (regions, plans) and the OpenAPI contract."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Api, tenant_admin

pytestmark = pytest.mark.integration


async def test_regions_are_read_updated_and_deleted_only_when_unused(
    admin: Api, world: dict[str, Any]
) -> None:
    region = await admin.region()
    path = f"/api/v1/regions/{region['code']}"
    renamed = await admin.patch(
        path, {"name": "Renamed"}, headers={"If-Match": f'"{region["version"]}"'}
    )
    assert renamed.json()["name"] == "Renamed"
    added = await admin.post(f"{path}/databases", {"db_code": "spare-db", "active": False})
    assert [d["db_code"] for d in added.json()["databases"]][-1] == "spare-db"
    app = await admin.app(world["tenant"]["slug"], region["code"])
    in_use = await admin.delete(path)
    assert in_use.status_code == 409
    assert in_use.json()["reason"] == "REGION_IN_USE"
    assert in_use.json()["blockers"] == [f"app:{world['tenant']['slug']}/{app['slug']}"]
    unused = await admin.region()
    assert (await admin.delete(f"/api/v1/regions/{unused['code']}")).status_code == 204
    assert (await admin.get(f"/api/v1/regions/{unused['code']}")).status_code == 404


async def test_plans_are_retired_while_used_and_deleted_once_unused(
    admin: Api, world: dict[str, Any]
) -> None:
    plan = await admin.plan({"monthly-document-units": 100})
    app = await admin.app(world["tenant"]["slug"], world["region"]["code"], plan=plan["code"])
    in_use = await admin.delete(f"/api/v1/plans/{plan['code']}")
    assert in_use.status_code == 409
    assert in_use.json()["reason"] == "PLAN_IN_USE"
    relimited = await admin.patch(
        f"/api/v1/plans/{plan['code']}", {"limits": {"monthly-document-units": 200}}
    )
    assert relimited.json()["limits"] == {"monthly-document-units": 200}
    bad = await admin.patch(f"/api/v1/plans/{plan['code']}", {"limits": {"Bad Name": -1}})
    assert bad.status_code == 400
    await admin.patch(f"/api/v1/tenants/{world['tenant']['slug']}/apps/{app['id']}", {"plan": None})
    assert (await admin.delete(f"/api/v1/plans/{plan['code']}")).status_code == 204


async def test_tenant_admins_cannot_delete_platform_resources(
    admin: Api, world: dict[str, Any]
) -> None:
    own = await tenant_admin(admin.http, world["tenant"])
    plan = await admin.plan()
    for path in (f"/api/v1/regions/{world['region']['code']}", f"/api/v1/plans/{plan['code']}"):
        response = await own.delete(path)
        assert response.status_code == 403
        assert response.json()["reason"] == "OPERATOR_ONLY"


async def test_the_openapi_document_describes_every_endpoint(http: httpx.AsyncClient) -> None:
    from services.gateway.routes import admin, catalog, directory, oauth

    spec = (await http.get("/openapi.json")).json()
    routes = {
        (route.path, method.lower())
        for router in (admin.router, catalog.router, directory.router, oauth.router)
        for route in router.routes
        for method in getattr(route, "methods", set())
    }
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes <= documented
    for path, method in routes:
        operation = spec["paths"][path][method]
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
    assert len(routes) > 70
