"""``scrapy crawl`` with one-line errors for bad arguments and an honest exit code.

Scrapy reports a bad spider argument as a traceback and exits 0 after a failed run; cron and
Scrapyd users need one line and a non-zero status instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader

from newsarchive.spiders.base import ConfigurationError

#: Close reasons that mean the run did what it was asked.
SUCCESS_REASONS = frozenset({"finished"})


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """Check the spider and its arguments before Scrapy starts (and logs) anything."""
        super().process_options(args, opts)
        if len(args) != 1:
            return  # run() raises the usage error
        try:
            spider_class = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            self._exit(f"no spider named {args[0]!r}; `scrapy list` shows them")
        check = getattr(spider_class, "check_arguments", None)
        try:
            if check is not None:
                check(opts.spargs)
        except ConfigurationError as exc:
            self._exit(str(exc))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        # A component that refused to start (e.g. the database) left its one-line reason.
        startup_error = (
            crawler.stats.get_value("newsarchive/startup_error") if crawler.stats else None
        )
        if startup_error:
            self._fail(str(startup_error), 1)
            return
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        if reason not in SUCCESS_REASONS or crawler.stats.get_value("newsarchive/run_failed"):
            self.exitcode = 1

    @staticmethod
    def _exit(message: str) -> NoReturn:
        print(f"scrapy crawl: error: {message}", file=sys.stderr)
        sys.exit(2)

    def _fail(self, message: str, code: int) -> None:
        print(f"scrapy crawl: error: {message}", file=sys.stderr)
        self.exitcode = code
