"""Tessera's vocabulary: the enumerations, names and grammars the whole platform shares.

Defined once here and imported everywhere else — the registry's rules and stores, the gateway's
request models, the token service — so that a new storage provider, posture or grant type is
one edit. Their protobuf spellings are mapped once too, in :mod:`services.common.wire_enums`.
"""

from __future__ import annotations

import re
from enum import StrEnum

from tessera_sdk.verifier import TENANT_SLUG


class StorageProvider(StrEnum):
    """S3-compatible storage an app may bring (TrueParser seed, "Optional Storage")."""

    AWS_S3 = "aws-s3"
    TIGRIS = "tigris"
    CLOUDFLARE_R2 = "cloudflare-r2"
    MINIO = "minio"
    BACKBLAZE_B2 = "backblaze-b2"


class Posture(StrEnum):
    """Registration posture (Modgud seed, "Self-registration posture")."""

    JIT_ON_OTP = "jit_on_otp"
    OFF = "off"
    EXPLICIT_ENDPOINT = "explicit_endpoint"
    INVITE_CODE = "invite_code"


class FieldRequirement(StrEnum):
    """Whether sign-up asks for an identity field (Modgud seed, "Registration fields")."""

    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class PlanStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class GrantType(StrEnum):
    """OAuth 2.0 grants a client may be allowed (RFC 6749 §4, plus password login)."""

    CLIENT_CREDENTIALS = "client_credentials"
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    PASSWORD = "password"


GRANT_TYPES: tuple[str, ...] = tuple(g.value for g in GrantType)
DEFAULT_GRANT_TYPES: tuple[str, ...] = (GrantType.CLIENT_CREDENTIALS.value,)
# The grants the token endpoint implements today (discovery's grant_types_supported).
SUPPORTED_GRANT_TYPES: tuple[str, ...] = (GrantType.CLIENT_CREDENTIALS.value,)
# The audience of the platform services' own tokens; no resource server may claim it.
SERVICE_TOKEN_AUDIENCE = "tessera-internal"
# A public client has no secret: only the grants that do without one (PKCE at authorize).
PUBLIC_CLIENT_GRANTS: tuple[str, ...] = (
    GrantType.AUTHORIZATION_CODE.value,
    GrantType.REFRESH_TOKEN.value,
)


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


# -- the platform's own tenants, apps, catalogs and roles (Modgud seed, "The system apps") ---

CONTROL_PLANE_TENANT = "control-plane"
SYSTEM_APP = "tessera"
CONTROL_PLANE_APP = "control-plane"
CORE_SERVICE = "core"
# Group binding to every app of the tenant (Modgud seed, Group.BoundTo).
ALL_APPS = "*"

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
    "key:read": "Read the tenant's signing keys",
    "key:write": "Rotate the tenant's signing keys",
}

CONTROL_PLANE_PERMISSIONS: dict[str, str] = {
    "tenant:read": "Read tenants",
    "tenant:write": "Create and change tenants",
    "region:read": "Read license regions",
    "region:write": "Manage license regions and region databases",
    "plan:read": "Read plans",
    "plan:write": "Manage plans",
}

# Core permissions (Vendidit seed §4): the platform's own slice, in every user token of every
# app, whatever its service_codes.
CORE_PERMISSIONS: dict[str, str] = {
    "users:read_self": "Read one's own profile",
    "users:update_self": "Update one's own profile",
}

# Catalogs the platform seeds itself; no API call may change or consume them.
RESERVED_SERVICES: tuple[str, ...] = (SYSTEM_APP, CONTROL_PLANE_APP, CORE_SERVICE)
# Catalogs whose permissions administer Tessera (what "no escalation" compares).
ADMIN_SERVICES = frozenset({SYSTEM_APP, CONTROL_PLANE_APP})

PLATFORM_ADMIN_ROLE = "platform-admin"
TENANT_ADMIN_ROLE = "tenant-admin"
SYSTEM_ROLES = (PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE)

# -- grammars --------------------------------------------------------------------------------

#: Tenant slugs as issuers carry them (``{PUBLIC_URL}/t/{tenant}``); the SDK owns the public
#: grammar, the registry adds its stricter rules on creation (no double hyphen, reserved).
TENANT_SLUG_PATTERN = TENANT_SLUG
#: Codes of regions, region databases, plans, roles and groups.
CODE_PATTERN = re.compile(r"[a-z][a-z0-9-]{1,62}")
#: Service codes and both halves of a permission code: kebab-case.
KEBAB_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: ``<resource>:<action>`` (Modgud seed: kebab-case both sides).
PERMISSION_CODE_PATTERN = re.compile(rf"{KEBAB_PATTERN.pattern}:{KEBAB_PATTERN.pattern}")
#: App and tenant slugs: 3 to 63 characters (the registry reports which rule a slug breaks).
SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 63
