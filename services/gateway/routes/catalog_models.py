"""Request bodies of the catalog REST API: permission registration, scopes, resource servers.

Shape checks only; the registry applies the domain rules and reports every bad field at once
(paths such as ``entries[3].code``). Unknown fields are refused so that typos are not ignored.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PermissionBody(_Body):
    """One catalog entry. The Vendidit seed's ``resource``/``action`` are accepted; when sent
    they must agree with ``code`` (or make it, when ``code`` is left out)."""

    code: str = Field("", examples=["listings:create"])
    name: str = Field("", description="Default: the code.", examples=["Create listing"])
    description: str = ""
    renamed_from: str | None = Field(
        None,
        description="Rename this existing entry in place: same id, so role grants survive.",
        examples=["listing:create"],
    )
    resource: str | None = Field(None, examples=["listings"])
    action: str | None = Field(None, examples=["create"])


class RegisterPermissions(_Body):
    """A service's whole catalog: declared entries are upserted, the rest pruned."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "service": "marketplace-v2",
                    "permissions": [
                        {
                            "code": "listings:create",
                            "name": "Create listing",
                            "resource": "listings",
                            "action": "create",
                        },
                        {"code": "bids:place", "name": "Place bid"},
                    ],
                }
            ]
        },
    )

    service: str = Field(examples=["marketplace-v2"])
    permissions: list[PermissionBody] = Field(
        validation_alias=AliasChoices("permissions", "entries"),
        description="Required; [] deliberately removes the whole catalog. Alias: entries "
        "(validation errors name entries[i]).",
    )
    dry_run: bool = Field(False, description="Compute and return the report; write nothing.")
    force: bool = Field(
        False, description="Prune entries that roles still grant, removing those grants."
    )


class ScopeCreate(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "invite:write",
                    "description": "Mint invite codes for the app",
                    "app": "marketplace-v2",
                }
            ]
        },
    )

    name: str = Field(examples=["invite:write"], description="[a-z][a-z0-9_.:-]{0,99}")
    description: str = ""
    app: str | None = Field(
        None, description="App id or slug to bind the scope to; absent = tenant-wide."
    )


class ResourceServerCreate(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "app": "marketplace-v2",
                    "audience": "https://api.marketplace.example.com",
                    "name": "Marketplace API",
                    "permissions": ["listings:create", "bids:place"],
                }
            ]
        },
    )

    app: str = Field(examples=["marketplace-v2"], description="App id or slug.")
    audience: str = Field(
        examples=["https://api.marketplace.example.com", "marketplace-api"],
        description="An absolute URI or a slug-like identifier, unique per tenant.",
    )
    name: str = Field(examples=["Marketplace API"])
    permissions: list[str] = Field(
        default_factory=list,
        description="Codes from the app's catalog this API gates on; [] = the whole catalog.",
    )


class ResourceServerUpdate(_Body):
    name: str | None = None
    permissions: list[str] | None = Field(
        None, description="Replaces the subset; [] = the whole catalog; absent = unchanged."
    )
