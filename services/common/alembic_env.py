"""Shared body of every context's Alembic ``env.py`` (online mode only)."""

from __future__ import annotations

from alembic import context as alembic_context

from services.common.db import schema_name, sync_engine
from services.common.migrate import context_metadata
from services.common.settings import Settings


def run() -> None:
    config = alembic_context.config
    settings: Settings = config.attributes["settings"]
    context: str = config.attributes["context"]
    schema = schema_name(settings, context)
    engine = sync_engine(settings, context)
    translated = engine.execution_options(schema_translate_map={None: schema})
    with translated.connect() as connection:
        alembic_context.configure(
            connection=connection,
            target_metadata=context_metadata(context),
            version_table_schema=schema,
            render_as_batch=settings.database_url is None,
            compare_type=True,
        )
        with alembic_context.begin_transaction():
            alembic_context.run_migrations()
    engine.dispose()
