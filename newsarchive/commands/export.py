"""``scrapy export``: the PostgreSQL archive to JSON Lines (gzip), CSV, Parquet and an SQLite
snapshot for ``scrapy browse`` (``--format sqlite``), with a manifest.

Examples::

    scrapy export --output exports/naenara-2024 --source "Naenara (En)" \\
        --since 2024-01-01 --until 2024-12-31
    scrapy export --revisions --format parquet
    scrapy export --format sqlite --output exports/snapshot   # then: scrapy browse --file …

The database is ``NEWSARCHIVE_DATABASE_URL`` (environment or ``-s``) or ``--database-url``.
Bad arguments: one line on stderr, exit 2; a database that cannot be used: one line, exit 1.
A ``--source`` label no article carries is a bad argument too (exit 2, nothing written): the
line lists the labels the archive holds. ``--output`` must be new or empty, or hold an earlier
export and come with ``--replace``: the new set replaces it whole (written beside it, then
renamed into place), so a folder never mixes two exports.
No crawler and no reactor: the export is plain synchronous I/O.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from newsarchive.db.command import DATABASE_ERROR, USAGE_ERROR, DatabaseCommand
from newsarchive.settings_helpers import data_dir

if TYPE_CHECKING:
    from newsarchive.export import ExportFilters


class _UsageFailure(Exception):
    """An argument problem, reported in one line with exit status 2."""


class Command(DatabaseCommand):
    command_name = "export"
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return (
            "[--output DIR [--replace]] [--source LABEL] [--since DATE] [--until DATE] "
            "[--revisions]"
        )

    def short_desc(self) -> str:
        return "Export the PostgreSQL archive (JSON Lines, CSV, Parquet, SQLite) with a manifest"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        # Imported here (psycopg with it): Scrapy imports every command module on every run.
        from newsarchive.export import DEFAULT_BATCH_SIZE, DEFAULT_FORMATS, FORMATS

        super().add_options(parser)
        group = parser.add_argument_group("export options")
        group.add_argument("--output", metavar="DIR", help="folder (default data/exports/<time>)")
        group.add_argument("--source", metavar="LABEL", help='e.g. "Naenara (En)"')
        group.add_argument("--since", metavar="DATE", help="published on or after (YYYY-MM-DD)")
        group.add_argument("--until", metavar="DATE", help="published on or before (YYYY-MM-DD)")
        group.add_argument(
            "--revisions", action="store_true", help="one row per stored version of each article"
        )
        group.add_argument(
            "--replace",
            action="store_true",
            help="replace the earlier export in --output as a whole (else a folder that holds "
            "files is refused)",
        )
        group.add_argument(
            "--format",
            default=",".join(DEFAULT_FORMATS),
            help=f"comma-separated subset of {','.join(FORMATS)} (default "
            f"{','.join(DEFAULT_FORMATS)}; sqlite: the whole archive for `scrapy browse`)",
        )
        group.add_argument(
            "--batch-size",
            default=str(DEFAULT_BATCH_SIZE),
            metavar="N",
            help=f"rows per fetch and per Parquet row group (default {DEFAULT_BATCH_SIZE})",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from newsarchive.export import ExportError, UnknownSource, export_archive
        from newsarchive.export_folder import FolderRefused

        if self.unexpected(args):
            return
        try:
            arguments = self._arguments(opts)
        except (_UsageFailure, ExportError) as exc:
            self.fail(str(exc), USAGE_ERROR)
            return
        url = self.database_url(opts)
        if url is None:
            return
        filters, formats, folder, batch_size = arguments
        try:
            result = export_archive(
                url,
                folder,
                filters=filters,
                formats=formats,
                batch_size=batch_size,
                escape_formulas=self.settings.getbool("NEWSARCHIVE_CSV_ESCAPE_FORMULAS"),
                replace=opts.replace,
            )
        except (UnknownSource, FolderRefused) as exc:  # usage problems: nothing written
            self.fail(str(exc), USAGE_ERROR)
            return
        except ExportError as exc:
            self.fail(str(exc), DATABASE_ERROR)
            return
        except OSError as exc:
            self.fail(f"cannot write the export to {folder}: {exc}", DATABASE_ERROR)
            return
        names = ", ".join(path.name for path in result.files)
        print(f"scrapy export: {result.rows} rows to {result.folder} ({names}); {result.manifest}")

    def _arguments(
        self, opts: argparse.Namespace
    ) -> tuple[ExportFilters, tuple[str, ...], Path, int]:
        from newsarchive.export import ExportFilters, parse_date, parse_formats
        from newsarchive.export_folder import FolderRefused, check_output_folder

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
        if opts.output:
            folder = Path(opts.output).expanduser()
        else:
            folder = data_dir(self.settings) / "exports" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        try:
            check_output_folder(folder, bool(opts.replace))
        except FolderRefused as exc:
            raise _UsageFailure(str(exc)) from None
        filters = ExportFilters(source, since, until, bool(opts.revisions))
        return filters, parse_formats(opts.format), folder, batch_size
