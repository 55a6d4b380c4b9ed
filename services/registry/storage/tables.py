"""Registry tables. Schema-less: the engine's schema_translate_map places them (db.py)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    ]


tenants = Table(
    "tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("app_limit", Integer, nullable=False),
    Column("control_plane", Boolean, nullable=False, default=False),
    Column("settings", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
)

regions = Table(
    "regions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(63), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
)

region_databases = Table(
    "region_databases",
    metadata,
    Column("region_id", String(36), ForeignKey("regions.id"), primary_key=True),
    Column("db_code", String(63), primary_key=True),
    # Listing order: an app created without a db_code gets the first active one.
    Column("position", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(63), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("limits", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
)

apps = Table(
    "apps",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("slug", String(63), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("display_name_key", String(100), nullable=False),
    Column("description", String(500), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("is_system", Boolean, nullable=False),
    # System apps have no region; every other app is tied to one at creation (seed).
    Column("region_id", String(36), ForeignKey("regions.id"), nullable=True),
    Column("db_code", String(63), nullable=True),
    Column("plan_id", String(36), ForeignKey("plans.id"), nullable=True),
    Column("redirect_uris", JSON, nullable=False),
    Column("post_logout_redirect_uris", JSON, nullable=False),
    Column("allowed_domain_1", String(260), nullable=True),
    Column("allowed_domain_2", String(260), nullable=True),
    Column("allowed_domain_3", String(260), nullable=True),
    Column("auto_grant_on_signup", Boolean, nullable=False),
    Column("service_codes", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    # Storage config with the secret key as an envelope ciphertext; NULL = managed storage.
    Column("storage", JSON, nullable=True),
    Column("settings", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
    UniqueConstraint("tenant_id", "slug"),
    UniqueConstraint("tenant_id", "display_name_key"),
)

clients = Table(
    "clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("client_id", String(80), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("confidential", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
)

client_apps = Table(
    "client_apps",
    metadata,
    Column("client_pk", String(36), ForeignKey("clients.id"), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id"), primary_key=True),
    Index("ix_client_apps_app_id", "app_id"),
)

client_secrets = Table(
    "client_secrets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_pk", String(36), ForeignKey("clients.id"), nullable=False, index=True),
    # Keyed hash only ("hmac-sha256$<pepper version>$<digest>"); the plaintext is shown once.
    Column("secret_hash", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # NULL = valid until replaced; set = grace period end after a regeneration.
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

permissions = Table(
    "permissions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("service_code", String(63), nullable=False),
    Column("code", String(130), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "service_code", "code"),
)

roles = Table(
    "roles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("app_id", String(36), ForeignKey("apps.id"), nullable=True),
    Column("code", String(63), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "code"),
    Index("ix_roles_app_id", "app_id"),
)

role_permissions = Table(
    "role_permissions",
    metadata,
    Column("role_id", String(36), ForeignKey("roles.id"), primary_key=True),
    Column("permission_id", String(36), ForeignKey("permissions.id"), primary_key=True),
    Index("ix_role_permissions_permission_id", "permission_id"),
)

client_roles = Table(
    "client_roles",
    metadata,
    Column("client_pk", String(36), ForeignKey("clients.id"), primary_key=True),
    Column("role_id", String(36), ForeignKey("roles.id"), primary_key=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=True),
    Column("actor_type", String(16), nullable=False),
    Column("actor_id", String(120), nullable=False),
    Column("actor_tenant", String(63), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(120), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_events_tenant_id_occurred_at", "tenant_id", "occurred_at"),
)
