"""Alembic migrations per bounded context.

Each context keeps its own migration scripts (``services/<context>/migrations``) and its own
version table inside its own schema, so the contexts evolve independently. ``upgrade``
creates the schema (PostgreSQL) or the SQLite file when needed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.common.db import ensure_schema, schema_name, sync_engine
from services.common.settings import CONTEXTS, Settings

_SERVICES_DIR = Path(__file__).resolve().parent.parent


def alembic_config(settings: Settings, context: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SERVICES_DIR / context / "migrations"))
    config.attributes["settings"] = settings
    config.attributes["context"] = context
    return config


def upgrade(settings: Settings, contexts: tuple[str, ...] = CONTEXTS) -> None:
    """Bring every given context's schema to the newest revision (idempotent)."""
    for context in contexts:
        engine = sync_engine(settings, context)
        try:
            ensure_schema(engine, schema_name(settings, context))
        finally:
            engine.dispose()
        command.upgrade(alembic_config(settings, context), "head")
