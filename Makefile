# Tessera — the two commands a newcomer needs are `make run` and `make test`.
.PHONY: run test setup protos lint typecheck check migrate bench clean

PY := .venv/bin/python

run: setup  ## Start all four services in one process (SQLite, in-process cache)
	.venv/bin/tessera serve

test: setup  ## Run the whole test suite against real PostgreSQL and Redis
	./tools/test.sh

setup:
	./tools/bootstrap.sh

protos:
	./tools/bootstrap.sh && $(PY) tools/gen_protos.py --force

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy

check: lint typecheck test

migrate: setup  ## Apply migrations to TESSERA_DATABASE_URL (what the Kubernetes Job runs)
	.venv/bin/tessera migrate

# BACKEND=embedded|postgres|both (default: both when PostgreSQL and Redis answer, else embedded);
# BENCH_ARGS=--quick skips the scale benchmark (see .venv/bin/python tools/bench.py --help).
BACKEND ?= auto
BENCH_ARGS ?=
bench: setup  ## Token path and scale, measured from outside (compare figures within one run)
	$(PY) tools/bench.py --backend $(BACKEND) $(BENCH_ARGS)

clean:
	rm -rf .venv gen .tessera-data .pytest_cache .mypy_cache .ruff_cache
