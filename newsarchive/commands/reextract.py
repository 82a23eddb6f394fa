"""``scrapy reextract``: today's extraction over stored captures, with no network.

Examples::

    scrapy reextract --run 20251227T091500Z-1a2b3c4d
    scrapy reextract --since 2025-12-01 --until 2025-12-31
    scrapy reextract                       # every capture under <data>/warc

Items go through the crawl's pipelines (feeds under ``data/feeds/reextract/<run_id>/`` and
PostgreSQL when ``NEWSARCHIVE_DATABASE_URL`` is set), each marked as a re-extraction so a
changed text becomes a ``reextract`` revision, never an ``edit``. Bad arguments: one line,
exit 2; a run that did not finish: exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import date
from typing import Any, NoReturn

from scrapy.commands import ScrapyCommand

from newsarchive import stats as names
from newsarchive.config import SettingError, validate
from newsarchive.reextract.job import start_job
from newsarchive.reextract.pool import start_workers, worker_count
from newsarchive.reextract.spider import ReextractSpider
from newsarchive.settings_helpers import data_dir


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _exit(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def _exit(message: str) -> NoReturn:
    print(f"scrapy reextract: error: {message}", file=sys.stderr)
    sys.exit(2)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = True

    def syntax(self) -> str:
        return "[--run RUN_ID | --since DATE --until DATE]"

    def short_desc(self) -> str:
        return "Re-run today's extraction over stored captures (no network)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group("reextract options")
        group.add_argument("--run", metavar="RUN_ID", help="one crawl run's captures")
        group.add_argument("--since", metavar="DATE", help="runs started on or after (UTC day)")
        group.add_argument("--until", metavar="DATE", help="runs started on or before (UTC day)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        try:
            validate(self.settings)
        except SettingError as exc:
            _exit(str(exc))
        opts.since_day = _day(opts.since, "--since")
        opts.until_day = _day(opts.until, "--until")
        if opts.run and (opts.since or opts.until):
            _exit("give --run or a date range, not both")
        # the run's spider is ReextractSpider itself: the crawl's spider modules (and the
        # download stack they import) are not loaded before the workers are forked
        self.settings.set("SPIDER_MODULES", [], priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            _exit(f"unexpected argument {args[0]!r}")
        assert self.crawler_process
        selection = (opts.run, opts.since_day, opts.until_day)
        count = worker_count(self.settings)
        # before the crawler: forked now, the workers cost no start-up, and they extract the
        # job's shares while the crawler starts (``reextract.pool``, ``reextract.job``)
        with start_workers(count) as workers:
            job = start_job(data_dir(self.settings), selection, workers, count)
            crawler = self.crawler_process.create_crawler(ReextractSpider)
            self.crawler_process.crawl(crawler, selection=selection, workers=workers, job=job)
            self.crawler_process.start()
        stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
        self.exitcode, error = exit_verdict(stats)
        if error:
            print(f"scrapy reextract: error: {error}", file=sys.stderr)


def exit_verdict(stats: Mapping[str, Any]) -> tuple[int, str | None]:
    """The command's exit status and its one error line, from the run's stats: 0 only when
    the selection named captures, every share of them was read to its end, the run
    finished, and neither the item schema nor the run monitor failed it."""
    reason = stats.get("finish_reason")
    if stats.get(names.REEXTRACT_NO_CAPTURES):
        return 1, "no captures for this selection"
    if reason != "finished":
        stopped = reason or "no reason recorded"
        return 1, f"the run stopped early ({stopped}); run it again to resume"
    if not stats.get(names.REEXTRACT_COMPLETE):
        return 1, "the run stopped before every capture was re-read; run it again to resume"
    if bad := stats.get(names.SCHEMA_ITEMS_WITH_ERRORS):
        return 1, f"{bad} items violate the item schema"
    if stats.get(names.RUN_FAILED):
        return 1, "the run monitor failed the run"
    return 0, None
