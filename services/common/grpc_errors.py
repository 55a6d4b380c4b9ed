"""Domain errors ↔ gRPC statuses with google.rpc rich details.

Server side: :class:`ErrorInterceptor` turns a :class:`DomainError` into a status whose
``grpc-status-details-bin`` trailer carries ErrorInfo (reason, domain, metadata), BadRequest
(field violations) and PreconditionFailure (blockers). Any other exception is masked as
INTERNAL with a reference id that is also logged with the traceback (nothing internal leaks).

Client side: :func:`remote_error` decodes the same trailer into a :class:`RemoteError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.common.dependency_failures import is_dependency_failure
from services.common.errors import DomainError, ErrorKind, FieldViolation, Unavailable

ERROR_DOMAIN = "tessera.dev"
_DETAILS_KEY = "grpc-status-details-bin"

KIND_TO_CODE: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    # ABORTED is the gRPC code for "read-modify-write conflict"; Tessera uses it only for a
    # stale optimistic-concurrency version, which the gateway reports as HTTP 412.
    ErrorKind.STALE_VERSION: grpc.StatusCode.ABORTED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}

log = structlog.get_logger("tessera.grpc")


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(error: DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """The gRPC code and google.rpc.Status that represent ``error``."""
    code = KIND_TO_CODE[error.kind]
    status = status_pb2.Status(code=code.value[0], message=error.message)
    status.details.append(
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
            )
        )
    )
    if error.violations:
        status.details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.message, reason=v.reason
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if error.blockers:
        status.details.append(
            _pack(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type="REFERENCED_BY", subject=blocker, description=blocker
                        )
                        for blocker in error.blockers
                    ]
                )
            )
        )
    return code, status


def internal_status(reference: str) -> status_pb2.Status:
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"Internal error; quote reference {reference} when reporting it.",
    )
    status.details.append(
        _pack(
            error_details_pb2.ErrorInfo(
                reason="INTERNAL", domain=ERROR_DOMAIN, metadata={"reference": reference}
            )
        )
    )
    return status


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: DomainError) -> None:
    code, status = to_status(error)
    await context.abort(
        code, error.message, trailing_metadata=((_DETAILS_KEY, status.SerializeToString()),)
    )


Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


def _masked(error: Exception, method: str) -> DomainError | str:
    """A failure that is not a domain error, as callers may hear of it: Unavailable for a
    dependency outage (logged with its cause, without addresses or driver text reaching the
    caller), or else the reference of an internal error (logged here with its traceback)."""
    reference = uuid.uuid4().hex[:16]
    if is_dependency_failure(error):
        log.warning(
            "dependency unavailable",
            method=method,
            reference=reference,
            error=f"{type(error).__name__}: {error}"[:500],
        )
        return Unavailable(
            "DEPENDENCY_UNAVAILABLE",
            f"A service Tessera depends on is unavailable; retry shortly (reference {reference}).",
            metadata={"reference": reference},
        )
    log.exception("unhandled error in rpc", method=method, reference=reference)
    return reference


def _guard(behavior: Handler, method: str) -> Handler:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except DomainError as error:
            await _abort(context, error)
        except Exception as error:
            masked = _masked(error, method)
            if isinstance(masked, DomainError):
                await _abort(context, masked)
                return None
            status = internal_status(masked)
            await context.abort(
                grpc.StatusCode.INTERNAL,
                status.message,
                trailing_metadata=((_DETAILS_KEY, status.SerializeToString()),),
            )

    return guarded


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Translates every domain error once, masks everything else (STYLE habit 4 and 5)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _guard(handler.unary_unary, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class RemoteError(Exception):
    """A failed call to another Tessera service, decoded from its status details."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[FieldViolation] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.reason or '-'}: {self.message}"


# What a caller is told when a call failed in transport (peer down, deadline, message too
# large): gRPC's own text names internal addresses and is never passed on.
_TRANSPORT_FAILURES: dict[grpc.StatusCode, tuple[str, str]] = {
    grpc.StatusCode.UNAVAILABLE: (
        "SERVICE_UNAVAILABLE",
        "A Tessera service is unreachable; retry shortly.",
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        "SERVICE_TIMEOUT",
        "A Tessera service did not answer in time; retry shortly.",
    ),
    grpc.StatusCode.CANCELLED: ("CANCELLED", "The call was cancelled."),
}


def remote_error(error: grpc.aio.AioRpcError) -> RemoteError:
    """Decode an AioRpcError into a RemoteError.

    A status from a Tessera servicer carries rich details and is passed on as it is. One
    without details failed in transport (or in the gRPC runtime): its code is kept, its text
    replaced by a generic one, and the original is logged.
    """
    details = next(
        (
            value
            for key, value in error.trailing_metadata() or ()
            if key == _DETAILS_KEY and isinstance(value, bytes)
        ),
        None,
    )
    if details is None:
        reason, message = _TRANSPORT_FAILURES.get(
            error.code(), ("UPSTREAM_FAILED", "A Tessera service failed; retry shortly.")
        )
        log.warning(
            "grpc call failed in transport", code=error.code().name, details=error.details()
        )
        return RemoteError(code=error.code(), message=message, reason=reason)
    result = RemoteError(code=error.code(), message=error.details() or error.code().name)
    status = status_pb2.Status.FromString(details)
    result.message = status.message or result.message
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            result.reason = info.reason
            result.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            result.violations = [
                FieldViolation(v.field, v.reason, v.description) for v in bad.field_violations
            ]
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            result.blockers = [v.subject for v in failure.violations]
    return result


def remote_from_domain(error: DomainError) -> RemoteError:
    """What a caller would decode from ``error`` sent over gRPC (:func:`to_status`, then
    :func:`remote_error`)."""
    return RemoteError(
        code=KIND_TO_CODE[error.kind],
        message=error.message,
        reason=error.reason,
        metadata=dict(error.metadata),
        violations=list(error.violations),
        blockers=list(error.blockers),
    )


def local_failure(error: Exception, method: str) -> RemoteError:
    """For a service called in the same process without the wire: the RemoteError its caller
    would have decoded had the call gone through :class:`ErrorInterceptor`."""
    masked = error if isinstance(error, DomainError) else _masked(error, method)
    if isinstance(masked, DomainError):
        return remote_from_domain(masked)
    return RemoteError(
        code=grpc.StatusCode.INTERNAL,
        message=internal_status(masked).message,
        reason="INTERNAL",
        metadata={"reference": masked},
    )


class UpstreamFailure(Exception):
    """Another Tessera service failed unexpectedly (its INTERNAL, UNKNOWN, ...): a bug there,
    masked here as our own internal error, never passed off as the caller's fault."""

    def __init__(self, error: RemoteError) -> None:
        super().__init__(str(error))
        self.error = error


def reraise_remote_as_domain(error: RemoteError) -> DomainError:
    """Re-raise an upstream service's expected failure as our own domain error, so that a
    service calling another one reports the same reason to its caller. Raises
    :class:`UpstreamFailure` for an upstream failure with no domain meaning."""
    for kind, code in KIND_TO_CODE.items():
        if code == error.code:
            from services.common import errors

            cls: type[DomainError] = {
                ErrorKind.INVALID_ARGUMENT: errors.InvalidArgument,
                ErrorKind.NOT_FOUND: errors.NotFound,
                ErrorKind.ALREADY_EXISTS: errors.AlreadyExists,
                ErrorKind.FAILED_PRECONDITION: errors.FailedPrecondition,
                ErrorKind.STALE_VERSION: errors.StaleVersion,
                ErrorKind.PERMISSION_DENIED: errors.PermissionDenied,
                ErrorKind.UNAUTHENTICATED: errors.Unauthenticated,
                ErrorKind.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
                ErrorKind.UNAVAILABLE: errors.Unavailable,
            }[kind]
            return cls(
                error.reason or code.name,
                error.message,
                metadata=error.metadata,
                violations=error.violations,
                blockers=error.blockers,
            )
    raise UpstreamFailure(error)
