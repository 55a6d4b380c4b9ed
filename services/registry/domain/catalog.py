"""The platform's own permission catalogs and system apps (Modgud seed, "The system apps").

Every tenant gets the system app ``tessera`` whose catalog gates the admin API. The
control-plane tenant also gets ``control-plane``, owning the platform-wide permissions.
"""

from __future__ import annotations

from services.common import auth

SYSTEM_APP = auth.SYSTEM_APP
CONTROL_PLANE_APP = "control-plane"

TESSERA_PERMISSIONS: dict[str, str] = {
    "app:read": "Read apps",
    "app:write": "Create, change and delete apps",
    "client:read": "Read clients",
    "client:write": "Create clients and regenerate their secrets",
    "audit:read": "Read the audit log",
    "role:read": "Read roles",
    "role:write": "Manage roles",
    "user:read": "Read users",
    "user:write": "Manage users and memberships",
    "permission:write": "Register permission catalogs",
    "invite-code:read": "Read invite codes",
    "invite-code:write": "Mint and revoke invite codes",
}

CONTROL_PLANE_PERMISSIONS: dict[str, str] = {
    "tenant:read": "Read tenants",
    "tenant:write": "Create and change tenants",
    "region:read": "Read license regions",
    "region:write": "Manage license regions and region databases",
    "plan:read": "Read plans",
    "plan:write": "Manage plans",
}

# Core permissions (Vendidit seed §4): the platform's own slice, in every user token of
# every app, whatever its service_codes.
CORE_SERVICE = "core"
CORE_PERMISSIONS: dict[str, str] = {
    "users:read_self": "Read one's own profile",
    "users:update_self": "Update one's own profile",
}
RESERVED_SERVICES = (SYSTEM_APP, CONTROL_PLANE_APP, CORE_SERVICE)

PLATFORM_ADMIN_ROLE = "platform-admin"
TENANT_ADMIN_ROLE = "tenant-admin"

GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token", "password")
DEFAULT_GRANT_TYPES = ("client_credentials",)
