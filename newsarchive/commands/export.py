"""``scrapy export``: the PostgreSQL archive to JSON Lines (gzip), CSV and Parquet + manifest.

Examples::

    scrapy export --output exports/naenara-2024 --source "Naenara (En)" \\
        --since 2024-01-01 --until 2024-12-31
    scrapy export --revisions --format parquet

The database is ``NEWSARCHIVE_DATABASE_URL`` (environment or ``-s``) or ``--database-url``.
Bad arguments: one line on stderr, exit 2; a database that cannot be used: one line, exit 1.
No crawler and no reactor: the export is plain synchronous I/O.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

from newsarchive.export import (
    DEFAULT_BATCH_SIZE,
    FORMATS,
    ExportError,
    ExportFilters,
    export_archive,
    parse_date,
    parse_formats,
)
from newsarchive.settings_helpers import data_dir


class _UsageFailure(Exception):
    """An argument problem, reported in one line with exit status 2."""


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--output DIR] [--source LABEL] [--since DATE] [--until DATE] [--revisions]"

    def short_desc(self) -> str:
        return "Export the PostgreSQL archive to JSON Lines, CSV and Parquet, with a manifest"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        # argparse would print usage plus an error; one line is what scripts and cron want.
        parser.error = self._usage_error  # type: ignore[method-assign]
        group = parser.add_argument_group("export options")
        group.add_argument("--output", metavar="DIR", help="folder (default data/exports/<time>)")
        group.add_argument("--source", metavar="LABEL", help='e.g. "Naenara (En)"')
        group.add_argument("--since", metavar="DATE", help="published on or after (YYYY-MM-DD)")
        group.add_argument("--until", metavar="DATE", help="published on or before (YYYY-MM-DD)")
        group.add_argument(
            "--revisions", action="store_true", help="one row per stored version of each article"
        )
        group.add_argument(
            "--format",
            default=",".join(FORMATS),
            help=f"comma-separated subset of {','.join(FORMATS)} (default all)",
        )
        group.add_argument("--database-url", metavar="URL", help="default NEWSARCHIVE_DATABASE_URL")
        group.add_argument(
            "--batch-size",
            default=str(DEFAULT_BATCH_SIZE),
            metavar="N",
            help=f"rows per fetch and per Parquet row group (default {DEFAULT_BATCH_SIZE})",
        )

    @staticmethod
    def _usage_error(message: str) -> NoReturn:
        print(f"scrapy export: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            filters, formats, folder, url, batch_size = self._arguments(args, opts)
        except (_UsageFailure, ExportError) as exc:
            self._fail(str(exc), 2)
            return
        try:
            result = export_archive(
                url,
                folder,
                filters=filters,
                formats=formats,
                batch_size=batch_size,
                escape_formulas=self.settings.getbool("NEWSARCHIVE_CSV_ESCAPE_FORMULAS"),
            )
        except ExportError as exc:
            self._fail(str(exc), 1)
            return
        except OSError as exc:
            self._fail(f"cannot write the export to {folder}: {exc}", 1)
            return
        names = ", ".join(path.name for path in result.files)
        print(f"scrapy export: {result.rows} rows to {result.folder} ({names}); {result.manifest}")

    def _arguments(
        self, args: list[str], opts: argparse.Namespace
    ) -> tuple[ExportFilters, tuple[str, ...], Path, str, int]:
        if args:
            raise _UsageFailure(f"unexpected argument(s): {' '.join(args)}")
        since = parse_date(opts.since, "--since") if opts.since is not None else None
        until = parse_date(opts.until, "--until") if opts.until is not None else None
        if since and until and since > until:
            raise _UsageFailure(f"--since {since} is after --until {until}")
        source = opts.source.strip() if opts.source is not None else None
        if source == "":
            raise _UsageFailure("--source is empty")
        try:
            batch_size = int(opts.batch_size)
        except ValueError:
            batch_size = 0
        if batch_size < 1:
            raise _UsageFailure(f"--batch-size {opts.batch_size!r} is not a positive integer")
        assert self.settings is not None
        url = (opts.database_url or self.settings.get("NEWSARCHIVE_DATABASE_URL") or "").strip()
        if not url:
            raise _UsageFailure("no database: set NEWSARCHIVE_DATABASE_URL or --database-url")
        if opts.output:
            folder = Path(opts.output).expanduser()
        else:
            folder = data_dir(self.settings) / "exports" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        if folder.exists() and not folder.is_dir():
            raise _UsageFailure(f"--output {folder} is not a folder")
        filters = ExportFilters(source, since, until, bool(opts.revisions))
        return filters, parse_formats(opts.format), folder, url, batch_size

    def _fail(self, message: str, code: int) -> None:
        print(f"scrapy export: error: {message}", file=sys.stderr)
        self.exitcode = code
