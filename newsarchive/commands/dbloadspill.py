"""``scrapy dbloadspill FILE…``: load spill files into the PostgreSQL archive.

A crawl that lost its database writes what it could not store to ``<data>/spill/``; this
replays those files through the same upserts as a crawl, so loading one twice (or loading it
after part of it did reach the database) changes nothing. A loaded file is renamed to
``*.jsonl.loaded`` unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from newsarchive.db import spill
from newsarchive.db.command import DatabaseCommand
from newsarchive.db.store import CONNECTION_ERRORS, ArchiveStore, ArchiveUnavailable, one_line_error
from newsarchive.db.urls import describe_target
from newsarchive.settings_helpers import data_dir


class Command(DatabaseCommand):
    command_name = "dbloadspill"

    def syntax(self) -> str:
        return "[--keep] [--url URL] [FILE|FOLDER …]"

    def short_desc(self) -> str:
        return "Load spill files (default: all in <data>/spill) into the PostgreSQL archive"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--keep", action="store_true", help="do not rename loaded files")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        url = self.database_url(opts)
        if url is None:
            return
        default = data_dir(self.settings) / "spill"
        if not args and not default.is_dir():
            print(f"no spill files to load ({default} does not exist)")
            return
        try:
            paths = spill_files(args or [str(default)])
        except FileNotFoundError as exc:
            self._fail(str(exc))
            return
        if not paths:
            print("no spill files to load")
            return
        batch_size = self.settings.getint("NEWSARCHIVE_DB_BATCH_SIZE", 1000)
        try:
            report = asyncio.run(load(url, paths, batch_size, keep=opts.keep))
        except (ArchiveUnavailable, ValueError) as exc:
            self._fail(str(exc))
            return
        except CONNECTION_ERRORS as exc:
            self._fail(f"lost PostgreSQL at {describe_target(url)}: {one_line_error(exc, url)}")
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


def spill_files(arguments: list[str]) -> list[Path]:
    """Files named, and the ``*.jsonl`` files of folders named, in order."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            found.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such spill file or folder: {path}")
    return found


async def load(
    url: str, paths: list[Path], batch_size: int = 500, keep: bool = False
) -> spill.LoadReport:
    """Load every file; a file is renamed ``*.loaded`` once all of it is in the database."""
    report = spill.LoadReport()
    async with await ArchiveStore.open(url, max_size=1) as store:
        for path in paths:
            await spill.load_file(store, path, batch_size, report, rename_when_clean=not keep)
    return report
