"""The verifier's optional introspection mode: after a token verified locally, ask the issuing
tenant's introspection endpoint (RFC 7662) whether it is still active, and refuse it if not.

Why: an access token is a self-contained JWT, so a verifier that only checks it locally keeps
accepting it until it expires (15 minutes by default) after it was revoked (RFC 7009), after
its client's secret was regenerated, or its client or app was disabled or deleted. A resource
server that must see those at once introspects.

The trade-off, set by ``cache_seconds`` (default :data:`DEFAULT_CACHE_SECONDS`): answers are
cached per token (its ``jti``) for that long, so a token is asked about at most once per
interval whatever the request rate (concurrent requests for one token share one call), and a
revocation reaches this server within that interval instead of at once. ``cache_seconds=0``
asks on every request: each then costs a round trip to Tessera, and Tessera being unreachable
fails the request with :class:`IntrospectionUnavailable` (503 in the integrations; never a
rejected token, never an accepted one nobody checked). Local verification still runs first, so
a forged or expired token costs no call.

The resource server authenticates with a client of its own in each tenant it accepts tokens
of (RFC 7662 §2.1): any confidential client of the tenant may introspect the tenant's tokens.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from tessera_sdk.verifier import KeysUnavailable, TokenRejected, VerifiedToken, issuer_of

DEFAULT_CACHE_SECONDS = 5.0
DEFAULT_MAX_ENTRIES = 10_000


class IntrospectionUnavailable(KeysUnavailable):
    """The introspection endpoint could not answer (unreachable, 5xx, or it refused this
    resource server's own credentials). Not the token's fault: answer 503, never 401. A
    :class:`KeysUnavailable`, so every integration that maps that to 503 maps this too."""


@dataclass(frozen=True)
class ClientCredentials:
    """The resource server's own client in one tenant (sent with HTTP Basic, RFC 6749
    §2.3.1)."""

    client_id: str
    client_secret: str = ""

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret='***')"

    @property
    def authorization(self) -> str:
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True)
class _Answer:
    active: bool
    body: dict[str, Any]
    at: float


class Introspector:
    """Asks ``{public_url}/t/{tenant}/oauth2/introspect`` about verified tokens, with the
    client of ``credentials[tenant]``; caches each answer ``cache_seconds`` (module
    docstring), at most ``max_entries`` of them.

    Give it to a verifier: ``TokenVerifier(..., introspection=Introspector(...))``.
    """

    def __init__(
        self,
        public_url: str,
        client: httpx.AsyncClient,
        credentials: Mapping[str, ClientCredentials],
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not credentials:
            raise ValueError(
                "credentials= must name the resource server's client for at least one tenant, "
                "e.g. {'acme': ClientCredentials('tc_...', 'tsk_...')}."
            )
        if cache_seconds < 0:
            raise ValueError("cache_seconds must be 0 (ask every time) or more.")
        self._public_url = public_url
        self._client = client
        self._credentials = dict(credentials)
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._timeout = timeout_seconds
        self._clock = clock
        self._answers: OrderedDict[tuple[str, str], _Answer] = OrderedDict()
        self._asking: dict[tuple[str, str], asyncio.Future[_Answer]] = {}
        self.calls = 0  # introspection requests sent (observability, tests)

    @property
    def tenants(self) -> frozenset[str]:
        """The tenants this introspector holds credentials for."""
        return frozenset(self._credentials)

    async def check(self, token: str, verified: VerifiedToken) -> dict[str, Any]:
        """The endpoint's answer about ``token`` (already verified locally as ``verified``);
        raises TokenRejected (``INACTIVE``) when the token is no longer active, and
        IntrospectionUnavailable when the endpoint cannot tell."""
        key = (verified.tenant, str(verified.claims.get("jti", "")))
        answer = self._answers.get(key)
        if answer is None or self._clock() - answer.at >= self._cache_seconds:
            answer = await self._shared(key, token)
        if not answer.active:
            raise TokenRejected("INACTIVE", "The token is no longer active.")
        return answer.body

    async def _shared(self, key: tuple[str, str], token: str) -> _Answer:
        """One call per token at a time: concurrent requests wait for the same answer. With
        ``cache_seconds=0`` every request asks for itself: joining a call that began before a
        revocation could return what was true before it."""
        if self._cache_seconds == 0:
            return await self._ask(key[0], token)
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(key[0], token))
            self._asking[key] = asking

            def finished(done: asyncio.Future[_Answer]) -> None:
                self._asking.pop(key, None)
                if not done.cancelled():
                    done.exception()  # retrieved: the waiters re-raise it, nobody logs it

            asking.add_done_callback(finished)
        answer = await asyncio.shield(asking)
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self._max_entries:
            self._answers.popitem(last=False)
        return answer

    async def _ask(self, tenant: str, token: str) -> _Answer:
        credentials = self._credentials.get(tenant)
        if credentials is None:
            raise IntrospectionUnavailable(
                f"No client credentials for tenant {tenant!r}: give the Introspector one for "
                "every tenant the verifier accepts."
            )
        self.calls += 1
        url = f"{issuer_of(self._public_url, tenant)}/oauth2/introspect"
        try:
            response = await self._client.post(
                url,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": credentials.authorization},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise IntrospectionUnavailable(
                f"The introspection endpoint of tenant {tenant!r} cannot be reached; retry shortly."
            ) from exc
        if response.status_code == 401:
            raise IntrospectionUnavailable(
                f"The introspection endpoint of tenant {tenant!r} refused this resource "
                "server's client credentials (invalid_client); check its client_id and "
                "client_secret."
            )
        if response.status_code != 200:
            raise IntrospectionUnavailable(
                f"The introspection endpoint of tenant {tenant!r} answered "
                f"{response.status_code}; retry shortly."
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise IntrospectionUnavailable(
                f"The introspection endpoint of tenant {tenant!r} did not answer JSON."
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise IntrospectionUnavailable(
                f"The introspection endpoint of tenant {tenant!r} did not answer RFC 7662 JSON."
            )
        return _Answer(active=body["active"], body=body, at=self._clock())
