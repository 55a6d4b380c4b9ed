"""Request bodies and response examples of the directory REST API (users, roles, groups,
memberships).

Shape checks only (types, required fields, unknown fields refused); the registry applies the
domain rules and reports every bad field at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- users ----------------------------------------------------------------------------------


class UserCreate(_Body):
    email: str = Field(
        examples=["ann@example.com"],
        description="Trimmed; unique per tenant, case-insensitively.",
    )
    first_name: str | None = Field(None, examples=["Ann"])
    last_name: str | None = Field(None, examples=["Lee"])
    username: str | None = Field(
        None, examples=["ann.lee"], description="3-63 of a-z 0-9 . _ -; unique per tenant."
    )
    password: str | None = Field(
        None,
        examples=["correct horse battery staple"],
        description="12-256 characters, not the email. Omit for a passwordless user. "
        "Stored as an argon2id hash; never returned.",
    )
    email_verified: bool = False


class UserUpdate(_Body):
    """Absent fields stay unchanged; ``null`` clears a name or the username."""

    email: str | None = Field(
        None, examples=["ann.lee@example.com"], description="Resets email_verified."
    )
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    email_verified: bool | None = None


class PasswordBody(_Body):
    password: str = Field(
        examples=["correct horse battery staple"],
        description="12-256 characters, not the email; stored as an argon2id hash.",
    )


# -- roles ----------------------------------------------------------------------------------


class RoleCreate(_Body):
    code: str = Field(examples=["billing-admin"], description="[a-z][a-z0-9-]{1,62}; immutable.")
    name: str = Field(examples=["Billing administrator"])
    description: str = ""
    app: str | None = Field(
        None,
        examples=["marketplace-v2"],
        description="App id or slug: binds the role to that app. Omit for a tenant-wide role.",
    )


class RoleUpdate(_Body):
    name: str | None = None
    description: str | None = None


class PermissionRefBody(_Body):
    service: str = Field(examples=["billing"], description="The catalog's service code.")
    code: str = Field(examples=["invoice:read"])


class RolePermissions(_Body):
    permissions: list[PermissionRefBody] = Field(
        description="The complete new set.",
        examples=[[{"service": "billing", "code": "invoice:read"}]],
    )


# -- groups ---------------------------------------------------------------------------------


class GroupCreate(_Body):
    code: str = Field(examples=["support-team"], description="[a-z][a-z0-9-]{1,62}; immutable.")
    name: str = Field(examples=["Support team"])
    bound_to: list[str] = Field(
        default_factory=list,
        examples=[["marketplace-v2"], ["*"]],
        description="App ids or slugs the group is active in, or ['*'] for every app.",
    )


class GroupUpdate(_Body):
    name: str | None = None
    bound_to: list[str] | None = Field(None, description="Replaces the binding.")


class GroupRoles(_Body):
    roles: list[str] = Field(
        description="Role ids or codes: the complete new set.", examples=[["billing-admin"]]
    )


# -- response examples (OpenAPI) ------------------------------------------------------------

USER_EXAMPLE: dict[str, Any] = {
    "id": "7d0b3c1e-5f0e-4a57-9b1c-2f3e4d5c6b7a",
    "tenant": "acme",
    "email": "ann@example.com",
    "email_verified": False,
    "first_name": "Ann",
    "last_name": "Lee",
    "username": "ann.lee",
    "has_password": True,
    "status": "active",
    "token_version": 1,
    "version": 1,
    "roles": ["billing-admin"],
    "groups": ["support-team"],
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:00:00Z",
}
ROLE_EXAMPLE: dict[str, Any] = {
    "id": "3f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "tenant": "acme",
    "code": "billing-admin",
    "name": "Billing administrator",
    "description": "",
    "app_id": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "app_slug": "marketplace-v2",
    "system": False,
    "permissions": [{"service": "marketplace-v2", "code": "invoice:read", "deprecated": False}],
    "etag": "5c1f0b7e9a2d4c6e8f10",
    "created_at": "2025-01-01T12:00:00Z",
}
GROUP_EXAMPLE: dict[str, Any] = {
    "id": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",
    "tenant": "acme",
    "code": "support-team",
    "name": "Support team",
    "bound_to": ["*"],
    "roles": ["billing-admin"],
    "etag": "a41c9e0d2b7f13c58e6d",
    "created_at": "2025-01-01T12:00:00Z",
}
MEMBERSHIP_EXAMPLE: dict[str, Any] = {
    "user_id": "7d0b3c1e-5f0e-4a57-9b1c-2f3e4d5c6b7a",
    "user_email": "ann@example.com",
    "app_id": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    "app_slug": "marketplace-v2",
    "status": "active",
    "granted_at": "2025-01-01T12:00:00Z",
    "granted_by": "acme/tc_abcdefghijklmnopqrstuvwxyz",
    "revoked_at": None,
}


def example(body: dict[str, Any], status: int = 200, *, page: bool = False) -> dict[int | str, Any]:
    """An OpenAPI ``responses`` entry showing ``body`` (or a page of it)."""
    shown: dict[str, Any] = {"items": [body], "next_page_token": None, "total": 1} if page else body
    return {status: {"content": {"application/json": {"example": shown}}}}
