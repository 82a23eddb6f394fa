"""What the database commands share: ``--database-url``, the URL check, one-line failures.

``scrapy dbmigrate``, ``scrapy dbloadspill`` and ``scrapy export`` all name the archive the
same way (``--database-url``, else the NEWSARCHIVE_DATABASE_URL setting) and fail the same
way: one line on stderr, exit 2 for a usage problem (a missing URL included), 1 when the
database cannot be used. It lives outside newsarchive.commands because Scrapy would take any
command class there for a command of its own.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

#: Exit status of a usage problem (bad or missing option) and of an unusable database.
USAGE_ERROR = 2
DATABASE_ERROR = 1


class DatabaseCommand(ScrapyCommand):
    """A project command on the archive named by ``--database-url`` or the setting."""

    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_LEVEL": "WARNING"}
    #: The command's name in its error lines ("scrapy dbmigrate: error: …").
    command_name: ClassVar[str]

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        # argparse would print usage plus an error; one line is what scripts and cron want.
        parser.error = self._usage_error  # type: ignore[method-assign]
        parser.add_argument(
            "--database-url",
            metavar="URL",
            help="database URL (default: the NEWSARCHIVE_DATABASE_URL setting)",
        )

    def _usage_error(self, message: str) -> NoReturn:
        print(f"scrapy {self.command_name}: error: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)

    def unexpected(self, args: list[str]) -> bool:
        """Whether there are arguments the command does not take (after a one-line error,
        exit 2): Scrapy passes unknown options through, and a stale ``--url`` must not be
        ignored in silence."""
        if args:
            self.fail(f"unexpected argument(s): {' '.join(args)}", USAGE_ERROR)
        return bool(args)

    def database_url(self, opts: argparse.Namespace) -> str | None:
        """The URL to use; None (after a one-line error, exit 2) when there is none."""
        assert self.settings is not None
        url = (opts.database_url or self.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            self.fail(
                "no database: set NEWSARCHIVE_DATABASE_URL (environment or -s) or --database-url",
                USAGE_ERROR,
            )
            return None
        return url

    def fail(self, message: str, status: int = DATABASE_ERROR) -> None:
        print(f"scrapy {self.command_name}: error: {message}", file=sys.stderr)
        self.exitcode = status
