"""A client's snapshot from its facts: per app, the roles and permissions its tokens for that
app carry and the app's token lifetime (ARCHITECTURE §3). Pure: the facts come from one
constant-cost read (services.registry.resolution.store.ResolutionStore.client_facts)."""

from __future__ import annotations

from services.registry.kernel.models import Settings, Tenant
from services.registry.resolution.models import AppFacts, ClientFacts, ClientSnapshot, SnapshotApp

LIFETIME_SETTING = "token_lifetimes.access_token_seconds"


def _app(facts: ClientFacts, app: AppFacts, tenant: Tenant, default_lifetime: int) -> SnapshotApp:
    """A client's roles in an app are its tenant-wide roles and the roles bound to that app;
    their permissions count within the app's service codes only (Modgud seed, "Roles with
    AppId")."""
    roles = [r for r in facts.roles if r.app_id in (None, app.id)]
    services = set(app.service_codes)
    permissions = sorted(
        {code for r in roles for service, code in r.permissions if service in services}
    )
    lifetime = Settings(app.settings).merged_over(tenant.settings).values.get(LIFETIME_SETTING)
    return SnapshotApp(
        id=app.id,
        slug=app.slug,
        enabled=app.enabled,
        region=app.region,
        db_code=app.db_code,
        plan_code=app.plan_code,
        plan_retired=app.plan_retired,
        entitlements=dict(app.entitlements),
        service_codes=app.service_codes,
        access_token_seconds=int(lifetime if lifetime is not None else default_lifetime),
        audiences=app.audiences,
        roles=tuple(sorted(r.code for r in roles)),
        permissions=tuple(permissions),
    )


def assemble_snapshot(
    facts: ClientFacts,
    tenant: Tenant,
    tenant_version: int,
    platform_version: int,
    default_lifetime: int,
) -> ClientSnapshot:
    return ClientSnapshot(
        tenant_version=tenant_version,
        platform_version=platform_version,
        tenant=tenant.slug,
        tenant_id=tenant.id,
        client_pk=facts.client_pk,
        client_id=facts.client_id,
        enabled=facts.enabled,
        confidential=facts.confidential,
        grant_types=facts.grant_types,
        secrets=facts.secrets,
        apps=tuple(_app(facts, app, tenant, default_lifetime) for app in facts.apps),
        scopes=facts.scopes,
        found=True,
    )
