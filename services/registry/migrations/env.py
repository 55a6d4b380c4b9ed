from services.common.alembic_env import run
from services.registry.schema import metadata

run(metadata)
