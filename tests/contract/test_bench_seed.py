"""``make bench``'s scale seed (benchmarks/seed.py) writes rows straight into the registry's
tables, bypassing its use cases. These tests pin that what it writes is what the registry
reads on the token path (SqlResolutionStore.client_facts), on SQLite and on PostgreSQL (where
the seed uses COPY), and the rule that marks a benchmark run invalid."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Table, create_engine, func, insert, select, text

from benchmarks.measure import Measurement, basic_authorization
from benchmarks.seed import MEASURED_APP, MEASURED_ROLE, Credentials, Shape, seed_tenant
from services.common.db import Database
from services.common.hashing import PepperRing, SecretHasher
from services.common.migrate import upgrade
from services.common.settings import Settings
from services.registry import schema as t
from services.registry.resolution.sql import SqlResolutionStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHAPE = Shape(apps=4, users=10, permissions=60, cold_clients=2)
HASHER = SecretHasher(PepperRing.parse(PepperRing.generate_entry("p1")))


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        chosen = Settings(data_dir=tmp_path)
    else:
        database_url = request.getfixturevalue("database_url")
        chosen = Settings(
            data_dir=tmp_path,
            database_url=database_url,
            db_schema_prefix=f"s{uuid.uuid4().hex[:8]}_",
        )
    upgrade(chosen, ("registry",))
    database = Database(chosen, "registry")
    async with database.transaction() as connection:
        await connection.execute(
            insert(t.tenants).values(
                id="tenant-1",
                slug="seeded",
                display_name="Seeded",
                app_limit=25,
                control_plane=False,
                settings={},
                version=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            insert(t.regions).values(
                id="region-1",
                code="eu",
                name="EU",
                active=True,
                version=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            insert(t.region_databases).values(
                region_id="region-1", db_code="eu-1", position=0, active=True, created_at=NOW
            )
        )
    await database.dispose()
    yield chosen
    if chosen.database_url is not None:
        engine = create_engine(chosen.database_url)
        with engine.begin() as connection:
            connection.execute(
                text(f'DROP SCHEMA IF EXISTS "{chosen.db_schema_prefix}registry" CASCADE')
            )
        engine.dispose()


async def test_seeded_measured_clients_authenticate_and_carry_the_role_and_its_50_permissions(
    settings: Settings,
) -> None:
    seeded = await seed_tenant(settings, HASHER, "seeded", "eu", SHAPE)

    assert len(seeded.cold) == 2
    assert len(seeded.permissions) == 50
    database = Database(settings, "registry")
    try:
        async with database.read() as connection:
            store = SqlResolutionStore(connection, settings.database_url is not None)
            for client in (seeded.warm, *seeded.cold):
                facts = await store.client_facts("tenant-1", client.client_id)
                assert facts is not None
                assert facts.enabled
                assert facts.confidential
                assert facts.grant_types == ("client_credentials",)
                assert [a.slug for a in facts.apps] == [MEASURED_APP]
                assert (facts.apps[0].region, facts.apps[0].db_code) == ("eu", "eu-1")
                assert [r.code for r in facts.roles] == [MEASURED_ROLE]
                assert {code for _, code in facts.roles[0].permissions} == seeded.permissions
                assert HASHER.verify(client.client_secret, facts.secrets[0].hash)
    finally:
        await database.dispose()


async def test_seed_writes_the_shape_and_bumps_the_tenants_snapshot_version(
    settings: Settings,
) -> None:
    seeded = await seed_tenant(settings, HASHER, "seeded", "eu", SHAPE)

    database = Database(settings, "registry")
    try:
        async with database.read() as connection:

            async def count(table: Table) -> int:
                counted = await connection.execute(select(func.count()).select_from(table))
                return int(counted.scalar_one())

            assert await count(t.apps) == 4
            assert await count(t.users) == 10
            assert await count(t.memberships) == 10
            assert await count(t.permissions) == 60
            assert await count(t.clients) == 4 + 2  # one per app, plus the cold ones
            version = (
                await connection.execute(
                    select(t.snapshot_versions.c.version).where(
                        t.snapshot_versions.c.scope == "seeded"
                    )
                )
            ).scalar_one()
            assert version == 1
    finally:
        await database.dispose()
    assert seeded.rows > 0


def test_a_run_is_invalid_above_one_failure_in_a_thousand() -> None:
    def run(requests: int, failures: int) -> Measurement:
        return Measurement("embedded", "token path", "row", requests=requests, failures=failures)

    assert run(1000, 1).valid
    assert not run(1000, 2).valid
    assert not run(0, 0).valid  # nothing completed: nothing was measured
    assert Measurement("embedded", "token path", "row", available=False).valid  # reported as n/a


def test_basic_authorization_form_encodes_before_base64() -> None:
    """RFC 6749 §2.3.1: a ':' in the client id must not split the pair."""
    assert basic_authorization(Credentials("a:b", "s+/")) == "Basic YSUzQWI6cyUyQiUyRg=="
