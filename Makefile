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

bench: setup  ## Token-path benchmarks (figures are ratios within one run)
	$(PY) -m pytest benchmarks -q -p no:cacheprovider --benchmark-only

clean:
	rm -rf .venv gen .tessera-data .pytest_cache .mypy_cache .ruff_cache
