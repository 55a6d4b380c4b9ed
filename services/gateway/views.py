"""Protobuf messages → the JSON shapes of the REST API (and back for settings)."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from tessera.registry.v1 import registry_pb2 as pb

from services.common.wire_enums import FIELD_REQUIREMENTS, POSTURES, STORAGE_PROVIDERS


def _plain(message: Any) -> dict[str, Any]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def settings_view(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    branding = {
        n: getattr(message.branding, n)
        for n in ("product_name", "primary_color", "logo_url")
        if message.branding.HasField(n)
    }
    if branding:
        out["branding"] = branding
    posture = POSTURES.from_wire(message.registration_posture)
    if posture is not None:
        out["registration_posture"] = posture.value
    fields = {
        n: requirement.value
        for n in ("first_name", "last_name", "username")
        if (requirement := FIELD_REQUIREMENTS.from_wire(getattr(message.registration_fields, n)))
    }
    if fields:
        out["registration_fields"] = fields
    lifetimes = {
        n: getattr(message.token_lifetimes, n)
        for n in ("access_token_seconds", "refresh_token_seconds", "id_token_seconds")
        if message.token_lifetimes.HasField(n)
    }
    if lifetimes:
        out["token_lifetimes"] = lifetimes
    return out


def settings_message(target: Any, value: dict[str, Any]) -> None:
    """Fill an AppSettings/TenantSettings message from the REST shape (validated upstream)."""
    for name, item in (value.get("branding") or {}).items():
        if item is not None:
            setattr(target.branding, name, item)
    posture = value.get("registration_posture")
    if posture is not None:
        target.registration_posture = POSTURES.to_wire(posture)
    for name, item in (value.get("registration_fields") or {}).items():
        if item is not None:
            setattr(target.registration_fields, name, FIELD_REQUIREMENTS.to_wire(item))
    for name, item in (value.get("token_lifetimes") or {}).items():
        if item is not None:
            setattr(target.token_lifetimes, name, item)


def tenant_view(message: pb.Tenant) -> dict[str, Any]:
    out = _plain(message)
    out["settings"] = settings_view(message.settings)
    out["app_limit"] = message.app_limit
    out["version"] = message.version
    return out


def region_view(message: pb.Region) -> dict[str, Any]:
    out = _plain(message)
    out["version"] = message.version
    return out


def plan_view(message: pb.Plan) -> dict[str, Any]:
    return {
        "id": message.id,
        "code": message.code,
        "name": message.name,
        "status": message.status,
        "limits": dict(message.limits),
        "version": message.version,
    }


def app_view(message: pb.App) -> dict[str, Any]:
    out = _plain(message)
    out["version"] = message.version
    out["settings"] = settings_view(message.settings)
    out["plan_id"] = message.plan_id if message.HasField("plan_id") else None
    out["homepage_url"] = message.homepage_url if message.HasField("homepage_url") else None
    if message.HasField("storage"):
        storage = message.storage
        out["storage"] = {
            "provider": provider.value
            if (provider := STORAGE_PROVIDERS.from_wire(storage.provider))
            else "",
            "access_key": storage.access_key_masked,
            "secret_key": "********",
            "bucket": storage.bucket,
            "endpoint": storage.endpoint if storage.HasField("endpoint") else None,
            "region": storage.region if storage.HasField("region") else None,
            "managed": False,
        }
    else:
        out["storage"] = {"managed": True}
    return out


def credentials_view(message: pb.ClientCredentials) -> dict[str, Any]:
    out: dict[str, Any] = {"client_id": message.client_id, "client_secret": message.client_secret}
    if message.HasField("previous_secret_expires_at"):
        out["previous_secret_expires_at"] = message.previous_secret_expires_at.ToJsonString()
    return out


def audit_view(message: pb.AuditEvent) -> dict[str, Any]:
    import json

    out = _plain(message)
    out.pop("details_json", None)
    out["details"] = json.loads(message.details_json or "{}")
    return out


def client_view(message: pb.Client) -> dict[str, Any]:
    out = _plain(message)
    out["version"] = message.version
    out["secrets"] = [
        {
            "id": secret.id,
            "created_at": secret.created_at.ToJsonString(),
            "expires_at": secret.expires_at.ToJsonString()
            if secret.HasField("expires_at")
            else None,
            "last_used_at": secret.last_used_at.ToJsonString()
            if secret.HasField("last_used_at")
            else None,
        }
        for secret in message.secrets
    ]
    return out
