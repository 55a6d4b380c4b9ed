"""OAuth 2.0 error vocabulary (RFC 6749 §5.2) carried on domain errors.

The token service raises domain errors whose metadata names the RFC 6749 ``error`` code; the
gateway's OAuth endpoints answer with that code and the message as ``error_description``.
"""

from __future__ import annotations

from services.common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)


def invalid_request(reason: str, description: str) -> DomainError:
    return InvalidArgument(reason, description, metadata={"oauth_error": "invalid_request"})


def invalid_client(description: str = "Client authentication failed.") -> DomainError:
    # One message for unknown client, wrong secret and disabled client: no oracle (§7).
    return Unauthenticated(
        "INVALID_CLIENT", description, metadata={"oauth_error": "invalid_client"}
    )


def unauthorized_client(reason: str, description: str) -> DomainError:
    return PermissionDenied(reason, description, metadata={"oauth_error": "unauthorized_client"})


def unsupported_grant_type(grant_type: str) -> DomainError:
    return InvalidArgument(
        "UNSUPPORTED_GRANT_TYPE",
        f"The grant type {grant_type!r} is not supported by this endpoint.",
        metadata={"oauth_error": "unsupported_grant_type"},
    )


def invalid_scope(description: str) -> DomainError:
    return InvalidArgument("INVALID_SCOPE", description, metadata={"oauth_error": "invalid_scope"})


def invalid_grant(reason: str, description: str) -> DomainError:
    return FailedPrecondition(reason, description, metadata={"oauth_error": "invalid_grant"})


def invalid_target(description: str) -> DomainError:
    """RFC 8707 §2: the requested resource is unknown or not allowed for this client."""
    return InvalidArgument(
        "INVALID_TARGET", description, metadata={"oauth_error": "invalid_target"}
    )
