"""An app as a row of the ``apps`` table (services.registry.schema), both ways: the one
mapping the SQL and the in-memory store share, so a new app column is mapped here once."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from services.registry.apps.models import App, StorageConfig
from services.registry.kernel.models import Settings
from services.registry.kernel.sql import utc
from services.registry.kernel.text import display_name_key

ALLOWED_DOMAIN_COLUMNS = ("allowed_domain_1", "allowed_domain_2", "allowed_domain_3")


def app_columns(app: App) -> dict[str, Any]:
    """The columns an update writes: all but id, tenant, slug, is_system and created_at."""
    domains = dict(
        zip(ALLOWED_DOMAIN_COLUMNS, [*app.allowed_domains, None, None, None], strict=False)
    )
    storage = app.storage
    return {
        "display_name": app.display_name,
        "display_name_key": display_name_key(app.display_name),
        "description": app.description,
        "enabled": app.enabled,
        "region_id": app.region_id,
        "db_code": app.db_code,
        "plan_id": app.plan_id,
        "redirect_uris": list(app.redirect_uris),
        "post_logout_redirect_uris": list(app.post_logout_redirect_uris),
        **domains,
        "auto_grant_on_signup": app.auto_grant_on_signup,
        "service_codes": list(app.service_codes),
        "grant_types": list(app.grant_types),
        "storage": None
        if storage is None
        else {
            "provider": storage.provider,
            "access_key_ciphertext": storage.access_key_ciphertext,
            "secret_key_ciphertext": storage.secret_key_ciphertext,
            "access_key_hint": storage.access_key_hint,
            "bucket": storage.bucket,
            "endpoint": storage.endpoint,
            "region": storage.region,
        },
        "settings": copy.deepcopy(app.settings.values),
        "version": app.version,
        "updated_at": app.updated_at,
        "homepage_url": app.homepage_url,
    }


def insert_columns(app: App) -> dict[str, Any]:
    """Every column of a new app's row."""
    return {
        "id": app.id,
        "tenant_id": app.tenant_id,
        "slug": app.slug,
        "is_system": app.is_system,
        "created_at": app.created_at,
        **app_columns(app),
    }


def app_from_row(
    row: Mapping[Any, Any],
    *,
    tenant_slug: str,
    region_code: str | None,
    client_ids: tuple[str, ...],
) -> App:
    """The app of an ``apps`` row, with what the stores join in."""
    storage = row["storage"]
    return App(
        id=row["id"],
        tenant_id=row["tenant_id"],
        tenant_slug=tenant_slug,
        slug=row["slug"],
        display_name=row["display_name"],
        description=row["description"],
        enabled=row["enabled"],
        is_system=row["is_system"],
        region_id=row["region_id"],
        region_code=region_code,
        db_code=row["db_code"],
        plan_id=row["plan_id"],
        redirect_uris=tuple(row["redirect_uris"]),
        post_logout_redirect_uris=tuple(row["post_logout_redirect_uris"]),
        allowed_domains=tuple(d for d in (row[c] for c in ALLOWED_DOMAIN_COLUMNS) if d),
        auto_grant_on_signup=row["auto_grant_on_signup"],
        service_codes=tuple(row["service_codes"]),
        grant_types=tuple(row["grant_types"]),
        storage=StorageConfig(**storage) if storage else None,
        settings=Settings(copy.deepcopy(dict(row["settings"]))),
        client_ids=client_ids,
        version=row["version"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        homepage_url=row["homepage_url"],
    )
