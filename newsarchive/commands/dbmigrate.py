"""``scrapy dbmigrate``: bring the PostgreSQL archive's schema up to date (idempotent).

Why a project command: it reads NEWSARCHIVE_DATABASE_URL the way a crawl does (environment,
settings, ``-s``), so "migrate, then crawl" needs one configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, ClassVar

import psycopg
from scrapy.commands import ScrapyCommand

from newsarchive.db import migrate
from newsarchive.db.store import DatabaseUnreachable, one_line_error
from newsarchive.db.urls import InvalidDatabaseURL, describe_target


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_LEVEL": "WARNING"}

    def syntax(self) -> str:
        return "[--status] [--url URL]"

    def short_desc(self) -> str:
        return "Apply pending PostgreSQL archive migrations (NEWSARCHIVE_DATABASE_URL)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--status", action="store_true", help="list applied and pending migrations only"
        )
        parser.add_argument(
            "--url", help="database URL (default: the NEWSARCHIVE_DATABASE_URL setting)"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        url = (opts.url or self.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            self._fail("NEWSARCHIVE_DATABASE_URL is not set (environment or -s), nor --url")
            return
        try:
            lines = asyncio.run(run_migrations(url, status_only=opts.status))
        except (DatabaseUnreachable, InvalidDatabaseURL, migrate.MigrationError) as exc:
            self._fail(str(exc))
            return
        for line in lines:
            print(line)

    def _fail(self, message: str) -> None:
        print(f"scrapy dbmigrate: error: {message}", file=sys.stderr)
        self.exitcode = 1


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
