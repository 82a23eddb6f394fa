"""What the PostgreSQL commands share: the --url option, the URL check, one-line failures.

It lives outside newsarchive.commands because Scrapy would take any command class there
for a command of its own.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand


class DatabaseCommand(ScrapyCommand):
    """A project command that talks to the archive named by --url or NEWSARCHIVE_DATABASE_URL."""

    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_LEVEL": "WARNING"}
    #: The command's name in its error lines ("scrapy dbmigrate: error: …").
    command_name: ClassVar[str]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--url", help="database URL (default: the NEWSARCHIVE_DATABASE_URL setting)"
        )

    def database_url(self, opts: argparse.Namespace) -> str | None:
        """The URL to use; None (after a one-line error) when there is none."""
        assert self.settings is not None
        url = (opts.url or self.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            self._fail("NEWSARCHIVE_DATABASE_URL is not set (environment or -s), nor --url")
            return None
        return url

    def _fail(self, message: str) -> None:
        print(f"scrapy {self.command_name}: error: {message}", file=sys.stderr)
        self.exitcode = 1
