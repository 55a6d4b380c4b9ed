"""A tenant's signing keys and their rotation (ARCHITECTURE §3; services.token.domain.keys),
with a clock the tests move by hand: the first key, a new key published before it signs, lazy
activation by whoever signs first (and only one of racing replicas), a retired key published
until its last token expired and then gone, EdDSA (RFC 8037), the signing-key cache that costs
no storage call and still honours ``activates_at``, who may list and rotate, and the first key
made when the registry announces a tenant."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
import pytest
from structlog.testing import capture_logs

from services.common.changes import Change, InProcessChangeBus
from services.common.envelope import EnvelopeCipher, Keyring
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.settings import SettingsError, load_settings
from services.registry.kernel.settings import _LIFETIME_BOUNDS, SETTING_KEYS
from services.registry.tenants.models import TenantDraft
from services.token.domain.keys import (
    EDDSA,
    ES256,
    LONGEST_TOKEN_SECONDS,
    MAX_LEAD_SECONDS,
    FirstKeyProvisioner,
    KeyService,
    LocalJwksSource,
    RotationPolicy,
    SigningKeyAdmin,
    StoredKey,
    thumbprint,
)
from services.token.storage.memory import MemoryKeyStore
from tessera_sdk.verifier import BaseTokenVerifier, TokenRejected
from tests.unit.registry import fakes
from tests.unit.token.fakes import token_world

POLICY = RotationPolicy(lead_seconds=3600, min_lead_seconds=300, retire_margin_seconds=300)
ISSUER_BASE = "https://id.example.com"
RETIRE_AFTER = timedelta(seconds=LONGEST_TOKEN_SECONDS + 300)


class CountingStore(MemoryKeyStore):
    """The in-memory store, counting every call (the signing path's cost)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def signing_keys(self, tenant: str) -> list[StoredKey]:
        self.calls.append("signing_keys")
        return await super().signing_keys(tenant)

    async def published_keys(self, tenant: str, now: Any) -> list[StoredKey]:
        self.calls.append("published_keys")
        return await super().published_keys(tenant, now)

    async def promote(self, tenant: str, kid: str, activated_at: Any, publish_until: Any) -> bool:
        self.calls.append("promote")
        return await super().promote(tenant, kid, activated_at, publish_until)


@dataclass
class Tenants:
    known: set[str] = field(default_factory=lambda: {"acme", "globex", "control-plane"})
    asked: int = 0

    async def exists(self, tenant: str) -> bool:
        self.asked += 1
        return tenant in self.known


class Ticks:
    """A monotonic clock moved by hand (the signing-key cache's)."""

    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


@dataclass
class World:
    store: CountingStore
    clock: fakes.Clock
    ticks: Ticks
    tenants: Tenants
    keys: KeyService

    def replica(self) -> KeyService:
        """Another token-service replica over the same storage and clocks."""
        return service(self.store, self.clock, self.ticks, self.tenants)


def service(
    store: MemoryKeyStore, clock: fakes.Clock, ticks: Ticks, tenants: Tenants
) -> KeyService:
    return KeyService(
        store,
        EnvelopeCipher(Keyring.parse(fakes.ENCRYPTION_KEYS)),
        tenants,
        now=clock,
        policy=POLICY,
        cache_seconds=30.0,
        monotonic=ticks,
    )


@pytest.fixture
def w() -> World:
    store, clock, ticks, tenants = CountingStore(), fakes.Clock(), Ticks(), Tenants()
    return World(store, clock, ticks, tenants, service(store, clock, ticks, tenants))


async def sign(keys: KeyService, tenant: str = "acme", **claims: Any) -> str:
    """An access token of ``tenant`` signed with its current key. PyJWT checks the time
    claims against the real time: the token is valid now, whatever the fake clock says."""
    key = await keys.signing_key(tenant)
    now = int(time.time())
    body = {
        "iss": f"{ISSUER_BASE}/t/{tenant}",
        "sub": "c1",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        **claims,
    }
    return jwt.encode(body, key.private_key, key.alg, headers={"kid": key.kid, "typ": "at+jwt"})


def verifier(keys: KeyService, clock: fakes.Clock) -> BaseTokenVerifier:
    """The SDK's verifier over the tenant's published keys (its JWKS cache on the fake
    clock)."""
    return BaseTokenVerifier(
        ISSUER_BASE,
        LocalJwksSource(keys),
        accept_tenant=lambda _t: True,
        clock=lambda: clock().timestamp(),
        min_refresh_seconds=0,
    )


def kids(document: dict[str, Any]) -> set[str]:
    return {k["kid"] for k in document["keys"]}


def states(keys: list[StoredKey]) -> dict[str, str]:
    return {k.kid: k.state for k in keys}


async def rotate(w: World, alg: str = "", lead: int = 0, tenant: str = "acme") -> StoredKey:
    return await w.keys.rotate(tenant, alg, lead)


# -- the first key ------------------------------------------------------------------------------


async def test_a_tenant_first_key_is_es256_current_and_published_with_its_thumbprint_as_kid(
    w: World,
) -> None:
    document = await w.keys.jwks("acme")
    [jwk] = document["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", ES256, "sig")
    assert jwk["kid"] == thumbprint(jwk)
    assert "d" not in jwk
    [stored] = await w.keys.keys("acme")
    assert (stored.kid, stored.state, stored.activated_at) == (jwk["kid"], "current", fakes.NOW)
    assert (await w.keys.signing_key("acme")).kid == jwk["kid"]


async def test_an_unknown_tenant_has_no_keys_and_none_are_made_for_it(w: World) -> None:
    for call in (w.keys.jwks("nobody"), w.keys.keys("nobody"), w.keys.rotate("nobody")):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.reason == "TENANT_NOT_FOUND"
    assert await w.store.published_keys("nobody", fakes.NOW) == []


async def test_a_malformed_tenant_name_is_not_found_without_asking_the_registry(w: World) -> None:
    with pytest.raises(NotFound):
        await w.keys.jwks("../Acme")
    assert w.tenants.asked == 0


async def test_two_replicas_creating_the_first_key_at_once_agree_on_one(w: World) -> None:
    other = w.replica()
    first, second = await asyncio.gather(w.keys.signing_key("acme"), other.signing_key("acme"))
    assert first.kid == second.kid
    assert len(await w.store.published_keys("acme", fakes.NOW)) == 1


# -- rotation -----------------------------------------------------------------------------------


async def test_a_rotated_key_is_published_at_once_and_signs_only_after_its_lead_time(
    w: World,
) -> None:
    old = (await w.keys.signing_key("acme")).kid
    new = await rotate(w)
    assert (new.state, new.alg, new.activates_at) == ("next", ES256, fakes.NOW + timedelta(hours=1))
    assert kids(await w.keys.jwks("acme")) == {old, new.kid}
    w.clock.advance(3599)
    assert (await w.keys.signing_key("acme")).kid == old
    w.clock.advance(1)
    assert (await w.keys.signing_key("acme")).kid == new.kid


async def test_activation_retires_the_old_key_until_its_last_token_expired_plus_the_margin(
    w: World,
) -> None:
    old = (await w.keys.signing_key("acme")).kid
    new = await rotate(w, lead=600)
    w.clock.advance(700)  # nobody signed at 600: the first signer after it activates
    await w.keys.signing_key("acme")
    activated = fakes.NOW + timedelta(seconds=700)
    keys = {k.kid: k for k in await w.keys.keys("acme")}
    assert (keys[new.kid].state, keys[new.kid].activated_at) == ("current", activated)
    assert (keys[old].state, keys[old].publish_until) == ("retired", activated + RETIRE_AFTER)


async def test_a_retired_key_leaves_the_jwks_when_its_window_ends_and_storage_later(
    w: World,
) -> None:
    old = (await w.keys.signing_key("acme")).kid
    new = await rotate(w)
    w.clock.advance(3600)
    await w.keys.signing_key("acme")
    until = w.clock() + RETIRE_AFTER
    w.clock.at = until - timedelta(seconds=1)
    assert kids(await w.keys.jwks("acme")) == {old, new.kid}
    w.clock.at = until
    assert kids(await w.keys.jwks("acme")) == {new.kid}
    assert [k.kid for k in await w.keys.keys("acme")] == [new.kid]
    await rotate(w)  # a write path deletes what no longer is published
    assert old not in {k.kid for k in w.store._keys.values()}


async def test_tokens_keep_verifying_with_the_sdk_across_the_switch(w: World) -> None:
    before = await sign(w.keys)
    await rotate(w)
    sdk = verifier(w.keys, w.clock)
    assert (await sdk.verify(before)).claims["sub"] == "c1"  # its JWKS holds both keys now
    w.clock.advance(3600)
    after = await sign(w.keys)
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert (await sdk.verify(after)).claims["sub"] == "c1"
    assert (await sdk.verify(before)).claims["sub"] == "c1"


async def test_the_default_lead_applies_and_the_shortest_allowed_lead_is_accepted(
    w: World,
) -> None:
    assert (await rotate(w)).activates_at == fakes.NOW + timedelta(seconds=3600)
    w.clock.advance(3600)
    assert (await rotate(w, lead=300)).activates_at == w.clock() + timedelta(seconds=300)


@pytest.mark.parametrize("lead", [-1, 1, 299, MAX_LEAD_SECONDS + 1])
async def test_a_lead_shorter_than_the_jwks_cache_or_absurdly_long_is_refused(
    w: World, lead: int
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await rotate(w, lead=lead)
    assert fakes.reasons(caught.value) == [("lead_seconds", "LEAD_OUT_OF_RANGE")]
    assert "300" in caught.value.violations[0].message


async def test_an_unsupported_algorithm_and_a_bad_lead_are_reported_together(w: World) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await rotate(w, alg="HS256", lead=5)
    assert fakes.reasons(caught.value) == [
        ("alg", "ALG_UNSUPPORTED"),
        ("lead_seconds", "LEAD_OUT_OF_RANGE"),
    ]
    assert await w.store.published_keys("acme", fakes.NOW) == []


async def test_a_second_rotation_waits_until_the_first_key_signs(w: World) -> None:
    pending = await rotate(w)
    with pytest.raises(FailedPrecondition) as caught:
        await rotate(w, alg=EDDSA)
    assert caught.value.reason == "ROTATION_PENDING"
    assert caught.value.metadata["kid"] == pending.kid
    w.clock.advance(3600)
    assert (await rotate(w, alg=EDDSA)).state == "next"  # the due key is promoted first


async def test_racing_rotations_on_two_replicas_leave_one_pending_key(w: World) -> None:
    await w.keys.signing_key("acme")
    results = await asyncio.gather(
        rotate(w), w.replica().rotate("acme", EDDSA, 0), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert len(refused) == 1
    pending = [k for k in await w.store.signing_keys("acme") if k.state == "next"]
    assert len(pending) == 1


# -- activation on the signing path ---------------------------------------------------------------


async def test_a_warm_signature_touches_no_storage(w: World) -> None:
    await w.keys.signing_key("acme")
    w.store.calls.clear()
    for _ in range(50):
        await w.keys.signing_key("acme")
    assert w.store.calls == []


async def test_the_cached_key_is_dropped_at_the_pending_keys_activation_not_later(
    w: World,
) -> None:
    old = (await w.keys.signing_key("acme")).kid
    new = await rotate(w)
    await w.keys.signing_key("acme")  # cached again, knowing when the pending key signs
    w.store.calls.clear()
    w.clock.advance(3599)
    assert (await w.keys.signing_key("acme")).kid == old
    assert w.store.calls == []
    w.clock.advance(1)  # well inside the cache's 30 seconds
    assert (await w.keys.signing_key("acme")).kid == new.kid
    assert w.store.calls == ["signing_keys", "promote", "signing_keys"]


async def test_another_replica_learns_of_a_rotation_within_its_cache_lifetime(w: World) -> None:
    other = w.replica()
    old = (await other.signing_key("acme")).kid
    new = await rotate(w)
    w.clock.advance(3600)
    assert (await other.signing_key("acme")).kid == old  # still its cached key
    w.ticks.at += 30
    assert (await other.signing_key("acme")).kid == new.kid


async def test_replicas_signing_at_once_after_activation_promote_once_and_agree(w: World) -> None:
    await w.keys.signing_key("acme")
    new = await rotate(w)
    replicas = [w.keys, w.replica(), w.replica()]
    w.clock.advance(3600)
    signed = await asyncio.gather(*(r.signing_key("acme") for r in replicas))
    assert {k.kid for k in signed} == {new.kid}
    keys = await w.store.published_keys("acme", w.clock())
    assert sorted(k.state for k in keys) == ["current", "retired"]


async def test_a_tenant_has_one_current_key_whatever_the_algorithm(w: World) -> None:
    await w.keys.signing_key("acme")
    for alg in (EDDSA, ES256, EDDSA):
        await rotate(w, alg=alg)
        w.clock.advance(3600)
        assert (await w.keys.signing_key("acme")).alg == alg
        current = [k for k in await w.keys.keys("acme") if k.state == "current"]
        assert [k.alg for k in current] == [alg]


async def test_keys_of_another_tenant_are_untouched_by_a_rotation(w: World) -> None:
    globex = (await w.keys.signing_key("globex")).kid
    await w.keys.signing_key("acme")
    await rotate(w)
    w.clock.advance(3600)
    await w.keys.signing_key("acme")
    assert states(await w.keys.keys("globex")) == {globex: "current"}


# -- EdDSA (RFC 8037) -----------------------------------------------------------------------------


async def test_an_eddsa_key_is_an_okp_ed25519_jwk_and_its_tokens_verify_with_the_sdk(
    w: World,
) -> None:
    await w.keys.signing_key("acme")
    new = await rotate(w, alg=EDDSA)
    jwk = next(k for k in (await w.keys.jwks("acme"))["keys"] if k["kid"] == new.kid)
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", EDDSA)
    assert jwk["kid"] == thumbprint(jwk)
    w.clock.advance(3600)
    token = await sign(w.keys)
    assert jwt.get_unverified_header(token)["alg"] == EDDSA
    assert (await verifier(w.keys, w.clock).verify(token)).claims["sub"] == "c1"


async def test_an_empty_algorithm_keeps_the_current_keys(w: World) -> None:
    await rotate(w, alg=EDDSA)
    w.clock.advance(3600)
    assert (await rotate(w)).alg == EDDSA


def test_the_okp_thumbprint_is_the_one_of_rfc_8037_appendix_a_3() -> None:
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


async def test_the_sdk_refuses_an_eddsa_token_whose_header_claims_another_algorithm(
    w: World,
) -> None:
    await rotate(w, alg=EDDSA)
    w.clock.advance(3600)
    token = await sign(w.keys)
    _, payload, signature = token.split(".")
    forged = json.dumps({**jwt.get_unverified_header(token), "alg": ES256}).encode()
    forged_header = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    with pytest.raises(TokenRejected) as caught:
        await verifier(w.keys, w.clock).verify(f"{forged_header}.{payload}.{signature}")
    assert caught.value.reason == "ALGORITHM_MISMATCH"


async def test_the_token_service_signs_a_tenants_tokens_with_its_eddsa_key() -> None:
    tw = await token_world()
    _, credentials = await fakes.app(tw.seeded, "billing")
    await tw.keys.rotate("acme", EDDSA, 0)
    tw.clock.advance(tw.keys.policy.lead_seconds)
    issued = await tw.exchange(credentials.client_id, credentials.client_secret)
    header = jwt.get_unverified_header(issued.access_token)
    assert header["alg"] == EDDSA
    published = jwt.PyJWKSet.from_dict(await tw.keys.jwks("acme"))
    [key] = [k for k in published.keys if k.key_id == header["kid"]]
    # The world's clock stands in 2030: the signature is checked, the time claims are not.
    claims = jwt.decode(
        issued.access_token,
        key.key,
        algorithms=[EDDSA],
        options={"verify_aud": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["app_code"] == "billing"


# -- who may list and rotate ----------------------------------------------------------------------


async def test_listing_needs_key_read_and_rotating_needs_key_write_on_the_tenant(w: World) -> None:
    admin = SigningKeyAdmin(w.keys)
    reader = fakes.tenant_admin("acme", "key:read")
    assert [k.state for k in await admin.list(reader, "acme")] == ["current"]
    with pytest.raises(PermissionDenied) as caught:
        await admin.rotate(reader, "acme", "", 0)
    assert (caught.value.reason, caught.value.metadata) == (
        "PERMISSION_MISSING",
        {"permission": "key:write"},
    )
    with pytest.raises(PermissionDenied) as caught:
        await admin.list(fakes.tenant_admin("acme", "app:read"), "acme")
    assert caught.value.metadata == {"permission": "key:read"}
    assert len(await w.store.signing_keys("acme")) == 1


async def test_another_tenants_admin_is_refused_before_anything_is_read(w: World) -> None:
    admin = SigningKeyAdmin(w.keys)
    for call in (
        admin.list(fakes.tenant_admin("globex"), "acme"),
        admin.rotate(fakes.tenant_admin("globex"), "acme", "", 0),
    ):
        with pytest.raises(PermissionDenied) as caught:
            await call
        assert caught.value.reason == "TENANT_FORBIDDEN"
    assert w.store.calls == []


async def test_an_operator_may_rotate_any_tenant_and_the_rotation_is_audited(w: World) -> None:
    admin = SigningKeyAdmin(w.keys)
    with capture_logs() as logs:
        key = await admin.rotate(fakes.operator(), "acme", EDDSA, 0)
    [event] = [e for e in logs if e.get("action") == "signing_key.rotate"]
    assert event["event"] == "audit"
    assert (event["tenant"], event["target_id"], event["actor"], event["actor_type"]) == (
        "acme",
        key.kid,
        "tc_operator",
        "client",
    )
    assert event["details"]["alg"] == EDDSA


# -- the first key, made when the tenant is -------------------------------------------------------


async def test_a_tenant_gets_its_first_key_when_the_registry_announces_it() -> None:
    bus = InProcessChangeBus()
    tw = await token_world(changes=bus)
    store = MemoryKeyStore()
    keys = KeyService(
        store, EnvelopeCipher(Keyring.parse(fakes.ENCRYPTION_KEYS)), tw.registry, now=tw.clock
    )
    provisioner = FirstKeyProvisioner(keys, bus)
    await provisioner.start()
    try:
        await tw.features.tenants.create(
            fakes.operator(), TenantDraft(slug="initech", display_name="Initech")
        )
        for _ in range(20):  # the notification is delivered in this loop, no time passes
            if await store.signing_keys("initech"):
                break
            await asyncio.sleep(0)
        [key] = await store.signing_keys("initech")
        assert (key.state, key.alg) == ("current", ES256)
    finally:
        await provisioner.stop()


async def test_notifications_of_other_kinds_or_unknown_tenants_make_no_key(w: World) -> None:
    provisioner = FirstKeyProvisioner(w.keys, InProcessChangeBus())
    await provisioner.handle(Change("acme", "app", "a1"))
    await provisioner.handle(Change("*", "tenant", "p1"))
    await provisioner.handle(Change("ghost", "tenant", "t1"))
    assert await w.store.signing_keys("acme") == []
    assert await w.store.signing_keys("ghost") == []


async def test_a_tenant_asked_for_before_it_existed_still_gets_its_key_when_announced(
    w: World,
) -> None:
    w.tenants.known.discard("initech")
    with pytest.raises(NotFound):
        await w.keys.jwks("initech")
    w.tenants.known.add("initech")
    await FirstKeyProvisioner(w.keys, InProcessChangeBus()).handle(
        Change("initech", "tenant", "t1")
    )
    assert len(await w.store.signing_keys("initech")) == 1


class BrokenFeed:
    """A change feed that fails its first subscriptions, then delivers ``changes``."""

    def __init__(self, failures: int, changes: list[Change]) -> None:
        self.failures = failures
        self.changes = changes
        self.subscriptions = 0

    async def subscribe(self) -> Any:
        self.subscriptions += 1
        if self.subscriptions <= self.failures:
            raise ConnectionError("redis is down")
        for change in self.changes:
            yield change
        await asyncio.Event().wait()


async def test_a_broken_change_feed_is_subscribed_to_again(w: World) -> None:
    feed = BrokenFeed(2, [Change("acme", "tenant", "t1")])
    provisioner = FirstKeyProvisioner(w.keys, feed, retry_seconds=0)
    await provisioner.start()
    try:
        for _ in range(50):
            if await w.store.signing_keys("acme"):
                break
            await asyncio.sleep(0)
        assert feed.subscriptions == 3
        assert len(await w.store.signing_keys("acme")) == 1
    finally:
        await provisioner.stop()


# -- the windows' numbers -------------------------------------------------------------------------


# Refresh tokens are opaque (ARCHITECTURE §3): no key signs them, so their lifetime is not a
# token lifetime the key's window must cover.
LIFETIME_OPAQUE = "token_lifetimes.refresh_token_seconds"


def test_the_longest_token_lifetime_is_the_registrys_ceiling_for_every_signed_token() -> None:
    ceilings = [high for key, (_, high) in _LIFETIME_BOUNDS.items() if key != LIFETIME_OPAQUE]
    assert set(_LIFETIME_BOUNDS) <= set(SETTING_KEYS)
    assert max(ceilings) == LONGEST_TOKEN_SECONDS


def test_the_default_lead_is_an_hour_in_production_and_the_jwks_max_age_never_exceeds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEYS", "SECRET_PEPPERS"):
        monkeypatch.setenv(f"TESSERA_{name}", "x")
    monkeypatch.setenv("TESSERA_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("TESSERA_REDIS_URL", "redis://h")
    production = load_settings(mode="production")
    assert (production.rotation_lead_seconds, production.jwks_cache_seconds) == (3600, 300)
    development = load_settings(mode="development")
    assert (development.rotation_lead_seconds, development.jwks_cache_seconds) == (60, 60)
    short = load_settings(key_rotation_lead_seconds=120, jwks_max_age_seconds=600)
    assert (short.rotation_lead_seconds, short.jwks_cache_seconds) == (120, 120)


def test_bad_key_settings_are_reported_with_their_variable_names() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(key_retire_margin_seconds=10, key_rotation_lead_seconds=0)
    message = str(caught.value)
    assert "TESSERA_KEY_RETIRE_MARGIN_SECONDS" in message
    assert "TESSERA_KEY_ROTATION_LEAD_SECONDS" in message
