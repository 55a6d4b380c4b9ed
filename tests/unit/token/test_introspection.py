"""Token introspection (RFC 7662) of the token endpoint's JWT access tokens
(services.token.domain.introspection), over the registry's use cases in memory: an active
token's answer, every reason a token is inactive (each answering exactly ``{"active": false}``),
who may ask, client authentication without an oracle, and what a warm introspection costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.common.errors import Unauthenticated, Unavailable
from services.common.versions import InProcessVersionBoard
from services.registry.apps.models import AppDraft, AppPatch
from services.registry.clients.models import ClientDraft, ClientPatch
from services.registry.tenants.models import TenantDraft
from services.token.domain.authentication import SECRETS_CHECKED
from services.token.domain.grants import mint_service_token
from services.token.domain.introspection import (
    KEYS_CACHE_SECONDS,
    NOT_BEFORE_LEEWAY_SECONDS,
    UNKNOWN_KID_REFRESH_SECONDS,
    AccessTokenReader,
)
from services.token.domain.snapshot_cache import SnapshotCache
from tests.unit.registry import fakes
from tests.unit.token.fakes import (
    CountingHasher,
    TokenChecks,
    TokenWorld,
    issuer,
    token_checks,
    token_world,
)

ADMIN = fakes.tenant_admin("acme")
INACTIVE = {"active": False}


@dataclass
class World:
    tw: TokenWorld
    checks: TokenChecks
    hasher: CountingHasher
    billing_id: str
    worker: tuple[str, str]  # the client billing was created with
    resource_server: tuple[str, str]  # another confidential client of acme

    @property
    def features(self) -> Any:
        return self.tw.features


async def world() -> World:
    tw = await token_world()
    billing, issued = await fakes.app(tw.seeded, "billing")
    await fakes.app(tw.seeded, "shop")
    hasher = CountingHasher()
    checks = token_checks(tw, hasher=hasher)
    resource_server = await client(tw, "shop")
    return World(
        tw,
        checks,
        hasher,
        billing.id,
        (issued.client_id, issued.client_secret),
        resource_server,
    )


async def client(tw: TokenWorld, *apps: str, tenant: str = "acme", **draft: Any) -> tuple[str, str]:
    view, issued = await tw.features.clients.create(
        fakes.tenant_admin(tenant),
        tenant,
        ClientDraft(display_name=draft.pop("display_name", "Client"), apps=apps, **draft),
    )
    return view.client.client_id, issued.client_secret if issued else ""


async def mint(w: World, caller: tuple[str, str] | None = None, **request: Any) -> str:
    client_id, secret = caller or w.worker
    return str((await w.tw.exchange(client_id, secret, **request)).access_token)


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# -- an active token ---------------------------------------------------------------------------


async def test_an_active_token_is_described_by_every_claim_it_carries() -> None:
    w = await world()
    token = await mint(w)
    answer = await w.checks.introspect(w.resource_server, token)
    claims = claims_of(token)
    assert answer == {"active": True, "token_type": "Bearer", **claims}
    assert list(answer)[:2] == ["active", "token_type"]
    # RFC 7662 §2.2 members, and Tessera's claims.
    assert answer["client_id"] == answer["sub"] == w.worker[0]
    assert answer["iss"] == issuer("acme")
    assert answer["aud"] == f"{issuer('acme')}/apps/billing"
    assert answer["exp"] - answer["iat"] == 900
    assert (answer["tenant"], answer["app_id"], answer["app_code"]) == (
        "acme",
        w.billing_id,
        "billing",
    )
    assert {"scope", "nbf", "jti", "roles", "permissions", "region", "db_code"} <= set(answer)


async def test_a_client_may_introspect_its_own_token_and_any_client_of_the_tenant_may_too() -> None:
    w = await world()
    token = await mint(w)
    public = await client(w.tw, "billing", confidential=False)
    assert (await w.checks.introspect(w.worker, token))["active"] is True
    assert (await w.checks.introspect(w.resource_server, token))["active"] is True
    # RFC 7662 §2.1: the protected resource authenticates; a public client cannot.
    with pytest.raises(Unauthenticated):
        await w.checks.introspect(public, token)


@pytest.mark.parametrize("hint", ["", "access_token", "refresh_token", "no-such-type"])
async def test_the_token_type_hint_changes_nothing(hint: str) -> None:
    w = await world()
    token = await mint(w)
    assert (await w.checks.introspect(w.resource_server, token, hint=hint))["active"] is True
    assert await w.checks.introspect(w.resource_server, "not-a-token", hint=hint) == INACTIVE


# -- inactive tokens ---------------------------------------------------------------------------


async def _expired(w: World, token: str) -> None:
    w.tw.clock.advance(claims_of(token)["exp"] - fakes.NOW.timestamp())


async def _revoked(w: World, token: str) -> None:
    await w.checks.revoke(w.worker, token)


async def _app_disabled(w: World, token: str) -> None:
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)


async def _app_no_longer_served(w: World, token: str) -> None:
    await w.features.clients.update(ADMIN, "acme", w.worker[0], ClientPatch(apps=("shop",)), 0)


async def _client_disabled(w: World, token: str) -> None:
    await w.features.clients.update(ADMIN, "acme", w.worker[0], ClientPatch(enabled=False), 0)


async def _client_deleted(w: World, token: str) -> None:
    await w.features.clients.delete(ADMIN, "acme", w.worker[0])


async def _secret_regenerated(w: World, token: str) -> None:
    w.tw.clock.advance(1)
    await w.features.clients.regenerate_secret(ADMIN, "acme", w.worker[0], 0)


INACTIVE_AFTER = {
    "expired": _expired,
    "revoked": _revoked,
    "app-disabled": _app_disabled,
    "app-no-longer-served": _app_no_longer_served,
    "client-disabled": _client_disabled,
    "client-deleted": _client_deleted,
    "secret-regenerated": _secret_regenerated,
}


@pytest.mark.parametrize("reason", sorted(INACTIVE_AFTER))
async def test_a_token_is_inactive_once_its_facts_change_and_the_answer_says_nothing_more(
    reason: str,
) -> None:
    w = await world()
    token = await mint(w)
    other = await mint(w, w.resource_server)  # another client's, another app's token
    assert (await w.checks.introspect(w.resource_server, token))["active"] is True
    await INACTIVE_AFTER[reason](w, token)
    assert await w.checks.introspect(w.resource_server, token) == INACTIVE
    if reason != "expired":
        assert (await w.checks.introspect(w.resource_server, other))["active"] is True


async def test_one_second_before_expiry_a_token_is_active_and_at_expiry_it_is_not() -> None:
    w = await world()
    token = await mint(w)
    w.tw.clock.advance(899)
    assert (await w.checks.introspect(w.resource_server, token))["active"] is True
    w.tw.clock.advance(1)
    assert await w.checks.introspect(w.resource_server, token) == INACTIVE


async def test_a_disabled_app_or_client_enabled_again_makes_its_tokens_active_again() -> None:
    w = await world()
    token = await mint(w)
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=False), 0)
    await w.features.clients.update(ADMIN, "acme", w.worker[0], ClientPatch(enabled=False), 0)
    assert await w.checks.introspect(w.resource_server, token) == INACTIVE
    await w.features.apps.update(ADMIN, "acme", "billing", AppPatch(enabled=True), 0)
    assert await w.checks.introspect(w.resource_server, token) == INACTIVE
    await w.features.clients.update(ADMIN, "acme", w.worker[0], ClientPatch(enabled=True), 0)
    assert (await w.checks.introspect(w.resource_server, token))["active"] is True


async def test_a_regeneration_revokes_earlier_tokens_but_not_those_of_its_own_second() -> None:
    w = await world()
    before = await mint(w)
    w.tw.clock.advance(1)
    issued = await w.features.clients.regenerate_secret(ADMIN, "acme", w.worker[0], 0)
    after = await mint(w, (w.worker[0], issued.client_secret))
    # iat counts whole seconds: a token minted in the regeneration's second stays active.
    assert claims_of(after)["iat"] == int(w.tw.clock().timestamp())
    assert (await w.checks.introspect(w.resource_server, after))["active"] is True
    assert await w.checks.introspect(w.resource_server, before) == INACTIVE


async def test_a_regeneration_with_a_grace_period_revokes_earlier_tokens_when_it_ends() -> None:
    w = await world()
    before = await mint(w)
    w.tw.clock.advance(1)
    issued = await w.features.clients.regenerate_secret(ADMIN, "acme", w.worker[0], 60)
    w.tw.clock.advance(59)
    assert (await w.checks.introspect(w.resource_server, before))["active"] is True
    during = await mint(w)  # still with the old secret, in its grace period
    w.tw.clock.advance(1)
    assert await w.checks.introspect(w.resource_server, before) == INACTIVE
    # Minted after the regeneration: the grace period was meant for them.
    assert (await w.checks.introspect(w.resource_server, during))["active"] is True
    assert (await w.checks.introspect((w.worker[0], issued.client_secret), during))["active"]


async def test_another_tenants_token_is_inactive_whoever_asks() -> None:
    w = await world()
    await w.features.tenants.create(fakes.operator(), TenantDraft(slug="globex", display_name="G"))
    _, globex = await w.features.apps.create(
        fakes.tenant_admin("globex"),
        "globex",
        AppDraft(slug="billing", display_name="Billing", region="eu"),
    )
    theirs = await mint(w, (globex.client_id, globex.client_secret), tenant="globex")
    ours = await mint(w)
    globex_rs = await client(w.tw, "billing", tenant="globex")
    assert (await w.checks.introspect(globex_rs, theirs, tenant="globex"))["active"] is True
    assert await w.checks.introspect(w.resource_server, theirs) == INACTIVE
    assert await w.checks.introspect(globex_rs, ours, tenant="globex") == INACTIVE
    # Presented at its own tenant by another tenant's client: that client does not exist here.
    with pytest.raises(Unauthenticated):
        await w.checks.introspect(w.resource_server, theirs, tenant="globex")


async def _forged(w: World, *, headers: dict[str, Any] | None = None, **changes: Any) -> str:
    """A token with ``changes`` to a real token's claims, signed by a key nobody published
    (or by the tenant's own key when ``headers`` carry its kid)."""
    claims = {**claims_of(await mint(w)), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    key = await w.tw.keys.signing_key("acme")
    return jwt.encode(
        claims,
        key.private_key,
        algorithm="ES256",
        headers={
            k: v
            for k, v in {"kid": key.kid, "typ": "at+jwt", **(headers or {})}.items()
            if v is not None
        },
    )


async def test_anything_but_one_of_the_tenants_live_access_tokens_is_inactive() -> None:
    w = await world()
    real = await mint(w)
    head, body, signature = real.split(".")
    stranger = ec.generate_private_key(ec.SECP256R1())
    key = await w.tw.keys.signing_key("acme")
    now = int(w.tw.clock().timestamp())
    service_token, _ = await mint_service_token(
        w.tw.keys, issuer, "acme", "token", clock=lambda: w.tw.clock().timestamp()
    )
    unknown_key = jwt.encode(
        claims_of(real), stranger, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    presented = {
        "empty": "",
        "garbage": "not-a-token",
        "tampered": f"{head}.{body[:-2]}AA.{signature}",
        "bad-signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "another-key": unknown_key,
        "unknown-kid": await _forged(w, headers={"kid": "no-such-kid"}),
        "not-an-access-token": await _forged(w, headers={"typ": "JWT"}),
        "no-kid": await _forged(w, headers={"kid": None}),
        "hs256": jwt.encode(claims_of(real), "k" * 32, algorithm="HS256", headers={"kid": key.kid}),
        "alg-none": jwt.encode(claims_of(real), None, algorithm="none", headers={"kid": key.kid}),
        "wrong-issuer": await _forged(w, iss=issuer("globex")),
        "other-tenant-claim": await _forged(w, tenant="globex"),
        "no-client": await _forged(w, client_id=None),
        "no-app": await _forged(w, app_id=None),
        "no-jti": await _forged(w, jti=None),
        "unknown-client": await _forged(w, client_id="tc_" + "z" * 26),
        "unknown-app": await _forged(w, app_id="app-nowhere"),
        "not-yet-valid": await _forged(w, nbf=now + NOT_BEFORE_LEEWAY_SECONDS + 1),
        "service-token": service_token,
    }
    for name, token in presented.items():
        assert await w.checks.introspect(w.resource_server, token) == INACTIVE, name
    # Within the leeway a replica whose clock is a little behind still accepts it.
    early = await _forged(w, nbf=now + NOT_BEFORE_LEEWAY_SECONDS)
    assert (await w.checks.introspect(w.resource_server, early))["active"] is True


# -- the caller --------------------------------------------------------------------------------


FAILURES = ["unknown-client", "another-tenant", "wrong-secret", "no-secret", "disabled", "public"]


async def _failing_caller(w: World, kind: str) -> tuple[str, str, str]:
    """(tenant, client_id, secret) of one kind of failed client authentication."""
    client_id, secret = w.resource_server
    if kind == "unknown-client":
        return "acme", "tc_" + "a" * 26, secret
    if kind == "another-tenant":
        await w.features.tenants.create(
            fakes.operator(), TenantDraft(slug="globex", display_name="G")
        )
        return "globex", client_id, secret
    if kind == "wrong-secret":
        return "acme", client_id, "tsk_" + "x" * 43
    if kind == "no-secret":
        return "acme", client_id, ""
    if kind == "disabled":
        await w.features.clients.update(ADMIN, "acme", client_id, ClientPatch(enabled=False), 0)
        return "acme", client_id, secret
    assert kind == "public"
    public_id, _ = await client(w.tw, "billing", confidential=False)
    return "acme", public_id, ""


@pytest.mark.parametrize("kind", FAILURES)
async def test_every_failed_caller_authentication_is_the_same_invalid_client_at_the_same_cost(
    kind: str,
) -> None:
    w = await world()
    token = await mint(w)
    w.hasher.verifications = 0
    await w.checks.introspect(w.resource_server, token)
    assert w.hasher.verifications == SECRETS_CHECKED
    tenant, client_id, secret = await _failing_caller(w, kind)
    w.hasher.verifications = 0
    with pytest.raises(Unauthenticated) as caught:
        await w.checks.introspect((client_id, secret), token, tenant=tenant)
    assert (caught.value.reason, caught.value.message, caught.value.metadata) == (
        "INVALID_CLIENT",
        "Client authentication failed.",
        {"oauth_error": "invalid_client"},
    )
    assert w.hasher.verifications == SECRETS_CHECKED


async def test_the_caller_is_authenticated_before_the_token_is_looked_at() -> None:
    w = await world()
    reads = w.checks.revocations.store_reads
    with pytest.raises(Unauthenticated):
        await w.checks.introspect((w.resource_server[0], "tsk_wrong"), await mint(w))
    assert w.checks.revocations.store_reads == reads
    with pytest.raises(Unauthenticated):
        await w.checks.introspect(("", ""), await mint(w))


async def test_an_introspecting_caller_has_its_secrets_last_use_recorded() -> None:
    w = await world()
    token = await mint(w)
    w.tw.clock.advance(120)
    uses = len(w.tw.registry.secret_uses)
    await w.checks.introspect(w.resource_server, token)
    await w.tw.upkeep.drain()
    assert len(w.tw.registry.secret_uses) == uses + 1


# -- cost and failures -------------------------------------------------------------------------


async def test_a_warm_introspection_reads_neither_the_registry_nor_the_revocation_store() -> None:
    w = await world()
    token = await mint(w)
    await w.checks.introspect(w.resource_server, token)
    reads, store_reads = w.tw.registry.snapshot_reads, w.checks.revocations.store_reads
    for _ in range(3):
        assert (await w.checks.introspect(w.resource_server, token))["active"] is True
    assert w.tw.registry.snapshot_reads == reads
    assert w.checks.revocations.store_reads == store_reads


async def test_a_change_to_the_tokens_client_is_seen_by_the_next_introspection() -> None:
    """The token's client is read through the snapshot cache, which the version board keeps
    exact: no stale window between an admin write and the next answer."""
    w = await world()
    token = await mint(w)
    assert (await w.checks.introspect(w.resource_server, token))["active"] is True
    await w.features.clients.update(ADMIN, "acme", w.worker[0], ClientPatch(enabled=False), 0)
    assert await w.checks.introspect(w.resource_server, token) == INACTIVE


async def test_a_registry_that_cannot_be_reached_is_unavailable_never_an_answer() -> None:
    w = await world()
    token = await mint(w)
    # A replica with a cold cache of its own, on a board that cannot be trusted.
    cold = token_checks(
        w.tw, snapshots=SnapshotCache(w.tw.registry, InProcessVersionBoard()), board=None
    )
    w.tw.registry.fail = Unavailable("REGISTRY_UNAVAILABLE", "down")
    with pytest.raises(Unavailable):
        await cold.introspect(w.resource_server, token)


async def test_a_revocation_store_that_fails_is_unavailable_never_an_answer() -> None:
    w = await world()
    token = await mint(w)

    async def broken(tenant: str, jti: str) -> bool:
        raise Unavailable("DEPENDENCY_UNAVAILABLE", "down")

    checks = token_checks(w.tw, board=None)
    checks.store.is_revoked = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await checks.introspect(w.resource_server, token)


class CountingKeys:
    """A tenant's published keys, counting the reads (the key store's work)."""

    def __init__(self, keys: Any) -> None:
        self._keys = keys
        self.reads = 0

    async def jwks(self, tenant: str) -> dict[str, Any]:
        self.reads += 1
        return dict(await self._keys.jwks(tenant))


async def test_published_keys_are_cached_and_an_unknown_kid_refetches_them_at_most_each_second() -> (
    None
):
    w = await world()
    token = await mint(w)
    keys, now = CountingKeys(w.tw.keys), [0.0]
    reader = AccessTokenReader(keys, issuer, monotonic=lambda: now[0])
    assert (await reader.read("acme", token) or {})["jti"] == claims_of(token)["jti"]
    assert await reader.read("acme", token) is not None
    assert keys.reads == 1
    unknown = await _forged(w, headers={"kid": "no-such-kid"})
    assert await reader.read("acme", unknown) is None
    assert keys.reads == 1  # fetched less than a second ago: an unknown kid is a forgery
    now[0] += UNKNOWN_KID_REFRESH_SECONDS
    assert await reader.read("acme", unknown) is None
    assert await reader.read("acme", unknown) is None
    assert keys.reads == 2
    now[0] += KEYS_CACHE_SECONDS
    assert await reader.read("acme", token) is not None
    assert keys.reads == 3
    # A tenant that is gone has no keys, hence no valid tokens.
    assert await reader.read("no-such-tenant", token) is None
