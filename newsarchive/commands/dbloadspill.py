"""``scrapy dbloadspill FILE…``: load spill files into the PostgreSQL archive.

A crawl that lost its database writes what it could not store to ``<data>/spill/``; this
replays those files through the same upserts as a crawl, so loading one twice (or loading it
after part of it did reach the database) changes nothing. A loaded file is renamed to
``*.jsonl.loaded`` unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import asyncio

from newsarchive.db.command import DatabaseCommand
from newsarchive.db.errors import ArchiveUnavailable
from newsarchive.settings_helpers import data_dir


class Command(DatabaseCommand):
    command_name = "dbloadspill"

    def syntax(self) -> str:
        return "[--keep] [--database-url URL] [FILE|FOLDER …]"

    def short_desc(self) -> str:
        return "Load spill files (default: all in <data>/spill) into the PostgreSQL archive"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--keep", action="store_true", help="do not rename loaded files")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # Imported here: Scrapy imports every command module on every `scrapy` run.
        from newsarchive.db import spill

        url = self.database_url(opts)
        if url is None:
            return
        assert self.settings is not None
        default = data_dir(self.settings) / "spill"
        if not args and not default.is_dir():
            print(f"no spill files to load ({default} does not exist)")
            return
        try:
            paths = spill.spill_files(args or [str(default)])
        except FileNotFoundError as exc:
            self.fail(str(exc))
            return
        if not paths:
            print("no spill files to load")
            return
        batch_size = self.settings.getint("NEWSARCHIVE_DB_BATCH_SIZE")
        try:
            report = asyncio.run(spill.load_files(url, paths, batch_size, keep=opts.keep))
        except (ArchiveUnavailable, ValueError) as exc:
            self.fail(str(exc))
            return
        result = report.result
        rejected = len(result.rejected)
        print(
            f"loaded {report.files} file(s): {report.articles} article item(s) "
            f"({result.articles_added} new articles, {result.revisions_added} new revisions), "
            f"{report.gone} gone item(s) ({result.gone_marked} marked gone), "
            f"{report.runs} run record(s); rejected {rejected}; "
            f"unreadable lines {report.unreadable_lines}"
        )
        for item, reason in result.rejected:
            print(f"rejected {item.get('article_id') or item.get('url')}: {reason}")
        if rejected or report.unreadable_lines:
            self.exitcode = 1
