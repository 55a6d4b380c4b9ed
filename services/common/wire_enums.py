"""The protobuf spelling of each vocabulary enumeration, mapped once for every service.

Proto enums start at an ``*_UNSPECIFIED`` zero ("not set", "inherit"); every other member
maps one-to-one onto a :mod:`services.common.vocabulary` value. A test checks both sides are
complete, so a new member cannot be added on one side only.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tessera.registry.v1 import registry_pb2 as pb

from services.common.vocabulary import FieldRequirement, Posture, StorageProvider

E = TypeVar("E", bound=StrEnum)


class WireEnum(Generic[E]):
    def __init__(self, vocabulary: type[E], wire: Mapping[E, int]) -> None:
        self.vocabulary = vocabulary
        self._to_wire = dict(wire)
        self._from_wire = {number: value for value, number in wire.items()}

    def to_wire(self, value: str) -> Any:
        """The proto number of a vocabulary value (ValueError for an unknown one). Typed Any:
        each generated enum has its own integer type."""
        return self._to_wire[self.vocabulary(value)]

    def from_wire(self, number: int) -> E | None:
        """The vocabulary value of a proto number; None for 0 (unspecified / inherit)."""
        return self._from_wire.get(number)


STORAGE_PROVIDERS = WireEnum(
    StorageProvider,
    {
        StorageProvider.AWS_S3: pb.AWS_S3,
        StorageProvider.TIGRIS: pb.TIGRIS,
        StorageProvider.CLOUDFLARE_R2: pb.CLOUDFLARE_R2,
        StorageProvider.MINIO: pb.MINIO,
        StorageProvider.BACKBLAZE_B2: pb.BACKBLAZE_B2,
    },
)
POSTURES = WireEnum(
    Posture,
    {
        Posture.JIT_ON_OTP: pb.JIT_ON_OTP,
        Posture.OFF: pb.OFF,
        Posture.EXPLICIT_ENDPOINT: pb.EXPLICIT_ENDPOINT,
        Posture.INVITE_CODE: pb.INVITE_CODE,
    },
)
FIELD_REQUIREMENTS = WireEnum(
    FieldRequirement,
    {
        FieldRequirement.OFF: pb.FIELD_OFF,
        FieldRequirement.OPTIONAL: pb.FIELD_OPTIONAL,
        FieldRequirement.REQUIRED: pb.FIELD_REQUIRED,
    },
)
