"""Each context's migrations produce exactly its table definitions, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from services.common.db import sync_engine
from services.common.migrate import upgrade
from services.common.settings import CONTEXTS, Settings
from services.invites.storage import tables as invites_tables
from services.registry import schema as registry_schema
from services.token.storage import tables as token_tables

pytestmark = pytest.mark.integration

# Each context's own table definitions (its migrations' env.py passes the same).
METADATA = {
    "registry": registry_schema.metadata,
    "token": token_tables.metadata,
    "invites": invites_tables.metadata,
}


def _diff(settings: Settings, context: str, schema: str | None) -> list[object]:
    engine = sync_engine(settings, context).execution_options(schema_translate_map={None: schema})
    with engine.connect() as connection:
        if schema is not None:
            # Reflection ignores schema_translate_map; point the search path at the schema.
            connection.execute(text(f'SET search_path TO "{schema}"'))
        migration = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_schemas": False}
        )
        return list(compare_metadata(migration, METADATA[context]))


def test_sqlite_migrations_match_the_table_definitions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings)
    upgrade(settings)  # idempotent
    for context in CONTEXTS:
        assert _diff(settings, context, None) == [], context


def test_postgres_migrations_match_the_table_definitions(database_url: str, tmp_path: Path) -> None:
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        db_schema_prefix=prefix,
    )
    try:
        upgrade(settings)
        for context in CONTEXTS:
            assert _diff(settings, context, f"{prefix}{context}") == [], context
    finally:
        engine = create_engine(database_url)
        with engine.begin() as connection:
            for context in CONTEXTS:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{context}" CASCADE'))
        engine.dispose()
