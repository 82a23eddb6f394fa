"""``scrapy dbmigrate``: bring the PostgreSQL archive's schema up to date (idempotent).

Why a project command: it reads NEWSARCHIVE_DATABASE_URL the way a crawl does (environment,
settings, ``-s``), so "migrate, then crawl" needs one configuration.
"""

from __future__ import annotations

import argparse
import asyncio

import psycopg

from newsarchive.db import migrate
from newsarchive.db.command import DatabaseCommand
from newsarchive.db.store import DatabaseUnreachable, one_line_error
from newsarchive.db.urls import InvalidDatabaseURL, describe_target


class Command(DatabaseCommand):
    command_name = "dbmigrate"

    def syntax(self) -> str:
        return "[--status] [--url URL]"

    def short_desc(self) -> str:
        return "Apply pending PostgreSQL archive migrations (NEWSARCHIVE_DATABASE_URL)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--status", action="store_true", help="list applied and pending migrations only"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        url = self.database_url(opts)
        if url is None:
            return
        try:
            lines = asyncio.run(run_migrations(url, status_only=opts.status))
        except (DatabaseUnreachable, InvalidDatabaseURL, migrate.MigrationError) as exc:
            self._fail(str(exc))
            return
        for line in lines:
            print(line)


async def run_migrations(url: str, status_only: bool = False) -> list[str]:
    """Apply (or list) migrations; the lines to print. Raises DatabaseUnreachable."""
    target = describe_target(url)
    migrations = migrate.load_migrations()
    try:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=10
        ) as conn:
            if status_only:
                applied = await migrate.applied_versions(conn)
                return [
                    f"{'applied' if m.version in applied else 'pending'} {m.label}"
                    for m in migrations
                ]
            done = await migrate.migrate(conn, migrations)
    except psycopg.Error as exc:
        raise DatabaseUnreachable(f"PostgreSQL at {target}: {one_line_error(exc, url)}") from None
    if not done:
        return [f"{target}: schema up to date (version {migrate.latest_version(migrations)})"]
    return [f"{target}: applied {m.label}" for m in done]
