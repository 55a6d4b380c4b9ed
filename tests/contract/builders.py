"""Valid objects with unique names, stored through the bundle: what contract tests set up.

Each builder takes the unit of work's bundle (``tx``), inserts one object through its own
feature's store and returns it, so a test of one store can stand on the others.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from services.common.vocabulary import (
    DEFAULT_GRANT_TYPES,
    MembershipStatus,
    PlanStatus,
    UserStatus,
)
from services.registry.apps.models import App
from services.registry.catalog.models import CatalogEntry
from services.registry.clients.models import Client, ClientSecretRecord
from services.registry.groups.models import Group
from services.registry.kernel.models import DEFAULT_TENANT_SETTINGS, Settings, Tenant
from services.registry.memberships.models import Membership
from services.registry.plans.models import Plan
from services.registry.regions.models import Region, RegionDatabase
from services.registry.resource_servers.models import ResourceServer
from services.registry.roles.models import Role
from services.registry.scopes.models import Scope
from services.registry.users.models import User
from tests.contract.conftest import NOW, unique


def new_id() -> str:
    return str(uuid.uuid4())


async def tenant(tx: Any, **overrides: Any) -> Tenant:
    value = Tenant(
        id=new_id(),
        slug=unique("tn"),
        display_name=unique("Tenant"),
        app_limit=25,
        control_plane=False,
        settings=DEFAULT_TENANT_SETTINGS,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.tenants.insert(value)
    return value


async def region(tx: Any, *databases: tuple[str, bool], **overrides: Any) -> Region:
    value = Region(
        id=new_id(),
        code=unique("rg"),
        name=unique("Region"),
        active=True,
        databases=tuple(RegionDatabase(code, active) for code, active in databases)
        or (RegionDatabase(unique("db"), True),),
        version=1,
    )
    value = replace(value, **overrides)
    await tx.regions.insert(value, NOW)
    return value


async def plan(tx: Any, **overrides: Any) -> Plan:
    value = Plan(
        id=new_id(),
        code=unique("pl"),
        name=unique("Plan"),
        status=PlanStatus.ACTIVE,
        limits={"monthly-document-units": 1000},
        version=1,
    )
    value = replace(value, **overrides)
    await tx.plans.insert(value, NOW)
    return value


async def app(tx: Any, owner: Tenant, where: Region | None = None, **overrides: Any) -> App:
    """An app of ``owner`` (in region ``where``, or a system-like app without one)."""
    slug = overrides.pop("slug", unique("app"))
    value = App(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        slug=slug,
        display_name=unique("App"),
        description="",
        enabled=True,
        is_system=False,
        region_id=where.id if where else None,
        region_code=where.code if where else None,
        db_code=where.databases[0].db_code if where else None,
        plan_id=None,
        redirect_uris=(),
        post_logout_redirect_uris=(),
        allowed_domains=(),
        auto_grant_on_signup=False,
        service_codes=(slug,),
        grant_types=DEFAULT_GRANT_TYPES,
        storage=None,
        settings=Settings(),
        client_ids=(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.apps.insert(value)
    return value


async def client(tx: Any, owner: Tenant, *apps: App, **overrides: Any) -> Client:
    value = Client(
        id=new_id(),
        tenant_id=owner.id,
        client_id=unique("tc"),
        display_name=unique("Client"),
        confidential=True,
        enabled=True,
        grant_types=DEFAULT_GRANT_TYPES,
        app_ids=tuple(a.id for a in apps),
        version=1,
    )
    value = replace(value, **overrides)
    await tx.clients.insert(value, NOW)
    await tx.clients.set_apps(value.id, list(value.app_ids))
    return value


def secret(secret_hash: str = "hmac-sha256$v1$x", **overrides: Any) -> ClientSecretRecord:
    return replace(
        ClientSecretRecord(
            id=new_id(), secret_hash=secret_hash, created_at=NOW, expires_at=None, last_used_at=None
        ),
        **overrides,
    )


async def entries(tx: Any, owner: Tenant, service: str, *codes: str) -> list[CatalogEntry]:
    values = [
        CatalogEntry(
            id=new_id(),
            service_code=service,
            code=code,
            name=code,
            description="",
            created_at=NOW,
        )
        for code in codes
    ]
    await tx.catalog.insert(owner.id, values)
    return values


async def role(
    tx: Any, owner: Tenant, *permission_ids: str, app: App | None = None, **overrides: Any
) -> Role:
    value = Role(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        code=unique("role"),
        name=unique("Role"),
        description="",
        app_id=app.id if app else None,
        app_slug=app.slug if app else None,
        permissions=(),
        created_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.roles.insert(value)
    if permission_ids:
        await tx.roles.replace_permissions(value.id, list(permission_ids))
    return value


async def user(tx: Any, owner: Tenant, password_hash: str | None = None, **overrides: Any) -> User:
    value = User(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        email=f"{unique('u')}@example.com",
        email_verified=False,
        first_name=None,
        last_name=None,
        username=None,
        has_password=password_hash is not None,
        status=UserStatus.ACTIVE,
        token_version=1,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.users.insert(value, password_hash)
    return value


async def group(tx: Any, owner: Tenant, **overrides: Any) -> Group:
    value = Group(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        code=unique("grp"),
        name=unique("Group"),
        all_apps=True,
        apps=(),
        roles=(),
        created_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.groups.insert(value)
    return value


async def membership(tx: Any, member: User, target: App, **overrides: Any) -> Membership:
    value = Membership(
        user_id=member.id,
        user_email=member.email,
        app_id=target.id,
        app_slug=target.slug,
        status=MembershipStatus.ACTIVE,
        granted_at=NOW,
        granted_by="acme/tc_admin",
        revoked_at=None,
    )
    value = replace(value, **overrides)
    await tx.memberships.insert(value)
    return value


async def scope(tx: Any, owner: Tenant, app: App | None = None, **overrides: Any) -> Scope:
    value = Scope(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        name=unique("scope"),
        description="",
        app_id=app.id if app else None,
        app_slug=app.slug if app else None,
        created_at=NOW,
    )
    value = replace(value, **overrides)
    await tx.scopes.insert(value)
    return value


async def resource_server(
    tx: Any, owner: Tenant, app: App, *permission_ids: str, **overrides: Any
) -> ResourceServer:
    value = ResourceServer(
        id=new_id(),
        tenant_id=owner.id,
        tenant_slug=owner.slug,
        app_id=app.id,
        app_slug=app.slug,
        audience=f"https://{unique('api')}.example.com",
        name=unique("API"),
        created_at=NOW,
        whole_catalog=not permission_ids,
    )
    value = replace(value, **overrides)
    await tx.resource_servers.insert(value, list(permission_ids))
    return value
