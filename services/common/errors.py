"""Typed domain errors with stable reasons.

Every failure a caller can act on is a :class:`DomainError` subclass carrying a stable,
machine-readable ``reason`` (SCREAMING_SNAKE, never reworded once shipped), a human message
that says what was wrong and how to fix it, and optional structured details. Each boundary
translates these exactly once: ``services.common.grpc_errors`` (domain → gRPC status with
google.rpc details) and ``services.gateway.problems`` (gRPC → HTTP problem+json / OAuth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ErrorKind(Enum):
    """What kind of failure this is; decides the gRPC status code (one table, in grpc_errors)."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    STALE_VERSION = "stale_version"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid input field: ``field`` is a dotted path (``allowed_domains[1]``)."""

    field: str
    reason: str
    message: str


class DomainError(Exception):
    """Base of every expected failure. Subclasses fix ``kind``."""

    kind: ErrorKind = ErrorKind.FAILED_PRECONDITION

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        metadata: dict[str, str] | None = None,
        violations: list[FieldViolation] | None = None,
        blockers: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])
        self.blockers = list(blockers or [])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.message!r})"


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION


class StaleVersion(DomainError):
    """An optimistic-concurrency check failed: the caller's version is not the stored one."""

    kind = ErrorKind.STALE_VERSION


class PermissionDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED


class ResourceExhausted(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE


@dataclass
class ValidationErrors:
    """Collects field violations so one response reports every bad field at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, reason: str, message: str) -> None:
        self.violations.append(FieldViolation(field_path, reason, message))

    def extend(self, violations: list[FieldViolation]) -> None:
        self.violations.extend(violations)

    def raise_if_any(self, message: str = "The request has invalid fields.") -> None:
        """Raise one InvalidArgument (reason VALIDATION_FAILED) listing every violation."""
        if self.violations:
            raise InvalidArgument("VALIDATION_FAILED", message, violations=self.violations)
