from services.common.alembic_env import run
from services.token.storage.tables import metadata

run(metadata)
