#!/usr/bin/env bash
# Runs the test suite. Integration tests need PostgreSQL and Redis:
#  - TESSERA_TEST_DATABASE_URL / TESSERA_TEST_REDIS_URL when set;
#  - otherwise the local servers on 127.0.0.1:5432 (database "test") and 127.0.0.1:6379
#    when they answer (the project's machines run both);
#  - otherwise tests/conftest.py starts them with testcontainers when a Docker engine runs,
#    and fails with instructions when none does (never a silent skip).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ] && .venv/bin/python - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
except OSError:
    sys.exit(1)
PY
then
  export TESSERA_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
fi
if [ -z "${TESSERA_TEST_REDIS_URL:-}" ] && .venv/bin/python - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
except OSError:
    sys.exit(1)
PY
then
  export TESSERA_TEST_REDIS_URL="redis://127.0.0.1:6379/0"
fi

exec .venv/bin/python -m pytest "$@"
