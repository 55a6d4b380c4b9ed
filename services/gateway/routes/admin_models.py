"""Request bodies of the admin REST API (OpenAPI schemas with examples).

Shape checks only (types, required fields); the registry applies the domain rules and
reports every bad field at once. Unknown fields are refused so that typos are not ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from services.common.vocabulary import FieldRequirement, PlanStatus, Posture, StorageProvider

# Integers are bounded by the wire type they travel in (ints beyond it would overflow the
# protobuf field); the registry then applies each field's own rule and names the field.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Branding(_Body):
    product_name: str | None = None
    primary_color: str | None = Field(None, examples=["#1a73e8"])
    logo_url: str | None = None


class RegistrationFields(_Body):
    first_name: FieldRequirement | None = None
    last_name: FieldRequirement | None = None
    username: FieldRequirement | None = None


class TokenLifetimes(_Body):
    access_token_seconds: Int32 | None = None
    refresh_token_seconds: Int32 | None = None
    id_token_seconds: Int32 | None = None


class SettingsBody(_Body):
    """Tenant settings, or an app's sparse overrides of them (absent = inherit). A change is a
    JSON Merge Patch (RFC 7396): a value replaces that one setting, null resets it (an app
    inherits the tenant's value again, a tenant gets the platform default), absent stays."""

    branding: Branding | None = None
    registration_posture: Posture | None = None
    registration_fields: RegistrationFields | None = None
    token_lifetimes: TokenLifetimes | None = None


def settings_nulls(body: SettingsBody | None) -> list[str]:
    """The dotted setting keys an explicit ``null`` resets in a merge patch: a null group
    resets each of its settings, ``"settings": null`` every setting."""

    def keys(model: type[BaseModel], prefix: str) -> list[str]:
        return [f"{prefix}{name}" for name in model.model_fields]

    if body is None:
        groups: list[str] = []
        for name, info in SettingsBody.model_fields.items():
            group = _group_model(info.annotation)
            groups += keys(group, f"{name}.") if group else [name]
        return groups
    nulls: list[str] = []
    for name in body.model_fields_set:
        value = getattr(body, name)
        group = _group_model(SettingsBody.model_fields[name].annotation)
        if group is None:
            if value is None:
                nulls.append(name)
        elif value is None:
            nulls += keys(group, f"{name}.")
        else:
            nulls += [f"{name}.{f}" for f in value.model_fields_set if getattr(value, f) is None]
    return sorted(nulls)


def _group_model(annotation: Any) -> type[BaseModel] | None:
    """The nested model of a ``Group | None`` field, None for a scalar setting."""
    for member in get_args(annotation) or (annotation,):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


class TenantCreate(_Body):
    slug: str = Field(examples=["acme"])
    display_name: str = Field(examples=["Acme Corp"])
    app_limit: Int32 | None = Field(None, description="Default from TESSERA_DEFAULT_APP_LIMIT.")
    settings: SettingsBody | None = None


class TenantUpdate(_Body):
    display_name: str | None = None
    app_limit: Int32 | None = None
    settings: SettingsBody | None = None


class RegionDatabaseBody(_Body):
    db_code: str = Field(examples=["eu-west-db1"])
    active: bool = True


class RegionCreate(_Body):
    code: str = Field(examples=["eu-west"])
    name: str = Field(examples=["EU West"])
    active: bool = True
    databases: list[RegionDatabaseBody] = Field(default_factory=list)


class RegionUpdate(_Body):
    name: str | None = None
    active: bool | None = None


class RegionDatabaseUpdate(_Body):
    active: bool


class PlanCreate(_Body):
    code: str = Field(examples=["starter"])
    name: str = Field(examples=["Starter"])
    limits: dict[str, Int64] = Field(
        default_factory=dict,
        examples=[{"monthly-document-units": 5000}],
        description="Limits in Document Units.",
    )


class PlanUpdate(_Body):
    name: str | None = None
    status: PlanStatus | None = None
    limits: dict[str, Int64] | None = None


class StorageBody(_Body):
    provider: StorageProvider
    access_key: str
    secret_key: str = Field(description="Encrypted at rest; never returned.")
    bucket: str
    endpoint: str | None = None
    region: str | None = None


def one_name_each(data: Any, pairs: tuple[tuple[str, str], ...]) -> Any:
    """Refuse a body that names one field twice, by its name and by its alias."""
    if isinstance(data, dict):
        for name, alias in pairs:
            if name in data and alias in data:
                raise ValueError(
                    f"{name!r} and {alias!r} are the same field (one is the other's alias); "
                    "send only one of them"
                )
    return data


class AppCreate(_Body):
    """Accepts the Vendidit seed's names too (code, name, allowed_redirect_urls, status)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _one_name_each(cls, data: Any) -> Any:
        return one_name_each(
            data,
            (
                ("slug", "code"),
                ("display_name", "name"),
                ("redirect_uris", "allowed_redirect_urls"),
            ),
        )

    slug: str = Field(validation_alias=AliasChoices("slug", "code"), examples=["marketplace-v2"])
    display_name: str = Field(
        validation_alias=AliasChoices("display_name", "name"), examples=["Marketplace v2"]
    )
    description: str = ""
    region: str = Field(examples=["eu-west"], description="License region id or code.")
    db_code: str = Field("", description="Default: the region's first active database.")
    redirect_uris: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("redirect_uris", "allowed_redirect_urls"),
        examples=[["https://marketplace-v2.example.com/auth/callback"]],
    )
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(
        default_factory=list, examples=[["https://app.example.com/"]]
    )
    auto_grant_on_signup: bool = False
    service_codes: list[str] = Field(default_factory=list, description="Default: [slug].")
    plan: str | None = Field(None, description="Plan id or code; none = no entitlements claim.")
    storage: StorageBody | None = None
    settings: SettingsBody | None = None
    status: Literal["active", "disabled"] = "active"
    grant_types: list[str] = Field(
        default_factory=list, description="Default: [client_credentials]."
    )
    homepage_url: str | None = Field(
        None,
        examples=["https://marketplace.example.com/"],
        description="The app's public home page (OpenID Connect's client_uri); null = none.",
    )


class AppUpdate(_Body):
    """Accepts ``code`` as the seed's name for ``slug``. Sending the slug is allowed only
    unchanged (clients that PATCH back the whole object); any other value is SLUG_IMMUTABLE."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _one_name_each(cls, data: Any) -> Any:
        return one_name_each(data, (("slug", "code"),))

    slug: str | None = Field(
        None,
        validation_alias=AliasChoices("slug", "code"),
        description="Immutable: accepted only unchanged (SLUG_IMMUTABLE otherwise).",
    )
    display_name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    redirect_uris: list[str] | None = None
    post_logout_redirect_uris: list[str] | None = None
    allowed_domains: list[str] | None = None
    auto_grant_on_signup: bool | None = None
    service_codes: list[str] | None = None
    plan: str | None = Field(None, description="Plan id or code; null removes the plan.")
    storage: StorageBody | None = Field(None, description="null removes it (managed storage).")
    settings: SettingsBody | None = None
    grant_types: list[str] | None = None
    homepage_url: str | None = Field(None, description="null removes it.")


class AppClone(_Body):
    slug: str
    display_name: str
    description: str | None = None
    region: str = ""
    db_code: str = ""


class SecretRegeneration(_Body):
    grace_period_seconds: Int32 = Field(0, description="0 = the old secret stops working now.")


class ClientCreate(_Body):
    display_name: str = Field(examples=["Billing backend"])
    description: str = ""
    confidential: bool = Field(True, description="false = public client (no secret, PKCE).")
    apps: list[str] = Field(
        examples=[["billing"]], description="Slugs or ids of the apps it serves."
    )
    grant_types: list[str] = Field(default_factory=list, examples=[["client_credentials"]])
    scopes: list[str] = Field(default_factory=list, examples=[["invite:write"]])
    roles: list[str] = Field(default_factory=list, description="Role codes (machine permissions).")


class ClientUpdate(_Body):
    display_name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    apps: list[str] | None = None
    grant_types: list[str] | None = None
    scopes: list[str] | None = None
    roles: list[str] | None = None
