"""Register a service's permission catalog at boot (Vendidit seed §5, ARCHITECTURE §2).

Call :func:`register_permissions` once on every start of every replica: the registry's
reconcile is idempotent and serialised, so replicas booting together end with one catalog.
Transient failures (connection errors, 429, 5xx) are retried with exponential backoff;
anything else (a bad entry, a missing permission) fails at once with the problem document.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Permission:
    code: str  # <resource>:<action>, kebab-case both sides
    name: str = ""
    description: str = ""
    renamed_from: str | None = None


@dataclass(frozen=True)
class RegistrationFailed(Exception):
    """The registry refused the declaration; ``problem`` is its RFC 9457 document."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.problem.get('reason', '')}: {self.problem.get('detail', '')}"


async def register_permissions(
    client: httpx.AsyncClient,
    tenant: str,
    service: str,
    permissions: list[Permission],
    *,
    access_token: str,
    dry_run: bool = False,
    attempts: int = 5,
    first_delay: float = 0.5,
) -> dict[str, Any]:
    """Declare ``service``'s whole catalog; returns the reconcile report.

    ``client`` has the gateway as ``base_url``; ``access_token`` carries ``permission:write``
    for ``tenant`` (a service client's client_credentials token).
    """
    body = {
        "service": service,
        "permissions": [
            {k: v for k, v in vars(p).items() if v not in (None, "")} for p in permissions
        ],
        "dry_run": dry_run,
    }
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            response = await client.post(
                f"/api/v1/tenants/{tenant}/permissions/register",
                json=body,
                headers={"Authorization": f"Bearer {access_token}"},
            )
        except httpx.TransportError:
            if attempt == attempts:
                raise
        else:
            if response.status_code == 200:
                report: dict[str, Any] = response.json()
                return report
            if response.status_code not in RETRYABLE_STATUS or attempt == attempts:
                problem = response.json() if response.content else {}
                raise RegistrationFailed(response.status_code, problem)
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable: the loop returns or raises")
