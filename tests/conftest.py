"""Shared fixtures: real PostgreSQL and Redis for integration tests.

Resolution order (ARCHITECTURE §6): TESSERA_TEST_DATABASE_URL / TESSERA_TEST_REDIS_URL;
else testcontainers when a Docker engine answers; else the test fails with instructions.
Nothing is skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_HOW_TO = (
    "Integration tests need PostgreSQL and Redis. Set TESSERA_TEST_DATABASE_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) and TESSERA_TEST_REDIS_URL "
    "(e.g. redis://127.0.0.1:6379/0), run them locally for `make test` to find, or start a "
    "Docker engine so testcontainers can."
)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("TESSERA_TEST_DATABASE_URL")
    if url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)
        return
    if not _docker_available():
        pytest.fail(_HOW_TO, pytrace=False)
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TESSERA_TEST_REDIS_URL")
    if url:
        yield url
        return
    if not _docker_available():
        pytest.fail(_HOW_TO, pytrace=False)
    from testcontainers.redis import RedisContainer

    with RedisContainer("redis:7-alpine") as container:
        host = container.get_container_host_ip()
        yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
