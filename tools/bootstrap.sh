#!/usr/bin/env bash
# Creates .venv from requirements.lock and generates the gRPC stubs.
# Idempotent and cheap when nothing changed: the install is skipped while the lock file and
# pyproject.toml are unchanged since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
UV="$(command -v uv || echo "python3 -m uv")"

stamp=.venv/.tessera-installed
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -x .venv/bin/python ] || $UV venv --quiet --python python3.11 .venv
  $UV pip sync --quiet --python .venv/bin/python requirements.lock
  $UV pip install --quiet --python .venv/bin/python --no-deps -e .
  echo "$want" > "$stamp"
fi

.venv/bin/python tools/gen_protos.py
