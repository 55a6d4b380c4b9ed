"""Shared body of every context's Alembic ``env.py`` (online mode only). Each context's
``env.py`` passes its own table definitions, so no common module knows every context's
tables."""

from __future__ import annotations

from alembic import context as alembic_context
from sqlalchemy import MetaData, text

from services.common.db import schema_name, sync_engine
from services.common.settings import Settings


def run(metadata: MetaData) -> None:
    config = alembic_context.config
    settings: Settings = config.attributes["settings"]
    context: str = config.attributes["context"]
    schema = schema_name(settings, context)
    engine = sync_engine(settings, context)
    translated = engine.execution_options(schema_translate_map={None: schema})
    with translated.connect() as connection:
        if schema is not None:
            # Table-level DDL (create_table, create_index) follows the translate map; ALTER
            # statements name their table as written, so point the search path there too.
            connection.execute(text(f'SET search_path TO "{schema}"'))
            connection.commit()  # a session setting; leaves no transaction open for Alembic's
        alembic_context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            render_as_batch=settings.database_url is None,
            compare_type=True,
        )
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()
    engine.dispose()
