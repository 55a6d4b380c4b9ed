"""Protobuf → domain translation keeps what it cannot name visible to the rules."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.errors import ValidationErrors
from services.registry.kernel import convert as cv
from services.registry.kernel.settings import validate_settings


def test_an_enum_number_this_build_does_not_know_is_refused_not_dropped() -> None:
    message = pb.AppSettings(registration_posture=99)
    message.registration_fields.username = 7
    errors = ValidationErrors()
    validate_settings(errors, cv.settings_to_dict(message))
    assert {(v.field, v.reason) for v in errors.violations} == {
        ("settings.registration_posture", "POSTURE_INVALID"),
        ("settings.registration_fields.username", "FIELD_REQUIREMENT_INVALID"),
    }


def test_unset_enums_are_absent() -> None:
    assert cv.settings_to_dict(pb.AppSettings()) == {}
