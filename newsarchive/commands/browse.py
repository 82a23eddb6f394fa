"""``scrapy browse``: explore an SQLite snapshot of the archive in a browser (Datasette).

Examples::

    scrapy export --format sqlite --output data/exports/snapshot
    scrapy browse --file data/exports/snapshot/archive.sqlite --port 8001

Without ``--file`` the newest ``archive.sqlite`` under ``<data>/exports/`` is served. Full-text
search with facets, article pages with revision timelines and word diffs, canned queries for
deletions and edits, an Atom feed of changes and a page of pictures (see docs/DATA.md).
A missing, corrupt or older snapshot, or a port in use: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from scrapy.commands import ScrapyCommand

from newsarchive.settings_helpers import data_dir
from newsarchive.snapshot import SNAPSHOT_NAME

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--file archive.sqlite] [--host HOST] [--port PORT]"

    def short_desc(self) -> str:
        return "Browse an SQLite snapshot of the archive (Datasette): search, diffs, deletions"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.error = self._usage_error  # type: ignore[method-assign]
        group = parser.add_argument_group("browse options")
        group.add_argument(
            "--file",
            metavar="PATH",
            help=f"the snapshot (default: newest <data>/exports/*/{SNAPSHOT_NAME})",
        )
        group.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
        group.add_argument("--port", default=str(DEFAULT_PORT), help=f"default {DEFAULT_PORT}")

    @staticmethod
    def _usage_error(message: str) -> NoReturn:
        print(f"scrapy browse: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from newsarchive.browse.app import BrowseError, serve

        if args:
            self._usage_error(f"unexpected argument(s): {' '.join(args)}")
        try:
            port = int(opts.port)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            self._usage_error(f"--port {opts.port!r} is not a port number (0-65535)")
        path = Path(opts.file).expanduser() if opts.file else self._newest_snapshot()
        try:
            serve(path, opts.host, port, ready=lambda line: print(line, flush=True))
        except BrowseError as exc:
            self._usage_error(str(exc))
        except KeyboardInterrupt:
            pass

    def _newest_snapshot(self) -> Path:
        assert self.settings is not None
        exports = data_dir(self.settings) / "exports"
        found = sorted(exports.glob(f"*/{SNAPSHOT_NAME}"), key=lambda p: p.stat().st_mtime)
        if not found:
            self._usage_error(
                f"no snapshot under {exports} (write one with `scrapy export --format sqlite`, "
                "or name one with --file)"
            )
        return found[-1]
