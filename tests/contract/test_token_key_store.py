"""The token service's key store (services.token.domain.keys.KeyStore) behaves the same in
memory, on SQLite and on PostgreSQL: the signing path's one read, what is published when,
the first key, a pending rotation, promotion (atomic, one winner among racing replicas, one
current key per tenant whatever the algorithm) and forgetting keys past their window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.common.db import Database
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.token.domain.keys import KeyStore, StoredKey
from services.token.storage.memory import MemoryKeyStore
from services.token.storage.sql import SqlKeyStore

BACKENDS = ("memory", "sqlite", "postgresql")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def sqlite_keys(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KeyStore]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("token-keys-sqlite")))
    upgrade(settings, ("token",))
    database = Database(settings, "token")
    yield SqlKeyStore(database)
    await database.dispose()


@pytest.fixture(scope="module")
async def postgresql_keys(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KeyStore]:
    prefix = f"k{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("token-keys-pg")),
        database_url=database_url,
        db_schema_prefix=prefix,
    )
    upgrade(settings, ("token",))
    database = Database(settings, "token")
    try:
        yield SqlKeyStore(database)
    finally:
        await database.dispose()
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}token" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="module")
def memory_keys() -> KeyStore:
    return MemoryKeyStore()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> KeyStore:
    """The key store on each backend in turn."""
    fixture: KeyStore = request.getfixturevalue(f"{request.param}_keys")
    return fixture


@pytest.fixture
def tenant() -> str:
    return f"tn-{uuid.uuid4().hex[:8]}"


def key(tenant: str, state: str, alg: str = "ES256", **fields: Any) -> StoredKey:
    values: dict[str, Any] = {
        "kid": uuid.uuid4().hex,
        "tenant": tenant,
        "alg": alg,
        "state": state,
        "private_key_ciphertext": "ciphertext",
        "public_jwk": {"kty": "EC", "alg": alg, "x": "x"},
        "created_at": NOW,
        "activated_at": NOW if state == "current" else None,
        "publish_until": None,
        "activates_at": NOW + HOUR if state == "next" else None,
    }
    values.update(fields)
    return StoredKey(**values)


def kids(keys: list[StoredKey]) -> list[str]:
    return [k.kid for k in keys]


async def rotated(store: KeyStore, tenant: str) -> tuple[StoredKey, StoredKey]:
    """A tenant with a current key and a pending next one."""
    current = key(tenant, "current")
    pending = key(tenant, "next", created_at=NOW + timedelta(seconds=1))
    assert await store.insert_current_key(current)
    assert await store.insert_next_key(pending) is None
    return current, pending


async def test_a_stored_key_reads_back_field_for_field(store: KeyStore, tenant: str) -> None:
    current, pending = await rotated(store, tenant)
    assert await store.signing_keys(tenant) == [current, pending]
    assert await store.published_keys(tenant, NOW) == [current, pending]


async def test_the_first_key_is_refused_when_the_tenant_has_a_current_one_of_any_alg(
    store: KeyStore, tenant: str
) -> None:
    assert await store.insert_current_key(key(tenant, "current"))
    assert not await store.insert_current_key(key(tenant, "current"))
    assert not await store.insert_current_key(key(tenant, "current", alg="EdDSA"))
    assert len(await store.signing_keys(tenant)) == 1


async def test_first_keys_inserted_at_once_leave_one(store: KeyStore, tenant: str) -> None:
    results = await asyncio.gather(
        *(store.insert_current_key(key(tenant, "current")) for _ in "ab")
    )
    assert sorted(results) == [False, True]
    assert len(await store.signing_keys(tenant)) == 1


async def test_a_second_pending_key_is_refused_with_the_one_in_the_way(
    store: KeyStore, tenant: str
) -> None:
    _, pending = await rotated(store, tenant)
    assert await store.insert_next_key(key(tenant, "next", alg="EdDSA")) == pending
    assert kids(await store.signing_keys(tenant))[-1] == pending.kid
    assert len(await store.signing_keys(tenant)) == 2


async def test_pending_keys_inserted_at_once_leave_one(store: KeyStore, tenant: str) -> None:
    assert await store.insert_current_key(key(tenant, "current"))
    results = await asyncio.gather(*(store.insert_next_key(key(tenant, "next")) for _ in "abc"))
    assert results.count(None) == 1
    assert len([k for k in await store.signing_keys(tenant) if k.state == "next"]) == 1


async def test_promotion_retires_the_current_key_and_makes_the_pending_one_current(
    store: KeyStore, tenant: str
) -> None:
    current, pending = await rotated(store, tenant)
    at, until = NOW + HOUR, NOW + 25 * HOUR
    assert await store.promote(tenant, pending.kid, at, until)
    [signing] = await store.signing_keys(tenant)
    assert (signing.kid, signing.state, signing.activated_at) == (pending.kid, "current", at)
    assert signing.activates_at == pending.activates_at
    published = {k.kid: k for k in await store.published_keys(tenant, at)}
    assert (published[current.kid].state, published[current.kid].publish_until) == (
        "retired",
        until,
    )


async def test_a_key_of_the_retired_ones_algorithm_can_become_current(
    store: KeyStore, tenant: str
) -> None:
    _, pending = await rotated(store, tenant)  # both ES256: one current per (tenant, alg)
    assert await store.promote(tenant, pending.kid, NOW + HOUR, NOW + 25 * HOUR)
    nxt = key(tenant, "next", alg="EdDSA", created_at=NOW + 2 * HOUR)
    assert await store.insert_next_key(nxt) is None
    assert await store.promote(tenant, nxt.kid, NOW + 3 * HOUR, NOW + 27 * HOUR)
    current = [
        k for k in await store.published_keys(tenant, NOW + 3 * HOUR) if k.state == "current"
    ]
    assert kids(current) == [nxt.kid]


async def test_only_the_pending_key_is_promoted_and_only_once(store: KeyStore, tenant: str) -> None:
    current, pending = await rotated(store, tenant)
    assert not await store.promote(tenant, current.kid, NOW, NOW + HOUR)
    assert not await store.promote(tenant, "no-such-kid", NOW, NOW + HOUR)
    assert not await store.promote(f"{tenant}-other", pending.kid, NOW, NOW + HOUR)
    assert await store.promote(tenant, pending.kid, NOW, NOW + HOUR)
    assert not await store.promote(tenant, pending.kid, NOW, NOW + 2 * HOUR)
    published = {k.kid: k.publish_until for k in await store.published_keys(tenant, NOW)}
    assert published[current.kid] == NOW + HOUR


async def test_replicas_promoting_at_once_have_one_winner(store: KeyStore, tenant: str) -> None:
    current, pending = await rotated(store, tenant)
    results = await asyncio.gather(
        *(store.promote(tenant, pending.kid, NOW + HOUR, NOW + 2 * HOUR) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    states = {k.kid: k.state for k in await store.published_keys(tenant, NOW + HOUR)}
    assert states == {current.kid: "retired", pending.kid: "current"}


async def test_a_retired_key_is_published_until_its_window_ends(
    store: KeyStore, tenant: str
) -> None:
    current, pending = await rotated(store, tenant)
    until = NOW + 25 * HOUR
    await store.promote(tenant, pending.kid, NOW + HOUR, until)
    assert kids(await store.published_keys(tenant, until - timedelta(seconds=1))) == [
        current.kid,
        pending.kid,
    ]
    assert kids(await store.published_keys(tenant, until)) == [pending.kid]
    assert kids(await store.signing_keys(tenant)) == [pending.kid]


async def test_forgetting_deletes_only_this_tenants_keys_past_their_window(
    store: KeyStore, tenant: str
) -> None:
    other = f"{tenant}-other"
    current, pending = await rotated(store, tenant)
    other_current, other_pending = await rotated(store, other)
    until = NOW + 25 * HOUR
    await store.promote(tenant, pending.kid, NOW + HOUR, until)
    await store.promote(other, other_pending.kid, NOW + HOUR, until)
    assert await store.forget_retired(tenant, until - timedelta(seconds=1)) == 0
    assert await store.forget_retired(tenant, until) == 1
    assert kids(await store.published_keys(tenant, NOW)) == [pending.kid]
    assert kids(await store.published_keys(other, NOW)) == [other_current.kid, other_pending.kid]
    assert current.kid not in kids(await store.signing_keys(tenant))


async def test_a_tenant_without_keys_has_none_to_sign_or_publish(
    store: KeyStore, tenant: str
) -> None:
    assert await store.signing_keys(tenant) == []
    assert await store.published_keys(tenant, NOW) == []
    assert await store.forget_retired(tenant, NOW) == 0
