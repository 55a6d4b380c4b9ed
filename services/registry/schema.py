"""Registry tables. Schema-less: the engine's schema_translate_map places them (db.py)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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
    Column("homepage_url", String(2000), nullable=True),  # reg0002
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
    Column("description", String(500), nullable=False, server_default=""),
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
    Column("description", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    # Set when a reconcile wanted to prune the entry while roles still granted it: the grant
    # keeps working, the entry is reported, and it cannot be granted anew.
    Column("deprecated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "service_code", "code"),
    Index("ix_permissions_tenant_id_service_code", "tenant_id", "service_code"),
)

# One row per (tenant, service) that has registered a catalog: the lock that serialises
# concurrent reconciles from several replicas, and the catalog's revision counter.
permission_catalogs = Table(
    "permission_catalogs",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("service_code", String(63), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("app_id", String(36), ForeignKey("apps.id"), nullable=True),
    Column("code", String(63), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", String(500), nullable=False, server_default=""),
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

scopes = Table(
    "scopes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("app_id", String(36), ForeignKey("apps.id"), nullable=True),  # NULL = tenant-wide
    Column("name", String(100), nullable=False),
    Column("description", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "name"),
    Index("ix_scopes_app_id", "app_id"),
)

client_scopes = Table(
    "client_scopes",
    metadata,
    Column("client_pk", String(36), ForeignKey("clients.id"), primary_key=True),
    Column("scope_id", String(36), ForeignKey("scopes.id"), primary_key=True),
    Index("ix_client_scopes_scope_id", "scope_id"),
)

resource_servers = Table(
    "resource_servers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("app_id", String(36), ForeignKey("apps.id"), nullable=False),
    Column("audience", String(200), nullable=False),
    Column("name", String(100), nullable=False),
    # True = gates on the app's whole catalog; False = only on resource_server_permissions
    # (possibly none, after a forced prune: a prune must never widen what it gates on).
    Column("whole_catalog", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "audience"),
    Index("ix_resource_servers_app_id", "app_id"),
)

# The subset of the app's catalog a resource server gates on (Modgud "Provisioning the
# resource server"); no rows = the whole catalog.
resource_server_permissions = Table(
    "resource_server_permissions",
    metadata,
    Column("resource_server_id", String(36), ForeignKey("resource_servers.id"), primary_key=True),
    Column("permission_id", String(36), ForeignKey("permissions.id"), primary_key=True),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),  # case-folded, for uniqueness
    Column("email_verified", Boolean, nullable=False),
    Column("first_name", String(100), nullable=True),
    Column("last_name", String(100), nullable=True),
    Column("username", String(63), nullable=True),
    Column("password_hash", String(200), nullable=True),  # argon2id; NULL = passwordless
    Column("status", String(16), nullable=False),  # active | disabled
    # Bumped by membership revocation, disabling and "log out everywhere": tokens carrying
    # an older `tv` stop being accepted.
    Column("token_version", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    *_timestamps(),
    UniqueConstraint("tenant_id", "email_key"),
    # NULL usernames do not collide (both PostgreSQL and SQLite treat NULLs as distinct).
    UniqueConstraint("tenant_id", "username"),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id"), primary_key=True),
    Column("role_id", String(36), ForeignKey("roles.id"), primary_key=True),
    Index("ix_user_roles_role_id", "role_id"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("code", String(63), nullable=False),
    Column("name", String(100), nullable=False),
    Column("bound_to_all_apps", Boolean, nullable=False),  # BoundTo = ["*"]
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "code"),
)

group_apps = Table(
    "group_apps",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id"), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id"), primary_key=True),
    Index("ix_group_apps_app_id", "app_id"),
)

group_roles = Table(
    "group_roles",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id"), primary_key=True),
    Column("role_id", String(36), ForeignKey("roles.id"), primary_key=True),
    Index("ix_group_roles_role_id", "role_id"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), primary_key=True),
    Index("ix_group_members_user_id", "user_id"),
)

# user_apps (Vendidit seed): a user may enter an app only with an active membership.
memberships = Table(
    "memberships",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id"), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.id"), primary_key=True),
    Column("status", String(16), nullable=False),  # active | revoked
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("granted_by", String(120), nullable=False),  # actor, or "auto_grant_on_signup"
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_memberships_app_id", "app_id"),
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

# What a token may carry changed: one version per tenant (slug) and one for the platform ("*"),
# bumped with every such change (services.common.versions). reg0003.
snapshot_versions = Table(
    "snapshot_versions",
    metadata,
    Column("scope", String(63), primary_key=True),
    Column("version", BigInteger, nullable=False),
)
