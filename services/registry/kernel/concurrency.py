"""Optimistic concurrency: a write names the version (or ETag) it read; a stale one is
refused with StaleVersion (HTTP 412) instead of silently overwriting another change."""

from __future__ import annotations

from services.common.errors import StaleVersion


def check_version(found: int, expected: int, what: str) -> None:
    """Numbered versions (tenants, regions, plans, apps, clients, users): ``0`` = unconditional."""
    if expected and expected != found:
        raise StaleVersion(
            "VERSION_MISMATCH",
            f"The {what} changed since you read it (you sent version {expected}, it is now "
            f"{found}); re-read it and apply your change again.",
            metadata={"current_version": str(found)},
        )


def check_etag(found: str, expected: str, what: str) -> None:
    """Content ETags (roles, groups): ``""`` = unconditional."""
    if expected and expected != found:
        raise StaleVersion(
            "VERSION_MISMATCH",
            f"The {what} changed since you read it (you sent ETag {expected!r}, it is now "
            f"{found!r}); re-read it and apply your change again.",
            metadata={"current_etag": found},
        )


def changed_concurrently(what: str) -> StaleVersion:
    """The row changed between this request's read and its conditional write."""
    return StaleVersion(
        "VERSION_MISMATCH",
        f"The {what} changed while this request was being applied; re-read it and apply your "
        "change again.",
    )
