"""``scrapy dbmigrate``: bring the PostgreSQL archive's schema up to date (idempotent).

Why a project command: it reads NEWSARCHIVE_DATABASE_URL the way a crawl does (environment,
settings, ``-s``), so "migrate, then crawl" needs one configuration.
"""

from __future__ import annotations

import argparse
import asyncio

from newsarchive.db.command import DatabaseCommand
from newsarchive.db.errors import ArchiveUnavailable


class Command(DatabaseCommand):
    command_name = "dbmigrate"

    def syntax(self) -> str:
        return "[--status] [--database-url URL]"

    def short_desc(self) -> str:
        return "Apply pending PostgreSQL archive migrations (NEWSARCHIVE_DATABASE_URL)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--status", action="store_true", help="list applied and pending migrations only"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module on every `scrapy` run.
        from newsarchive.db import migrate

        if self.unexpected(args):
            return
        url = self.database_url(opts)
        if url is None:
            return
        try:
            lines = asyncio.run(migrate.migrate_url(url, status_only=opts.status))
        except (ArchiveUnavailable, ValueError, migrate.MigrationError) as exc:
            self.fail(str(exc))
            return
        for line in lines:
            print(line)
