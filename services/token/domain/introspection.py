"""Token introspection (RFC 7662) of the access tokens the token endpoint mints, and what
revocation (services.token.domain.revocation) shares with it: authenticating the calling
client, and reading a presented token.

Who may introspect what: any client of the tenant that authenticates as it would for a
client_credentials token (a confidential client with a live secret; RFC 7662 §2.1: "the
protected resource MUST also ... authenticate"), about any access token of that same tenant.
A resource server has a client of its own for this, and a tenant's tokens are readable by
whoever holds them anyway (signed, not encrypted): introspection adds only whether the token
is still active. A token of another tenant, a token this tenant's keys did not sign, and a
token that is not an access token are all simply inactive (§2.2: "the protected resource is
not allowed to introspect this particular token" → ``active: false``).

A token is active when its signature verifies with one of the tenant's published keys, its
``iss`` is the tenant's issuer, ``typ`` is ``at+jwt``, it has not expired and is valid already
(``nbf``), and these facts hold now (ARCHITECTURE §2, §3; Modgud seed, "Regenerate secret"):

- its client (claim ``client_id``) still exists in the tenant and is enabled;
- its app (claim ``app_id``) is still served by that client and enabled;
- the client's secret was not regenerated after the token was minted: the oldest secret that
  still works was created no later than the token's ``iat`` (to the second: ``iat`` has no
  finer grain, so a token minted in the very second of a regeneration stays active). A
  regeneration with a grace period thus revokes the earlier tokens when the old secret stops
  working, not before, which is what the grace period is for;
- its ``jti`` was not revoked (RFC 7009).

Anything else is ``{"active": false}`` and nothing more (§2.2: "SHOULD NOT include any
additional information about an inactive token, including why the token is inactive").
An active token's answer carries the §2.2 members (``token_type`` is ``Bearer``, RFC 6749
§7.1) and every claim the token carries (Tessera's ``tenant``, ``app_id``, ``app_code``,
``roles``, ``permissions``, ``entitlements`` ...). A failure of a dependency (registry, key
store, revocation store) is Unavailable (503), never an answer: an ``active: false`` a
resource server may cache, or an ``active: true`` nobody checked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt

from services.common import oauth_errors as oauth
from services.common.errors import NotFound
from services.common.vocabulary import GrantType
from services.token.domain.authentication import ClientAuthenticator
from services.token.domain.keys import SIGNING_ALGS
from services.token.domain.secret_upkeep import SecretUpkeepReporter
from services.token.domain.snapshot_cache import SnapshotCache
from services.token.domain.snapshots import ClientSnapshot
from services.token.domain.token_size import PERMISSIONS_OMITTED
from tessera_sdk.verifier import ACCESS_TOKEN_TYPES

INACTIVE: Mapping[str, Any] = {"active": False}
# Claims without which a token is none of ours (RFC 9068 §2.2 plus Tessera's app_id).
REQUIRED_CLAIMS = ("iss", "exp", "iat", "jti", "client_id", "app_id")
# Clocks of token-service replicas may differ a little: a token minted on one is not "not yet
# valid" on another for that. Expiry has no leeway: the server decides, on its own clock.
NOT_BEFORE_LEEWAY_SECONDS = 30
KEYS_CACHE_SECONDS = 60.0
UNKNOWN_KID_REFRESH_SECONDS = 1.0
TENANTS_REMEMBERED = 10_000


class PublishedKeys(Protocol):
    async def jwks(self, tenant: str) -> dict[str, Any]:
        """The tenant's JWK Set (services.token.domain.keys.KeyService.jwks)."""
        ...


class RevokedCheck(Protocol):
    async def is_revoked(self, tenant: str, jti: str) -> bool:
        """Whether the tenant revoked ``jti`` (services.token.domain.revocation)."""
        ...


@dataclass(frozen=True)
class PresentedToken:
    """A request about one token (RFC 7662 §2.1, RFC 7009 §2.1) by an authenticating client.
    ``token_type_hint`` is only a hint (§2.1: the server searches every type it supports),
    and every token Tessera can answer about is an access token, so it changes nothing."""

    tenant: str
    client_id: str
    client_secret: str
    token: str
    token_type_hint: str = ""


class CallerAuthentication:
    """Authenticates the client calling introspection or revocation exactly as the token
    endpoint authenticates one (services.token.domain.authentication, over the same snapshot
    cache): every failure is the same invalid_client at the same cost. A successful check
    reports the secret's upkeep (last use, re-hash) like a token request does."""

    def __init__(
        self,
        snapshots: SnapshotCache,
        authenticator: ClientAuthenticator,
        upkeep: SecretUpkeepReporter,
        clock: Callable[[], float],
    ) -> None:
        self._snapshots = snapshots
        self._authenticator = authenticator
        self._upkeep = upkeep
        self._clock = clock

    async def confidential(self, tenant: str, client_id: str, secret: str) -> ClientSnapshot:
        """A confidential client with a live secret, as for client_credentials (RFC 6749
        §2.3.1, §4.4.2): what introspection asks of a protected resource (RFC 7662 §2.1)."""
        return await self._authenticate(
            tenant, client_id, secret, GrantType.CLIENT_CREDENTIALS.value
        )

    async def identified(self, tenant: str, client_id: str, secret: str) -> ClientSnapshot:
        """A confidential client with a live secret, or a public client by its ``client_id``
        alone, as for the refresh grant (RFC 7009 §2.1: public clients revoke their tokens
        too; "client identification" is all they have)."""
        return await self._authenticate(tenant, client_id, secret, GrantType.REFRESH_TOKEN.value)

    async def _authenticate(
        self, tenant: str, client_id: str, secret: str, as_for: str
    ) -> ClientSnapshot:
        if not client_id:
            raise oauth.invalid_client("Client authentication is required (Basic or form).")
        client = await self._snapshots.get(tenant, client_id)
        upkeep = self._authenticator.authenticate(
            client, secret, as_for, datetime.fromtimestamp(self._clock(), UTC)
        )
        if upkeep is not None:
            self._upkeep.report(upkeep)
        return client


@dataclass
class _TenantKeys:
    keys: dict[str, jwt.PyJWK]
    fetched_at: float


class AccessTokenReader:
    """Reads a token presented to introspection or revocation: the claims of an access token
    (RFC 9068: ``typ`` at+jwt, an allowed ``alg`` that matches the key's, a ``kid``) that one
    of ``tenant``'s published keys signed, with ``iss`` the tenant's issuer and Tessera's
    required claims; None for anything else. Time claims are the caller's to judge.

    The tenant's published keys are cached for :data:`KEYS_CACHE_SECONDS` and fetched again
    on an unknown ``kid`` at most every :data:`UNKNOWN_KID_REFRESH_SECONDS` (a key is
    published before it signs, and stays published until its last token expired, so a cached
    set lacks nothing for long): a warm read costs no store access.
    """

    def __init__(
        self,
        keys: PublishedKeys,
        issuer: Callable[[str], str],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._monotonic = monotonic
        self._cache: OrderedDict[str, _TenantKeys] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def read(self, tenant: str, token: str) -> dict[str, Any] | None:
        peeked = _peek_header(token)
        if peeked is None or not _is_access_token_header(peeked):
            return None
        alg, kid = peeked["alg"], peeked["kid"]
        key = await self._key(tenant, kid)
        if key is None or key.algorithm_name != alg:
            return None
        try:
            # PyJWT parses (strictly: base64url alphabet, padding) and checks the signature,
            # the header it parsed is checked again below, so the peek decides nothing.
            decoded = jwt.decode_complete(
                token,
                key.key,
                algorithms=[alg],
                issuer=self._issuer(tenant),
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            return None
        header, claims = decoded["header"], decoded["payload"]
        if not _is_access_token_header(header) or header["kid"] != kid:
            return None
        typed = (
            isinstance(claims["jti"], str)
            and isinstance(claims["client_id"], str)
            and isinstance(claims["app_id"], str)
            and _is_time(claims["exp"])
            and _is_time(claims["iat"])
            and _is_time(claims.get("nbf", 0))
            and claims.get("tenant", tenant) == tenant
        )
        return claims if typed else None

    async def _key(self, tenant: str, kid: str) -> jwt.PyJWK | None:
        cached = self._cache.get(tenant)
        now = self._monotonic()
        if cached is not None and now - cached.fetched_at < KEYS_CACHE_SECONDS:
            self._cache.move_to_end(tenant)
            if kid in cached.keys or now - cached.fetched_at < UNKNOWN_KID_REFRESH_SECONDS:
                return cached.keys.get(kid)
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            cached = self._cache.get(tenant)
            now = self._monotonic()
            stale = cached is None or now - cached.fetched_at >= KEYS_CACHE_SECONDS
            if stale or (
                cached is not None
                and kid not in cached.keys
                and now - cached.fetched_at >= UNKNOWN_KID_REFRESH_SECONDS
            ):
                cached = await self._fetch(tenant)
        assert cached is not None
        return cached.keys.get(kid)

    async def _fetch(self, tenant: str) -> _TenantKeys:
        try:
            document = await self._keys.jwks(tenant)
        except NotFound:
            document = {"keys": []}  # a tenant that is gone has no valid tokens
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("alg") not in SIGNING_ALGS or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
        fetched = _TenantKeys(keys, self._monotonic())
        self._cache[tenant] = fetched
        self._cache.move_to_end(tenant)
        while len(self._cache) > TENANTS_REMEMBERED:
            evicted, _ = self._cache.popitem(last=False)
            self._locks.pop(evicted, None)
        return fetched


def _peek_header(token: str) -> dict[str, Any] | None:
    """The JOSE header, decoded leniently and without any check, only to find the key.
    PyJWT's own parse costs a per-character check of the whole token; doing it once (in
    :func:`jwt.decode_complete`) instead of twice halves the cost of reading a token."""
    head, dot, _ = token.partition(".")
    if not dot or len(head) > 1024:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    return header if isinstance(header, dict) else None


def _is_access_token_header(header: Mapping[str, Any]) -> bool:
    """RFC 9068 §2.1: ``typ`` at+jwt; an algorithm the token service signs with; a ``kid``."""
    return (
        header.get("alg") in SIGNING_ALGS
        and str(header.get("typ", "")).lower() in ACCESS_TOKEN_TYPES
        and isinstance(header.get("kid"), str)
    )


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def secrets_cutoff(client: ClientSnapshot, now: datetime) -> int | None:
    """The second before which the client's tokens no longer count: when the oldest of its
    secrets that still work was created (a regeneration without a grace period leaves only
    the new one; with one, the old secret works until the grace period ends). None for a
    client without secrets (public)."""
    if not client.secrets:
        return None
    live = [s for s in client.secrets if s.expires_at is None or s.expires_at > now]
    created = min(s.created_at for s in live) if live else max(s.created_at for s in client.secrets)
    return int(created.timestamp())


def still_holds(claims: Mapping[str, Any], client: ClientSnapshot, now: datetime) -> bool:
    """The facts behind an access token still hold: its client exists and is enabled, it still
    serves the token's app and that app is enabled, and no secret regeneration since the
    token was minted revoked it (:func:`secrets_cutoff`)."""
    if not client.found or not client.enabled or client.client_id != claims["client_id"]:
        return False
    app = next((a for a in client.apps if a.id == claims["app_id"]), None)
    if app is None or not app.enabled:
        return False
    cutoff = secrets_cutoff(client, now)
    return cutoff is None or cutoff <= claims["iat"]


class Introspection:
    """RFC 7662 §2 over the access tokens of the token endpoint (module docstring)."""

    def __init__(
        self,
        callers: CallerAuthentication,
        tokens: AccessTokenReader,
        snapshots: SnapshotCache,
        revoked: RevokedCheck,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._callers = callers
        self._tokens = tokens
        self._snapshots = snapshots
        self._revoked = revoked
        self._clock = clock

    async def introspect(self, request: PresentedToken) -> dict[str, Any]:
        """The §2.2 answer about ``request.token`` for an authenticated caller; raises
        invalid_client when the caller does not authenticate (§2.3). Side effect: the
        caller's secret upkeep is reported, as at the token endpoint."""
        caller = await self._callers.confidential(
            request.tenant, request.client_id, request.client_secret
        )
        claims = await self._tokens.read(request.tenant, request.token)
        if claims is None:
            return dict(INACTIVE)
        now = self._clock()
        if claims["exp"] <= now or claims.get("nbf", 0) > now + NOT_BEFORE_LEEWAY_SECONDS:
            return dict(INACTIVE)
        client, revoked = await asyncio.gather(
            self._token_client(caller, claims["client_id"]),
            self._revoked.is_revoked(request.tenant, claims["jti"]),
        )
        if revoked or not still_holds(claims, client, datetime.fromtimestamp(now, UTC)):
            return dict(INACTIVE)
        answer: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        answer.update((k, v) for k, v in claims.items() if k not in answer)
        if answer.pop(PERMISSIONS_OMITTED, False):
            # The token was minted without its list (the size budget): the full list is the
            # one its client holds in its app now (the same facts the next token would carry).
            app = next(a for a in client.apps if a.id == claims["app_id"])
            answer["permissions"] = list(app.permissions)
        return answer

    async def _token_client(self, caller: ClientSnapshot, client_id: str) -> ClientSnapshot:
        """The snapshot of the token's client: the caller's own when it asks about its own
        token, otherwise read through the snapshot cache like any client's."""
        if client_id == caller.client_id:
            return caller
        return await self._snapshots.get(caller.tenant, client_id)
