from services.common.alembic_env import run
from services.invites.storage.tables import metadata

run(metadata)
