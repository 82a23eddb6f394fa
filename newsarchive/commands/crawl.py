"""``scrapy crawl`` with one-line errors for bad arguments and an honest exit code.

Scrapy reports a bad spider argument or setting as a traceback (or not at all) and exits 0
after a failed run; cron and Scrapyd users need one line and a non-zero status instead. Scrapyd
runs this same command (its runner calls ``scrapy crawl`` with the job's ``-s``/``-a``), so
every check here holds for scheduled jobs too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any, NoReturn

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.spiderloader import get_spider_loader

from newsarchive import stats as names
from newsarchive.config import SettingError, validate
from newsarchive.monitor import spill_notice
from newsarchive.settings_helpers import data_dir, user_agent
from newsarchive.spiders.base import ConfigurationError

#: Close reasons that mean the run did what it was asked.
SUCCESS_REASONS = frozenset({"finished"})


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """Check the settings, the data folder, the spider and its arguments before Scrapy
        starts (and logs) anything."""
        super().process_options(args, opts)
        try:
            validate(self.settings)
        except SettingError as exc:
            self._exit(str(exc))
        self._check_data_dir()
        self._resolve_user_agent()
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
        stats = _stats_of(crawler)
        # A component that refused to start (e.g. the database) left its one-line reason.
        startup_error = stats.get(names.STARTUP_ERROR)
        if startup_error:
            self._fail(str(startup_error), 1)
            return
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        if stats.get("finish_reason") not in SUCCESS_REASONS or stats.get(names.RUN_FAILED):
            self.exitcode = 1
        spilled = int(stats.get(names.DB_SPILLED) or 0)
        if spilled:  # the last line a cron mail or a Scrapyd log shows
            self._fail(spill_notice(spilled, stats.get(names.DB_SPILL_FILE)), 1)

    def _resolve_user_agent(self) -> None:
        """``-s NEWSARCHIVE_CONTACT_URL=…`` (or a Scrapyd job's ``-d setting=…``) names the
        contact in the user agent, as the environment variable does; ``-s USER_AGENT`` wins."""
        settings = self.settings
        if settings.getpriority("USER_AGENT") < SETTINGS_PRIORITIES["cmdline"]:
            agent = user_agent(
                settings.get("NEWSARCHIVE_USER_AGENT"), settings.get("NEWSARCHIVE_CONTACT_URL")
            )
            settings.set("USER_AGENT", agent, priority=settings.getpriority("USER_AGENT"))

    def _check_data_dir(self) -> None:
        """The data folder must take files now, not after the whole stream was crawled."""
        folder = data_dir(self.settings)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self._exit(f"data folder {folder} (NEWSARCHIVE_DATA_DIR) is not writable: {reason}")

    @staticmethod
    def _exit(message: str) -> NoReturn:
        print(f"scrapy crawl: error: {message}", file=sys.stderr)
        sys.exit(2)

    def _fail(self, message: str, code: int) -> None:
        print(f"scrapy crawl: error: {message}", file=sys.stderr)
        self.exitcode = code


def _stats_of(crawler: Crawler) -> dict[str, Any]:
    """The crawler's stats, or none when it never got as far as creating them."""
    try:
        return crawler.stats.get_stats()
    except RuntimeError:  # Scrapy 2.19 raises on a crawler attribute that was never set
        return {}
