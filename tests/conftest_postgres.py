"""PostgreSQL fixtures (a pytest plugin, loaded from tests/conftest.py).

``postgres_server``: one private server for the session (tests/services.py). ``pg_url``: a
fresh, migrated database per test, so tests never see each other's rows. When no server can
be started the tests are skipped with the reason, except under ``CI=true``, where a missing
server is a broken CI image and fails.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import psycopg
import pytest

from newsarchive.db import migrate
from tests.services import PostgresServer, PostgresUnavailable


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server: PostgresServer | None = None
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        if server is not None:
            server.cleanup()
        if _ci():
            pytest.fail(f"CI=true and no PostgreSQL server could be started: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    try:
        yield server
    finally:
        server.cleanup()


def migrate_url(url: str) -> None:
    """Apply the project's migrations to the database at ``url``."""

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate.migrate(conn)

    asyncio.run(run())


@pytest.fixture
def pg_empty_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database without the schema."""
    url = postgres_server.create_database()
    yield url
    if postgres_server.running:
        postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def pg_url(pg_empty_url: str) -> str:
    """A fresh database with the archive schema."""
    migrate_url(pg_empty_url)
    return pg_empty_url
