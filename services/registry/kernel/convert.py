"""Protobuf helpers every feature's servicer shares (no rules here): timestamps, optional
fields, page tokens and settings."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import InvalidArgument
from services.common.wire_enums import FIELD_REQUIREMENTS, POSTURES, WireEnum
from services.registry.kernel.models import PageOf, Settings

# grpc.aio.ServicerContext as the servicers see it; grpcio ships no type hints.
ServicerContext: TypeAlias = Any

# Far beyond any real listing, far below any integer overflow in SQL.
MAX_PAGE_OFFSET = 10**9


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def optional(message: Any, name: str) -> Any:
    """The value of a proto3 ``optional`` field, or None when the caller left it unset."""
    return getattr(message, name) if message.HasField(name) else None


def string_list(message: Any, name: str) -> tuple[str, ...] | None:
    """An optional ``StringList`` field: None = leave unchanged, () = set to empty."""
    return tuple(getattr(message, name).values) if message.HasField(name) else None


def page_offset(token: str) -> int:
    """Decode an opaque page token (see :func:`page_token`); '' = first page."""
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


def page_args(request: Any) -> tuple[int, int]:
    """(page size, offset) of a list request's ``page``; the use case checks the size."""
    return request.page.page_size, page_offset(request.page.page_token)


def listing(page: PageOf[Any]) -> dict[str, Any]:
    """The paging fields of a list response (next_page_token, total)."""
    return {"next_page_token": page_token(page.next_offset), "total": page.total}


def _from_wire(enum: WireEnum[Any], number: int) -> str | None:
    """The vocabulary value of a proto enum number; None for 0 (not set). A number this build
    does not know (a newer client) becomes a value the settings rules refuse with the
    setting's own reason, rather than being dropped."""
    if number == 0:
        return None
    value = enum.from_wire(number)
    return f"unknown enum number {number}" if value is None else str(value.value)


def settings_to_dict(message: Any) -> dict[str, Any]:
    """AppSettings/TenantSettings → sparse dotted dict (unset fields are absent)."""
    out: dict[str, Any] = {}
    branding = message.branding
    for name in ("product_name", "primary_color", "logo_url"):
        if branding.HasField(name):
            out[f"branding.{name}"] = getattr(branding, name)
    posture = _from_wire(POSTURES, message.registration_posture)
    if posture is not None:
        out["registration_posture"] = posture
    for name in ("first_name", "last_name", "username"):
        key = f"registration_fields.{name}"
        requirement = _from_wire(FIELD_REQUIREMENTS, getattr(message.registration_fields, name))
        if requirement is not None:
            out[key] = requirement
    lifetimes = message.token_lifetimes
    for name in ("access_token_seconds", "refresh_token_seconds", "id_token_seconds"):
        if lifetimes.HasField(name):
            out[f"token_lifetimes.{name}"] = getattr(lifetimes, name)
    return out


def settings_patch(request: Any) -> dict[str, Any] | None:
    """A request's settings as a JSON Merge Patch (RFC 7396) over dotted keys: the values it
    sets, and None for each key in ``reset_settings``; None when it touches no setting."""
    if not request.HasField("settings") and not request.reset_settings:
        return None
    patch = settings_to_dict(request.settings) if request.HasField("settings") else {}
    patch.update(dict.fromkeys(request.reset_settings))
    return patch


def fill_settings(message: Any, settings: Settings) -> None:
    for key, value in settings.values.items():
        group, _, name = key.partition(".")
        if key == "registration_posture":
            message.registration_posture = POSTURES.to_wire(value)
        elif group == "registration_fields":
            setattr(message.registration_fields, name, FIELD_REQUIREMENTS.to_wire(value))
        elif group == "branding":
            setattr(message.branding, name, value)
        elif group == "token_lifetimes":
            setattr(message.token_lifetimes, name, value)
