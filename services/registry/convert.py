"""Protobuf ↔ domain translation for the registry servicer (no rules here)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from tessera.registry.v1 import registry_pb2 as pb

from services.common.errors import InvalidArgument
from services.registry.domain.clients import ClientView
from services.registry.domain.commands import StorageInput
from services.registry.domain.models import (
    App,
    AuditEvent,
    GrantContext,
    Plan,
    Region,
    Settings,
    Tenant,
)

_POSTURES = {
    pb.JIT_ON_OTP: "jit_on_otp",
    pb.OFF: "off",
    pb.EXPLICIT_ENDPOINT: "explicit_endpoint",
    pb.INVITE_CODE: "invite_code",
}
_REQUIREMENTS = {pb.FIELD_OFF: "off", pb.FIELD_OPTIONAL: "optional", pb.FIELD_REQUIRED: "required"}
_PROVIDERS = {
    pb.AWS_S3: "aws-s3",
    pb.TIGRIS: "tigris",
    pb.CLOUDFLARE_R2: "cloudflare-r2",
    pb.MINIO: "minio",
    pb.BACKBLAZE_B2: "backblaze-b2",
}
_PROVIDER_ENUM = {v: k for k, v in _PROVIDERS.items()}
_POSTURE_ENUM = {v: k for k, v in _POSTURES.items()}
_REQUIREMENT_ENUM = {v: k for k, v in _REQUIREMENTS.items()}


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


# Far beyond any real listing, far below any integer overflow in SQL.
MAX_PAGE_OFFSET = 10**9


def page_offset(token: str) -> int:
    """Decode an opaque page token (see encode_page_token); '' = first page."""
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded).decode().partition(":")
        if kind != "o" or not (value.isascii() and value.isdigit()):
            raise ValueError(kind)
        offset = int(value)
        if offset > MAX_PAGE_OFFSET:
            raise ValueError(value)
        return offset
    except ValueError as exc:
        raise InvalidArgument(
            "PAGE_TOKEN_INVALID", "page_token is not one this API returned; start again without it."
        ) from exc


def page_token(offset: int | None) -> str:
    if offset is None:
        return ""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def settings_patch(request: Any) -> dict[str, Any] | None:
    """A request's settings as a JSON Merge Patch (RFC 7396) over dotted keys: the values it
    sets, and None for each key in ``reset_settings``; None when it touches no setting."""
    if not request.HasField("settings") and not request.reset_settings:
        return None
    patch = settings_to_dict(request.settings) if request.HasField("settings") else {}
    patch.update(dict.fromkeys(request.reset_settings))
    return patch


def settings_to_dict(message: Any) -> dict[str, Any]:
    """AppSettings/TenantSettings → sparse dotted dict (unset fields are absent)."""
    out: dict[str, Any] = {}
    branding = message.branding
    for name in ("product_name", "primary_color", "logo_url"):
        if branding.HasField(name):
            out[f"branding.{name}"] = getattr(branding, name)
    if message.registration_posture:
        out["registration_posture"] = _POSTURES[message.registration_posture]
    for name in ("first_name", "last_name", "username"):
        value = getattr(message.registration_fields, name)
        if value:
            out[f"registration_fields.{name}"] = _REQUIREMENTS[value]
    lifetimes = message.token_lifetimes
    for name in ("access_token_seconds", "refresh_token_seconds", "id_token_seconds"):
        if lifetimes.HasField(name):
            out[f"token_lifetimes.{name}"] = getattr(lifetimes, name)
    return out


def fill_settings(message: Any, settings: Settings) -> None:
    for key, value in settings.values.items():
        group, _, name = key.partition(".")
        if key == "registration_posture":
            message.registration_posture = _POSTURE_ENUM[value]
        elif group == "registration_fields":
            setattr(message.registration_fields, name, _REQUIREMENT_ENUM[value])
        elif group == "branding":
            setattr(message.branding, name, value)
        elif group == "token_lifetimes":
            setattr(message.token_lifetimes, name, value)


def storage_input(message: pb.StorageConfigInput) -> StorageInput:
    return StorageInput(
        provider=_PROVIDERS.get(message.provider, ""),
        access_key=message.access_key,
        secret_key=message.secret_key,
        bucket=message.bucket,
        endpoint=message.endpoint if message.HasField("endpoint") else None,
        region=message.region if message.HasField("region") else None,
    )


def tenant_pb(tenant: Tenant) -> pb.Tenant:
    message = pb.Tenant(
        id=tenant.id,
        slug=tenant.slug,
        display_name=tenant.display_name,
        app_limit=tenant.app_limit,
        control_plane=tenant.control_plane,
        created_at=timestamp(tenant.created_at),
        updated_at=timestamp(tenant.updated_at),
        version=tenant.version,
    )
    fill_settings(message.settings, tenant.settings)
    return message


def region_pb(region: Region) -> pb.Region:
    return pb.Region(
        id=region.id,
        code=region.code,
        name=region.name,
        active=region.active,
        databases=[pb.RegionDatabase(db_code=d.db_code, active=d.active) for d in region.databases],
        version=region.version,
    )


def plan_pb(plan: Plan) -> pb.Plan:
    return pb.Plan(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        status=plan.status.value,
        limits=plan.limits,
        version=plan.version,
    )


def app_pb(app: App) -> pb.App:
    message = pb.App(
        id=app.id,
        tenant=app.tenant_slug,
        slug=app.slug,
        display_name=app.display_name,
        description=app.description,
        enabled=app.enabled,
        region_id=app.region_id or "",
        region_code=app.region_code or "",
        db_code=app.db_code or "",
        redirect_uris=list(app.redirect_uris),
        post_logout_redirect_uris=list(app.post_logout_redirect_uris),
        allowed_domains=list(app.allowed_domains),
        auto_grant_on_signup=app.auto_grant_on_signup,
        service_codes=list(app.service_codes),
        is_system=app.is_system,
        client_ids=list(app.client_ids),
        created_at=timestamp(app.created_at),
        updated_at=timestamp(app.updated_at),
        version=app.version,
        grant_types=list(app.grant_types),
    )
    if app.plan_id:
        message.plan_id = app.plan_id
    if app.storage is not None:
        view = pb.StorageConfigView(
            provider=_PROVIDER_ENUM[app.storage.provider],
            access_key_masked=app.storage.access_key_hint,
            bucket=app.storage.bucket,
        )
        if app.storage.endpoint:
            view.endpoint = app.storage.endpoint
        if app.storage.region:
            view.region = app.storage.region
        message.storage.CopyFrom(view)
    fill_settings(message.settings, app.settings)
    return message


def audit_pb(event: AuditEvent) -> pb.AuditEvent:
    return pb.AuditEvent(
        id=event.id,
        tenant=event.tenant_slug,
        actor_type=event.actor_type,
        actor_id=f"{event.actor_tenant}/{event.actor_id}",
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        occurred_at=timestamp(event.occurred_at),
        details_json=json.dumps(event.details, sort_keys=True),
    )


def client_pb(view: ClientView) -> pb.Client:
    client = view.client
    message = pb.Client(
        client_id=client.client_id,
        tenant=view.tenant,
        display_name=client.display_name,
        description=client.description,
        confidential=client.confidential,
        enabled=client.enabled,
        grant_types=list(client.grant_types),
        apps=list(view.apps),
        scopes=list(view.scopes),
        roles=list(view.roles),
        version=client.version,
    )
    for record in view.secrets:
        info = message.secrets.add(id=record.id, created_at=timestamp(record.created_at))
        if record.expires_at is not None:
            info.expires_at.CopyFrom(timestamp(record.expires_at))
        if record.last_used_at is not None:
            info.last_used_at.CopyFrom(timestamp(record.last_used_at))
    return message


def grant_pb(grant: GrantContext) -> pb.ClientGrantContext:
    return pb.ClientGrantContext(
        tenant=grant.tenant_slug,
        tenant_id=grant.tenant_id,
        client_id=grant.client_id,
        confidential=grant.confidential,
        app_id=grant.app_id,
        app_code=grant.app_code,
        region=grant.region,
        db_code=grant.db_code,
        roles=list(grant.roles),
        permissions=list(grant.permissions),
        has_plan=grant.plan_code is not None,
        plan_code=grant.plan_code or "",
        entitlements=grant.entitlements,
        access_token_seconds=grant.access_token_seconds,
        scopes=list(grant.scopes),
        audiences=list(grant.audiences),
    )


# grpc.aio.ServicerContext as the servicers see it; grpcio ships no type hints.
ServicerContext: TypeAlias = Any


def optional(message: Any, name: str) -> Any:
    """The value of a proto3 ``optional`` field, or None when the caller left it unset."""
    return getattr(message, name) if message.HasField(name) else None


def string_list(message: Any, name: str) -> tuple[str, ...] | None:
    """An optional ``StringList`` field: None = leave unchanged, () = set to empty."""
    return tuple(getattr(message, name).values) if message.HasField(name) else None
